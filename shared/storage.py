"""Blob and queue clients for the app's own data account: a connection string locally (Azurite), the managed
identity in Azure (`BRIDGE_STORAGE__blobServiceUri`), like the Functions host's identity-based connections."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from shared.settings import Settings

_lock = threading.Lock()
_clients: dict[tuple[str, str, str, bool], BlobServiceClient] = {}


# For reads on a path someone is timing (Graph wants the webhook's answer within 3 s): one attempt that gives up
# within about two seconds, where the storage SDK's default retries wait 15 s and more; the caller answers 5xx and
# its own caller (Graph) delivers again later.
QUICK_CLIENT_OPTIONS = {"retry_total": 0, "connection_timeout": 1, "read_timeout": 1}


def blob_service(settings: Settings, *, quick: bool = False) -> BlobServiceClient:
    """The process-wide BlobServiceClient for the data account (connection pool reused across invocations).
    `quick`: a client that gives up fast (QUICK_CLIENT_OPTIONS)."""
    from azure.storage.blob import BlobServiceClient

    options = QUICK_CLIENT_OPTIONS if quick else {}
    key = (settings.storage_connection_string, settings.blob_service_uri, settings.storage_client_id, quick)
    with _lock:
        client = _clients.get(key)
        if client is None:
            if settings.storage_connection_string:
                client = BlobServiceClient.from_connection_string(settings.storage_connection_string, **options)
            else:
                from azure.identity import ManagedIdentityCredential

                credential = ManagedIdentityCredential(client_id=settings.storage_client_id or None)
                client = BlobServiceClient(account_url=settings.blob_service_uri, credential=credential, **options)
            _clients[key] = client
        return client


def forget_clients() -> None:
    """Drop cached clients (tests that restart Azurite on new ports)."""
    with _lock:
        _clients.clear()
