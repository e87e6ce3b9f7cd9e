"""The queue processor: turns accepted notifications into exports, and lifecycle events into subscription care.

A change notification is a hint (Graph has none for alerts_v2, incidents or Identity Protection, and the ones it
has can be late, duplicated or dropped): the processor runs the incremental export of the streams the subscription
maps to, and the timers keep guaranteeing completeness.

Coalescing: an export that *started* after a notification arrived has seen the change (Graph's late indexing is
what the export's overlap covers). So each stream keeps the start time of its last successful notification-driven
run (`webhooks/runs/<tenant>/<stream>.json` in STATE_CONTAINER), and a message received before that time is done
already. In one process, messages for the same stream wait for each other instead of racing for the export lease:
a burst of a hundred notifications is one export, not a hundred.

Retries use the queue: an exception makes the Functions host retry the message (host.json visibilityTimeout) and,
after maxDequeueCount attempts, move it to `<queue>-poison`. The reason is logged at every attempt. A message that
only waited for another run (lease held, time budget) is not poison: on its last attempt it is left to the timer.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.graph.versions import from_datetime
from shared.redact import redact_url_secrets
from shared.tenants import WORKER_MAX_AGE, current_tenants

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.export.engine import ExportEngine
    from shared.settings import Settings
    from shared.webhooks.upkeep import SubscriptionManager

log = logging.getLogger("graph_security_bridge.webhooks")

RUNS_PREFIX = "webhooks/runs"
# host.json functionTimeout is 10 minutes; one message (up to a few streams, each waiting for a sibling and then
# exporting) stays well inside it so that the worker is never recycled under other invocations.
MESSAGE_BUDGET_SECONDS = 480.0
LOCK_WAIT_SECONDS = 120.0
DEFAULT_MAX_DEQUEUE_COUNT = 5  # host.json extensions.queues.maxDequeueCount


class PoisonMessage(Exception):
    """The message can never be processed (not ours, or malformed)."""


class RetryLater(Exception):
    """The work could not be done now (another run holds the lease, a stream failed): try the message again."""


@dataclass
class ProcessResult:
    kind: str
    exported: list[str] = field(default_factory=list)  # streams exported by this message
    coalesced: list[str] = field(default_factory=list)  # streams an export after the notification already covered
    left_to_timer: list[str] = field(default_factory=list)
    subscription: str | None = None  # what was done to the subscription (lifecycle)


def _now() -> str:
    return from_datetime(datetime.now(UTC))  # sortable as text: receivedAt and startedAt are compared


class RunLog:
    """Per tenant and stream: when the last notification-driven export started (`startedAt`, successful ones) and
    when the last one was attempted at all (`attemptedAt`, failures included)."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def _blob(self, tenant: str, stream: str) -> Any:
        return self._container.get_blob_client(f"{RUNS_PREFIX}/{tenant}/{stream}.json")

    def read(self, tenant: str, stream: str) -> dict[str, str]:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return dict(json.loads(self._blob(tenant, stream).download_blob().readall()))
        except ResourceNotFoundError:
            return {}

    def record(self, tenant: str, stream: str, started_at: str, *, succeeded: bool) -> None:
        # Only forward: a slower run that started earlier must not hide a later one. Two writers racing here at
        # worst cause one extra export.
        entry = self.read(tenant, stream)
        entry["attemptedAt"] = max(entry.get("attemptedAt", ""), started_at)
        if succeeded:
            entry["startedAt"] = max(entry.get("startedAt", ""), started_at)
        self._blob(tenant, stream).upload_blob(json.dumps(entry), overwrite=True)


_stream_locks: dict[tuple[str, str], threading.Lock] = {}
_stream_locks_guard = threading.Lock()


def _stream_lock(tenant: str, stream: str) -> threading.Lock:
    with _stream_locks_guard:
        return _stream_locks.setdefault((tenant, stream), threading.Lock())


class NotificationProcessor:
    def __init__(
        self,
        settings: Settings,
        *,
        engine: ExportEngine | None = None,
        manager_factory: Callable[[], SubscriptionManager] | None = None,
        max_dequeue_count: int = DEFAULT_MAX_DEQUEUE_COUNT,
    ) -> None:
        from shared.export.engine import ExportEngine
        from shared.storage.clients import blob_service, ensure_container

        self.settings = settings
        self.engine = engine or ExportEngine(settings)
        state = blob_service(settings).get_container_client(settings.state_container)
        ensure_container(state)
        self.runs = RunLog(state)
        self._manager_factory = manager_factory
        self.max_dequeue_count = max_dequeue_count

    def _manager(self) -> SubscriptionManager:
        if self._manager_factory is not None:
            return self._manager_factory()
        from shared.webhooks.upkeep import SubscriptionManager

        return SubscriptionManager(self.settings)

    def process(self, body: str, dequeue_count: int = 1) -> ProcessResult:
        message = self._parse(body)
        last_attempt = dequeue_count >= self.max_dequeue_count
        if message["kind"] == "lifecycle":
            return self._lifecycle(message, last_attempt)
        result = ProcessResult(kind="change")
        self._export(message["tenant"], message["streams"], message["receivedAt"], result, last_attempt)
        log.info("notification processed %s", json.dumps({
            "tenant": message["tenant"], "notifications": message.get("count"), "exported": result.exported,
            "coalesced": result.coalesced, "leftToTimer": result.left_to_timer, "dequeueCount": dequeue_count}))
        return result

    # --- parts

    def _parse(self, body: str) -> dict[str, Any]:
        try:
            message = json.loads(body)
        except json.JSONDecodeError as exc:
            raise PoisonMessage(f"not JSON: {exc}") from None
        if not isinstance(message, dict) or message.get("kind") not in ("change", "lifecycle"):
            raise PoisonMessage('not a notification message (expected "kind": "change" or "lifecycle")')
        tenant, streams, received = message.get("tenant"), message.get("streams"), message.get("receivedAt")
        listed = current_tenants(self.settings, max_age=WORKER_MAX_AGE)
        if not isinstance(tenant, str) or listed.get(tenant) is None:
            raise PoisonMessage(f"tenant {str(tenant)[:64]!r} is not in {listed.source}")
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise PoisonMessage('"streams" must be a list of stream names')
        if not isinstance(received, str):
            raise PoisonMessage('"receivedAt" is missing')
        return message

    def _export(self, tenant: str, streams: list[str], received_at: str, result: ProcessResult,
                last_attempt: bool) -> None:
        deadline = time.monotonic() + MESSAGE_BUDGET_SECONDS
        failures: list[str] = []
        waiting: list[str] = []
        for stream in streams:
            if stream not in self.settings.export_streams:
                log.info("Notification for stream %s, which is not in EXPORT_STREAMS: ignored", stream)
                continue
            lock = _stream_lock(tenant, stream)
            # Wait a little for a run of this stream in this process (it may cover us), never past the budget.
            if not lock.acquire(timeout=max(0.0, min(LOCK_WAIT_SECONDS, deadline - time.monotonic() - 60))):
                waiting.append(f"{stream}: busy in this process")
                continue
            try:
                runs = self.runs.read(tenant, stream)
                if runs.get("startedAt", "") >= received_at:
                    result.coalesced.append(stream)
                    continue
                if runs.get("attemptedAt", "") >= received_at:
                    # Another message's export started after this notification and failed: repeating it now
                    # would only multiply the load on a failing Graph. The timer retries on its schedule.
                    result.left_to_timer.append(stream)
                    continue
                remaining = deadline - time.monotonic() - 30
                if remaining < 30:
                    waiting.append(f"{stream}: no time left in this invocation")
                    continue
                budget = min(float(self.settings.time_budget_seconds), remaining)
                started = _now()
                summary = self.engine.run(stream, tenant, time_budget_seconds=budget)
                if summary.status == "ok":
                    self.runs.record(tenant, stream, started, succeeded=True)
                    result.exported.append(stream)
                elif summary.status in ("skipped", "partial"):
                    waiting.append(f"{stream}: {summary.status} ({summary.error or 'time budget'})")
                else:
                    self.runs.record(tenant, stream, started, succeeded=False)
                    failures.append(f"{stream}: {summary.error}")
            finally:
                lock.release()
        not_done = failures + waiting
        if not not_done:
            return
        if last_attempt:
            # Not poison: the message was fine, the export was not possible now. The timer guarantees completeness.
            result.left_to_timer.extend(item.split(":", 1)[0] for item in not_done)
            log.warning("Left to the export timer after the last attempt: %s", "; ".join(not_done))
            return
        raise RetryLater(("export failed: " if failures else "export did not complete yet: ") + "; ".join(not_done))

    def _lifecycle(self, message: dict[str, Any], last_attempt: bool) -> ProcessResult:
        event, key = message.get("event"), message.get("key")
        result = ProcessResult(kind="lifecycle")
        if not isinstance(key, str):
            raise PoisonMessage('lifecycle message without "key"')
        manager = self._manager()
        if key not in manager.desired():
            log.info("Lifecycle event %s for a subscription no longer desired: ignored", event)
            result.subscription = "ignored"
            return result
        state, _ = manager.store.load()
        record = state.records.get(key)
        current = record.subscription_id if record else None
        try:
            if event == "reauthorizationRequired":
                if current and current != message.get("subscriptionId"):
                    result.subscription = "ignored (already replaced)"
                else:
                    result.subscription = "renewed" if manager.renew(key) else "recreated"
            elif event == "subscriptionRemoved":
                if current and current != message.get("subscriptionId"):
                    result.subscription = "ignored (already replaced)"
                else:
                    manager.recreate(key)
                    result.subscription = "recreated"
            elif event == "missed":
                result.subscription = "unchanged"
            else:
                raise PoisonMessage(f"unknown lifecycle event {str(event)[:64]!r}")
        except PoisonMessage:
            raise
        except Exception as exc:
            # The upkeep renews a flagged record at its next run whatever its expiry, so a failed reauthorization
            # does not leave Graph's delivery paused until the half-lifetime renewal.
            self._flag_for_renewal(manager, key)
            raise RetryLater(f"{event}: {redact_url_secrets(str(exc))}") from None
        if event in ("subscriptionRemoved", "missed"):
            # Notifications were (or may have been) lost: catch up now rather than at the next timer.
            self._export(message["tenant"], message["streams"], message["receivedAt"], result, last_attempt)
        log.info("lifecycle processed %s", json.dumps({"event": event, "subscription": result.subscription,
                                                       "exported": result.exported}))
        return result

    @staticmethod
    def _flag_for_renewal(manager: SubscriptionManager, key: str) -> None:
        def flag(state: Any) -> None:
            if key in state.records:
                state.records[key].renew_due = True

        try:
            manager.store.update(flag)
        except Exception:
            log.exception("Could not flag subscription %s for renewal", key)
