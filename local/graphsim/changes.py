"""From a data change to queued notifications (docs/graph-notes.md).

One data change (an ``add_alerts`` call, an ``update_alerts`` call, a ``sim.notify``) is fanned out to every matching
subscription of its tenant. Notifications for the same ``notificationUrl`` are batched into POSTs of at most
``notification_batch_size`` items, as Graph batches several subscriptions' notifications into one POST.
Subscriptions that wait for reauthorization get nothing: the notifications are dropped and counted (the reference:
changes during a pause are lost).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from .config import SimConfig
from .notifier import LIFECYCLE, NOTIFICATION, Notifier
from .subscriptions import ALERTS, CHANGE_TYPES, GROUPS, LIFECYCLE_EVENTS, USERS, Subscription, SubscriptionStore


@dataclass(frozen=True)
class Change:
    """One changed item."""

    kind: str  # ALERTS | USERS | GROUPS
    item_id: str
    alert: dict[str, Any] | None = None  # the v2 alert, to evaluate legacy $filter subscriptions


def parse_changed_resource(resource: str) -> tuple[str, str]:
    """``users/{id}``, ``groups/{id}`` or ``security/alerts/{id}`` -> (kind, id); ValueError otherwise."""
    segments = [s for s in resource.strip().split("/") if s]
    lower = [s.lower() for s in segments]
    if len(lower) == 2 and lower[0] in (USERS, GROUPS):
        return lower[0], segments[1]
    if len(lower) == 3 and lower[:2] == ["security", "alerts"]:
        return ALERTS, segments[2]
    raise ValueError(f"cannot notify {resource!r}: use 'users/<id>', 'groups/<id>' or 'security/alerts/<id>'")


def _resource_data(change: Change, tenant: str) -> tuple[str, dict[str, Any]]:
    """The notification's ``resource`` and ``resourceData`` as Graph writes them for this kind of item."""
    if change.kind == ALERTS:
        path = f"security/alerts/{change.item_id}"
        return path, {"@odata.type": "#Microsoft.Graph.alert", "@odata.id": path, "id": change.item_id}
    noun = "User" if change.kind == USERS else "Group"
    path = f"{noun}s/{change.item_id}"
    data = {
        "@odata.type": f"#Microsoft.Graph.{noun}",
        "@odata.id": path,
        "id": change.item_id,
        "organizationId": tenant,
    }
    return path, data


class ChangePublisher:
    def __init__(self, store: SubscriptionStore, notifier: Notifier, config: SimConfig):
        self.store = store
        self.notifier = notifier
        self.config = config

    def wants(self, tenant: str, kind: str, change_type: str) -> bool:
        """Whether any subscription could care, so callers can skip loading items when none does."""
        return any(s.target.kind == kind and change_type in s.change_types for s in self.store.select(tenant))

    def publish(self, tenant: str, changes: list[Change], change_type: str) -> int:
        """Queue the notifications for ``changes``; returns how many were queued (dropped ones not included)."""
        if change_type not in CHANGE_TYPES:
            raise ValueError(f"change_type must be one of {CHANGE_TYPES}, not {change_type!r}")
        by_url: dict[str, list[tuple[str, dict[str, Any]]]] = {}
        with self.store.lock:
            for sub in self.store.select(tenant):
                if change_type not in sub.change_types:
                    continue
                matched = [c for c in changes if sub.target.matches(c.kind, c.item_id, c.alert)]
                if not matched:
                    continue
                if sub.needs_reauthorization:
                    self.store.count_dropped(sub.id, len(matched))
                    continue
                items = by_url.setdefault(sub.notification_url, [])
                items.extend((sub.id, self._item(sub, c, change_type)) for c in matched)
        size = max(1, self.config.notification_batch_size)
        queued = 0
        for url, items in by_url.items():
            for start in range(0, len(items), size):
                chunk = items[start : start + size]
                ids = tuple(dict.fromkeys(sub_id for sub_id, _ in chunk))
                self.notifier.enqueue(NOTIFICATION, url, {"value": [item for _, item in chunk]}, ids)
                queued += len(chunk)
        return queued

    @staticmethod
    def _item(sub: Subscription, change: Change, change_type: str) -> dict[str, Any]:
        resource, data = _resource_data(change, sub.tenant)
        return {
            "id": str(uuid.uuid4()),
            "subscriptionId": sub.id,
            "subscriptionExpirationDateTime": sub.expiration,
            "clientState": sub.client_state,
            "changeType": change_type,
            "resource": resource,
            "tenantId": sub.tenant,
            "resourceData": data,
        }

    def lifecycle(self, subscription_id: str, event: str) -> None:
        """Queue a lifecycle notification (reference 6.6). KeyError: unknown id; ValueError: bad event or no URL."""
        if event not in LIFECYCLE_EVENTS:
            raise ValueError(f"event must be one of {LIFECYCLE_EVENTS}, not {event!r}")
        with self.store.lock:
            sub = self.store.get(subscription_id)
            if sub is None:
                raise KeyError(f"unknown subscription {subscription_id!r}")
            if sub.lifecycle_url is None:
                raise ValueError(f"subscription {subscription_id} has no lifecycleNotificationUrl")
            if event == "reauthorizationRequired":
                sub.needs_reauthorization = True
            item = {
                "subscriptionId": sub.id,
                "subscriptionExpirationDateTime": sub.expiration,
                "tenantId": sub.tenant,
                "clientState": sub.client_state,
                "lifecycleEvent": event,
            }
            if event == "subscriptionRemoved":
                self.store.remove(sub.id)  # the notification below is already built: it still goes out
            self.notifier.enqueue(LIFECYCLE, sub.lifecycle_url, {"value": [item]}, (sub.id,))
