"""The app's Graph subscriptions, as one JSON blob in STATE_CONTAINER (`webhooks/subscriptions.json`).

One record per desired subscription and tenant, keyed by DesiredSubscription.key(): Graph's subscription id, the
expiry, and the clientState Graph echoes in every notification (a secret: never logged, never answered by the status
endpoint). The blob is written with ETag optimistic concurrency: the upkeep timer and the lifecycle handling can run
at the same time on different instances, and neither may undo the other's change. A blob that cannot be read is an
error (CorruptBlob) wherever it is read, never an empty state: writing one over it would forget subscriptions that
Graph still delivers for.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shared.storage.json_blob import BlobConflict, JsonBlob, as_object

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.settings import Settings

STATE_BLOB = "webhooks/subscriptions.json"
MAX_WRITE_ATTEMPTS = 8


@dataclass
class SubscriptionRecord:
    key: str
    tenant: str
    resource: str
    change_type: str
    streams: list[str]
    client_state: str = field(repr=False)
    subscription_id: str | None = None  # None while Graph is creating it (the handshake runs meanwhile)
    expires_at: str | None = None
    created_at: str | None = None
    renewed_at: str | None = None
    last_error: str | None = None
    endpoint_hash: str | None = None  # of the notification URLs (key included): a rotated key means recreate
    # A create in flight: its clientState is trusted next to the current one (Graph's first notification can
    # overtake its answer), and the current subscription keeps working until the new one replaces it.
    pending_client_state: str | None = field(default=None, repr=False)
    pending_since: str | None = None
    renew_due: bool = False  # a reauthorization failed: the next upkeep renews whatever the expiry

    def public(self) -> dict[str, Any]:
        """What the status endpoint shows: everything but the clientState."""
        return {
            "tenant": self.tenant, "resource": self.resource, "changeType": self.change_type,
            "streams": self.streams, "subscriptionId": self.subscription_id, "expirationDateTime": self.expires_at,
            "createdDateTime": self.created_at, "renewedDateTime": self.renewed_at, "lastError": self.last_error,
        }


class SubscriptionState:
    """The records, by key."""

    def __init__(self, records: dict[str, SubscriptionRecord] | None = None) -> None:
        self.records: dict[str, SubscriptionRecord] = records or {}

    @classmethod
    def from_json(cls, document: Any) -> SubscriptionState:
        subscriptions = as_object(as_object(document).get("subscriptions", {}))
        return cls({key: SubscriptionRecord(**as_object(value)) for key, value in subscriptions.items()})

    def to_json(self) -> dict[str, Any]:
        return {"version": 1, "subscriptions": {k: asdict(v) for k, v in self.records.items()}}

    def by_subscription_id(self) -> dict[str, SubscriptionRecord]:
        return {r.subscription_id: r for r in self.records.values() if r.subscription_id}


class StateConflict(BlobConflict):
    """The state blob changed MAX_WRITE_ATTEMPTS times while we tried to update it."""


class SubscriptionStore:
    def __init__(self, container: ContainerClient) -> None:
        self._document = JsonBlob(container.get_blob_client(STATE_BLOB), SubscriptionState.from_json,
                                  SubscriptionState.to_json)
        self._container = container

    @classmethod
    def for_settings(cls, settings: Settings, *, quick: bool = False) -> SubscriptionStore:
        """The store in STATE_CONTAINER; `quick` for the webhook's timed path (see shared.storage.clients)."""
        from shared.storage.clients import Patience, blob_service

        return cls(blob_service(settings, patience=Patience.QUICK if quick else Patience.BACKGROUND)
                   .get_container_client(settings.state_container))

    def load(self) -> tuple[SubscriptionState, str | None]:
        return self._document.load_or(SubscriptionState)

    def update(self, change: Callable[[SubscriptionState], None]) -> SubscriptionState:
        """Apply `change` to the latest state and write it if nobody wrote in between; otherwise reload and apply
        it again. `change` must therefore be a pure function of the state it is given."""
        from shared.storage.clients import ensure_container

        ensure_container(self._container)
        try:
            return self._document.update(change, SubscriptionState, attempts=MAX_WRITE_ATTEMPTS).value
        except BlobConflict as exc:
            raise StateConflict(f"{STATE_BLOB} kept changing; gave up after {MAX_WRITE_ATTEMPTS} attempts") from exc
