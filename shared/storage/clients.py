"""Blob and queue clients for the app's own data account: a connection string locally (Azurite), the managed
identity in Azure (`BRIDGE_STORAGE__blobServiceUri`), like the Functions host's identity-based connections."""

from __future__ import annotations

from enum import StrEnum
from typing import TYPE_CHECKING, Any

from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from shared.settings import Settings

STORAGE_CONNECTION_TIMEOUT, STORAGE_READ_TIMEOUT = 20, 60  # the storage SDK's defaults (its _shared/constants.py)

_clients: ProcessCache[tuple[str, str, str, Patience], BlobServiceClient] = ProcessCache("blob service clients")
_ensured_containers: ProcessCache[tuple[str, str], bool] = ProcessCache("containers known to exist")


class Patience(StrEnum):
    """How long a storage call may keep trying, chosen by who is waiting for it."""

    # Timers and queue triggers: nobody waits, so the SDK's own retries (15 s, 18 s, 24 s apart) ride out an outage.
    BACKGROUND = "background"
    # An HTTP caller waiting for its answer (the actions; a Logic App gives up after 120 s): three attempts, about
    # 2.5 s and 4.5 s apart, 2 s to connect and 5 s to answer each, so an outage costs the caller about 7 s (measured
    # against a stopped Azurite), not the 90 s of the defaults.
    INTERACTIVE = "interactive"
    # Graph's 3 s for a webhook delivery: one attempt that gives up within about two seconds; the caller answers 5xx
    # and Graph delivers again later.
    QUICK = "quick"


def _client_options(patience: Patience) -> dict[str, Any]:
    from azure.storage.blob import ExponentialRetry

    if patience is Patience.INTERACTIVE:
        # The SDK annotates both as int; it computes with them as numbers, and the half seconds are the point.
        backoff: Any = 0.5
        jitter: Any = 0.25
        return {"retry_policy": ExponentialRetry(initial_backoff=backoff, increment_base=2, retry_total=2,
                                                 random_jitter_range=jitter),
                "connection_timeout": 2, "read_timeout": 5}
    if patience is Patience.QUICK:
        return {"retry_total": 0, "connection_timeout": 1, "read_timeout": 1}
    return {}


def _transport(options: dict[str, Any]) -> Any:
    """azure-core's requests transport on the app's session (shared/http_session.py: the environment read once per
    host, not on every call), with the storage SDK's timeouts unless the patience sets its own."""
    from shared.http_session import azure_core_transport

    return azure_core_transport(32, connection_timeout=options.get("connection_timeout", STORAGE_CONNECTION_TIMEOUT),
                                read_timeout=options.get("read_timeout", STORAGE_READ_TIMEOUT))


def blob_service(settings: Settings, *, patience: Patience = Patience.BACKGROUND) -> BlobServiceClient:
    """The process-wide BlobServiceClient for the data account and this patience (connection pool reused across
    invocations)."""
    from azure.storage.blob import BlobServiceClient

    def create() -> BlobServiceClient:
        options = _client_options(patience)
        options["transport"] = _transport(options)
        if settings.storage_connection_string:
            return BlobServiceClient.from_connection_string(settings.storage_connection_string, **options)
        from azure.identity import ManagedIdentityCredential

        credential = ManagedIdentityCredential(client_id=settings.storage_client_id or None)
        return BlobServiceClient(account_url=settings.blob_service_uri, credential=credential, **options)

    key = (settings.storage_connection_string, settings.blob_service_uri, settings.storage_client_id, patience)
    return _clients.get_or_create(key, create)


def ensure_container(container: ContainerClient) -> None:
    """Create the container once per process if it is missing. In Azure the Bicep creates the containers and the
    app's role is scoped to them, so a 403 on create is expected and harmless there."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    key = (container.url, container.container_name)
    if key in _ensured_containers:
        return
    try:
        container.create_container()
    except ResourceExistsError:
        pass
    except HttpResponseError as exc:
        if exc.status_code != 403:
            raise
    _ensured_containers.put(key, True)
