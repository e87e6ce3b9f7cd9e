"""The resources Graph can send change notifications for, and what a desired subscription is.

docs/graph-notes.md, "Change notifications": of the resources this app exports, only the legacy security alert
(`security/alerts` with a filter or an id) ever supported subscriptions, and that API is retired; alerts_v2,
incidents and Identity Protection do not support them. So no security resource can be subscribed to today. Directory
objects (users, groups) can. A notification is therefore a hint that triggers an export of the streams a subscription
maps to; the timers stay the guarantee. A resource Graph adds later is one row here, or one `lifetimeMinutes` in the
WEBHOOK_SUBSCRIPTIONS entry.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

CHANGE_TYPES = ("created", "updated", "deleted")
MIN_LIFETIME_MINUTES = 180


@dataclass(frozen=True)
class Subscribable:
    prefix: str  # the resource path, or its collection, relative to /v1.0
    max_lifetime_minutes: int
    change_types: tuple[str, ...] = CHANGE_TYPES
    needs_filter_or_id: bool = False  # Graph refuses the bare collection ("too wide")
    retired: str = ""  # why a subscription on it is kept possible but warned about


SUBSCRIBABLE: tuple[Subscribable, ...] = (
    # Kept for tenants where the retired API still answers; settings warn when one is configured.
    Subscribable("security/alerts", 43_200, needs_filter_or_id=True,
                 retired="is on the legacy /security/alerts API, which Microsoft retired in 2026 (the docs give "
                         "31 August or 15 October): it may stop answering or notifying at any time, and no other "
                         "security resource supports subscriptions; the export timers keep the data complete."),
    Subscribable("users", 41_760, ("updated", "deleted")),
    Subscribable("groups", 41_760, ("updated", "deleted")),
)


def subscribable_for(resource: str) -> Subscribable | None:
    path = resource.strip().lstrip("/").split("?", 1)[0].lower()
    for row in SUBSCRIBABLE:
        if path == row.prefix or path.startswith(row.prefix + "/"):
            return row
    return None


@dataclass(frozen=True)
class DesiredSubscription:
    """One entry of WEBHOOK_SUBSCRIPTIONS, checked and normalised (see shared.settings)."""

    resource: str
    change_type: str
    streams: tuple[str, ...]
    lifetime_minutes: int

    def key(self, tenant: str) -> str:
        """Stable name of this subscription for one tenant, independent of Graph's subscription id."""
        text = f"{tenant}|{self.resource}|{self.change_type}"
        return hashlib.sha256(text.encode()).hexdigest()[:20]


def parse_desired(item: dict[str, object]) -> DesiredSubscription:
    """Check one WEBHOOK_SUBSCRIPTIONS entry. Raises ValueError with a message for the setting's error."""
    unknown = sorted(set(item) - {"resource", "changeType", "streams", "lifetimeMinutes"})
    if unknown:
        raise ValueError(f"unknown field(s) {', '.join(unknown)}; allowed: resource, changeType, streams, "
                         "lifetimeMinutes")
    resource = item.get("resource")
    if not isinstance(resource, str) or not resource.strip():
        raise ValueError('every subscription needs a "resource" string, e.g. "security/alerts?$filter=..."')
    resource = resource.strip().lstrip("/")
    row = subscribable_for(resource)
    lifetime = item.get("lifetimeMinutes")
    if lifetime is not None and (not isinstance(lifetime, int) or isinstance(lifetime, bool)
                                 or lifetime < MIN_LIFETIME_MINUTES):
        raise ValueError(f"{resource}: lifetimeMinutes must be a whole number of minutes, at least "
                         f"{MIN_LIFETIME_MINUTES} (the upkeep runs hourly and renews at half the lifetime)")
    if row is None and lifetime is None:
        known = ", ".join(r.prefix for r in SUBSCRIBABLE)
        raise ValueError(f"{resource}: Graph sends change notifications for {known} among the resources this app "
                         "knows (alerts_v2, incidents and Identity Protection have none); for another resource "
                         'give its maximum lifetime as "lifetimeMinutes"')
    if row is not None and row.needs_filter_or_id and "?" not in resource and "/" not in resource[len(row.prefix):]:
        raise ValueError(f"{resource}: Graph refuses the whole collection; add a $filter or an id")
    change_type = item.get("changeType", "updated")
    if not isinstance(change_type, str):
        raise ValueError(f'{resource}: "changeType" must be a string such as "created,updated"')
    parts = [part.strip() for part in change_type.split(",") if part.strip()]
    allowed = row.change_types if row is not None else CHANGE_TYPES
    if not parts or any(part not in allowed for part in parts):
        raise ValueError(f"{resource}: changeType {change_type!r} must be a comma list of {', '.join(allowed)}")
    streams = item.get("streams")
    if not isinstance(streams, list) or not streams or not all(isinstance(s, str) for s in streams):
        raise ValueError(f'{resource}: "streams" must be a non-empty list of the stream names it triggers')
    if row is None:
        assert lifetime is not None  # checked above: a resource without a row needs lifetimeMinutes
        minutes = int(lifetime)
    else:  # a shorter lifetime may be asked for, never a longer one: Graph would refuse the subscription
        minutes = min(int(lifetime), row.max_lifetime_minutes) if lifetime is not None else row.max_lifetime_minutes
    return DesiredSubscription(
        resource=resource,
        change_type=",".join(dict.fromkeys(parts)),
        streams=tuple(dict.fromkeys(streams)),
        lifetime_minutes=minutes,
    )
