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
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.redact import redact_url_secrets

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.export_engine import ExportEngine
    from shared.settings import Settings
    from shared.webhooks.upkeep import SubscriptionManager

log = logging.getLogger("graph_security_bridge.webhooks")

RUNS_PREFIX = "webhooks/runs"
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
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class RunLog:
    """Start time of the last successful notification-driven export, per tenant and stream."""

    def __init__(self, container: ContainerClient) -> None:
        self._container = container

    def _blob(self, tenant: str, stream: str) -> Any:
        return self._container.get_blob_client(f"{RUNS_PREFIX}/{tenant}/{stream}.json")

    def last_start(self, tenant: str, stream: str) -> str:
        from azure.core.exceptions import ResourceNotFoundError

        try:
            return str(json.loads(self._blob(tenant, stream).download_blob().readall()).get("startedAt") or "")
        except ResourceNotFoundError:
            return ""

    def record(self, tenant: str, stream: str, started_at: str) -> None:
        # Only forward: a slower run that started earlier must not hide a later one. Two writers racing here at
        # worst cause one extra export.
        if started_at > self.last_start(tenant, stream):
            self._blob(tenant, stream).upload_blob(json.dumps({"startedAt": started_at}), overwrite=True)


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
        from shared.export_engine import ExportEngine, ensure_container
        from shared.storage import blob_service

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
        if tenant not in self.settings.tenant_ids:
            raise PoisonMessage(f"tenant {str(tenant)[:64]!r} is not in GRAPH_TENANT_IDS")
        if not isinstance(streams, list) or not all(isinstance(s, str) for s in streams):
            raise PoisonMessage('"streams" must be a list of stream names')
        if not isinstance(received, str):
            raise PoisonMessage('"receivedAt" is missing')
        return message

    def _export(self, tenant: str, streams: list[str], received_at: str, result: ProcessResult,
                last_attempt: bool) -> None:
        failures: list[str] = []
        waiting: list[str] = []
        for stream in streams:
            if stream not in self.settings.export_streams:
                log.info("Notification for stream %s, which is not in EXPORT_STREAMS: ignored", stream)
                continue
            with _stream_lock(tenant, stream):
                if self.runs.last_start(tenant, stream) >= received_at:
                    result.coalesced.append(stream)
                    continue
                started = _now()
                summary = self.engine.run(stream, tenant)
                if summary.status == "ok":
                    self.runs.record(tenant, stream, started)
                    result.exported.append(stream)
                elif summary.status in ("skipped", "partial"):
                    waiting.append(f"{stream}: {summary.status} ({summary.error or 'time budget'})")
                else:
                    failures.append(f"{stream}: {summary.error}")
        if failures:
            raise RetryLater("export failed: " + "; ".join(failures))
        if waiting:
            if last_attempt:
                result.left_to_timer.extend(w.split(":", 1)[0] for w in waiting)
                log.info("Left to the export timer after the last attempt: %s", "; ".join(waiting))
            else:
                raise RetryLater("export did not complete yet: " + "; ".join(waiting))

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
            raise RetryLater(f"{event}: {redact_url_secrets(str(exc))}") from exc
        if event in ("subscriptionRemoved", "missed"):
            # Notifications were (or may have been) lost: catch up now rather than at the next timer.
            self._export(message["tenant"], message["streams"], message["receivedAt"], result, last_attempt)
        log.info("lifecycle processed %s", json.dumps({"event": event, "subscription": result.subscription,
                                                       "exported": result.exported}))
        return result
