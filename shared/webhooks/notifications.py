"""The webhook's checks: what Graph posted, which items to trust, and the queue messages they become.

This is the hot path Graph times (2xx within 3 s, or it retries and eventually marks the endpoint slow and drops
notifications, docs/graph-notes.md), so it does no Graph call and imports nothing heavy: the subscription
records come from a cache that reads Blob Storage only when it is stale or meets an unknown subscription.
"""

from __future__ import annotations

import hmac
import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shared.graph.versions import from_datetime
from shared.problems import Problem
from shared.webhooks.state import SubscriptionRecord, SubscriptionState

log = logging.getLogger("graph_security_bridge.webhooks")

# Graph batches notifications into one POST; a megabyte is thousands of them. Anything larger is not Graph.
MAX_BODY_BYTES = 1_000_000
MAX_RESOURCES_PER_MESSAGE = 20  # kept in a message for the logs; the export does not need them
# The handshake echoes Graph's validationToken; anything longer than this is not Graph's (and is refused, not echoed).
MAX_VALIDATION_TOKEN_CHARS = 4096
LIFECYCLE_EVENTS = ("reauthorizationRequired", "subscriptionRemoved", "missed")


def check_validation_token(token: str) -> str:
    """The token to echo in the validation handshake. Raises Problem 400 for one longer than any of Graph's."""
    if len(token) > MAX_VALIDATION_TOKEN_CHARS:
        raise Problem(400, "Invalid validation token",
                      f"A validationToken holds at most {MAX_VALIDATION_TOKEN_CHARS:,} characters.")
    return token


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a JSON value")


def parse_collection(body: bytes) -> list[Any]:
    """The `value` list of a changeNotificationCollection. Raises Problem 413 or 400."""
    if len(body) > MAX_BODY_BYTES:
        raise Problem(413, "Payload too large", f"A notification body holds at most {MAX_BODY_BYTES:,} bytes.")
    try:
        document = json.loads(body, parse_constant=_refuse_constant)
    except RecursionError:
        raise Problem(400, "Malformed notification", "The body nests deeper than any notification.") from None
    except ValueError as exc:  # not JSON, not UTF-8, or NaN/Infinity (which JSON does not have)
        raise Problem(400, "Malformed notification", f"The body is not JSON: {exc}.") from None
    if not isinstance(document, dict) or not isinstance(document.get("value"), list):
        raise Problem(400, "Malformed notification", 'Expected a JSON object with a "value" list of notifications.')
    value: list[Any] = document["value"]
    return value


class SubscriptionDirectory:
    """Subscription records by Graph subscription id, cached in the process.

    Reloaded when older than `ttl`, and when a notification names a subscription the cache does not know and the
    cache was loaded before that notification arrived: a subscription created a moment ago (by this instance or
    another) is then found, while concurrent unknown ids share one reload instead of causing one each.

    Storage is never read under the lock. A notification for a known subscription is answered from the cache at
    once, even while a reload is under way or storage is slow (an expired cache is then refreshed in the background),
    so that an unknown id - which any key holder or a stale Graph subscription can send - cannot make valid
    notifications miss Graph's 3 s.
    """

    def __init__(
        self,
        load: Callable[[], SubscriptionState],
        *,
        ttl: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._load = load
        self._ttl = ttl
        self.clock = clock
        self._changed = threading.Condition()
        self._loading = False  # a reload is under way (at most one at a time)
        self._load_started: float | None = None
        self._by_id: dict[str, SubscriptionRecord] = {}
        self._pending: list[SubscriptionRecord] = []  # records with a create in flight
        self.loads = 0

    def lookup(self, subscription_id: str, tenant: str, arrived: float) -> list[tuple[SubscriptionRecord, str]]:
        """(record, clientState to expect) for `subscription_id`, or, if Graph has not told us its id yet (a
        notification can overtake the answer to our create call), for the creates of `tenant` in flight.
        `arrived` is the clock() value when the notification was received."""
        with self._changed:
            while True:
                loaded = self._load_started
                if loaded is not None and (subscription_id in self._by_id or loaded >= arrived):
                    if self.clock() - loaded > self._ttl and not self._loading:
                        self._loading = True
                        threading.Thread(target=self._reload_in_background, name="subscription-directory",
                                         daemon=True).start()
                    return self._answer(subscription_id, tenant)
                if not self._loading:
                    self._loading = True
                    break
                self._changed.wait()  # another caller is reloading; it may have started before we arrived
        self._reload()  # without the lock: lookups of known subscriptions go on meanwhile
        with self._changed:
            return self._answer(subscription_id, tenant)

    def _answer(self, subscription_id: str, tenant: str) -> list[tuple[SubscriptionRecord, str]]:
        record = self._by_id.get(subscription_id)
        if record is not None:
            return [(record, record.client_state)]
        return [(r, r.pending_client_state or "") for r in self._pending if r.tenant == tenant]

    def _reload(self) -> None:
        """Read the records (the caller set _loading) and publish them; always clears _loading."""
        started = self.clock()
        try:
            state = self._load()
        except BaseException:
            with self._changed:
                self._loading = False
                self._changed.notify_all()
            raise
        with self._changed:
            self._by_id = state.by_subscription_id()
            self._pending = [r for r in state.records.values() if r.pending_client_state]
            self._load_started = started
            self.loads += 1
            self._loading = False
            self._changed.notify_all()

    def _reload_in_background(self) -> None:
        try:
            self._reload()
        except Exception as exc:  # the cache stays as it was; the next expired lookup tries again
            log.warning("Could not refresh the subscription records: %s", exc)


def _same_secret(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode(), expected.encode())


@dataclass
class Screened:
    messages: list[str] = field(default_factory=list)
    accepted: int = 0
    dropped: dict[str, int] = field(default_factory=dict)  # reason -> count

    def drop(self, reason: str) -> None:
        self.dropped[reason] = self.dropped.get(reason, 0) + 1


def _now() -> str:
    return from_datetime(datetime.now(UTC))  # sortable as text: receivedAt and startedAt are compared


def _trusted_record(item: Any, directory: SubscriptionDirectory, screened: Screened,
                    arrived: float) -> SubscriptionRecord | None:
    """The record an item belongs to, if its clientState proves it comes from Graph for our subscription."""
    if not isinstance(item, dict):
        screened.drop("not an object")
        return None
    subscription_id, tenant, client_state = (item.get(k) for k in ("subscriptionId", "tenantId", "clientState"))
    if not isinstance(subscription_id, str) or not isinstance(tenant, str) or not isinstance(client_state, str):
        screened.drop("missing subscriptionId, tenantId or clientState")
        return None
    # Every candidate is compared, so the time taken does not say which one (if any) matched.
    candidates = directory.lookup(subscription_id, tenant, arrived)
    matches = [record for record, secret in candidates if secret and _same_secret(client_state, secret)]
    if not matches or matches[0].tenant.lower() != tenant.lower():
        screened.drop("unknown subscription or wrong clientState")
        # %r: the ids are the sender's text, and a newline in them must not start a forged log line.
        log.warning("Dropped a notification for subscription %r (tenant %r): unknown subscription or wrong "
                    "clientState", subscription_id[:64], tenant[:64])
        return None
    return matches[0]


def screen_changes(items: list[Any], directory: SubscriptionDirectory) -> Screened:
    """Trusted change notifications, grouped into one queue message per tenant and set of streams: a burst of
    notifications in one POST is one export request, and duplicates collapse."""
    screened = Screened()
    groups: dict[tuple[str, tuple[str, ...]], dict[str, Any]] = {}
    received, arrived = _now(), directory.clock()
    for item in items:
        record = _trusted_record(item, directory, screened, arrived)
        if record is None:
            continue
        if "lifecycleEvent" in item:
            screened.drop("lifecycle event sent to the notification URL")
            continue
        screened.accepted += 1
        group = groups.setdefault((record.tenant, tuple(record.streams)), {
            "kind": "change", "tenant": record.tenant, "streams": list(record.streams), "receivedAt": received,
            "subscriptionIds": [], "resources": [], "count": 0,
        })
        group["count"] += 1
        if record.subscription_id and record.subscription_id not in group["subscriptionIds"]:
            group["subscriptionIds"].append(record.subscription_id)
        resource = item.get("resource")
        resources = group["resources"]
        if isinstance(resource, str) and len(resources) < MAX_RESOURCES_PER_MESSAGE and resource[:256] not in resources:
            resources.append(resource[:256])
    screened.messages = [json.dumps(g, separators=(",", ":")) for g in groups.values()]
    return screened


def screen_lifecycle(items: list[Any], directory: SubscriptionDirectory) -> Screened:
    """Trusted lifecycle notifications, one queue message per subscription and event."""
    screened = Screened()
    seen: set[tuple[str, str]] = set()
    received, arrived = _now(), directory.clock()
    for item in items:
        record = _trusted_record(item, directory, screened, arrived)
        if record is None:
            continue
        event = item.get("lifecycleEvent")
        if event not in LIFECYCLE_EVENTS:
            screened.drop("unknown lifecycleEvent")
            log.warning("Dropped a lifecycle notification with an unknown event %r", str(event)[:64])
            continue
        screened.accepted += 1
        if (record.key, event) in seen:
            continue
        seen.add((record.key, event))
        screened.messages.append(json.dumps({
            "kind": "lifecycle", "event": event, "tenant": record.tenant, "key": record.key,
            "subscriptionId": item.get("subscriptionId"), "streams": list(record.streams), "receivedAt": received,
        }, separators=(",", ":")))
    return screened
