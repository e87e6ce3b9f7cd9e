"""Fan-out of the export over the Functions platform: timers enqueue work items, a queue trigger runs them.

One work item is one tenant and one API family (security, or Identity Protection), never a single stream and never
all of a tenant. Graph's budgets are per tenant and family (150 requests a minute for /security, one request a second
for Identity Protection), and the client paces itself per (tenant, family) inside one process. One item per tenant
and family means one invocation on one instance owns a budget at a time, so the per-process pacer is the whole
truth about that budget and instances never compete for it; items of different tenants or families run side by
side on as many instances as the platform gives.

A tenant whose last item is still queued or running when the next timer fires is skipped for that tick (and
reported), not queued twice: the timer claims a marker blob per (tenant, family) with a create-only write, the
worker deletes it when the item is settled. A marker older than MARKER_TTL belongs to an item that was lost (the
output binding failed after the claim, or the worker died past its retries); the next tick takes it over. Even a
second item for the same pair would be harmless: the per-(tenant, stream) lease and the checkpoints keep the
export exactly-once; the marker only keeps budgets and queues tidy.

Work items name a tenant, a family and streams: nothing secret, tokens are got by the worker.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.export.streams import EXPORT_FAMILIES, STREAMS
from shared.graph.families import RateFamily
from shared.settings import GUID_RE
from shared.storage.json_blob import BlobConflict, CorruptBlob, JsonBlob, as_object

if TYPE_CHECKING:
    from azure.storage.blob import BlobClient, ContainerClient

    from shared.export.engine import ExportEngine, RunSummary
    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.fanout")

WORK_ITEM_VERSION = 1
MARKER_PREFIX = "fanout"
# Longer than one item can legitimately stay unsettled: functionTimeout (10 min) times the queue's attempts would be
# 50 min, but a retry only follows a failed attempt, and the export's time budget (270 s) ends an attempt early.
MARKER_TTL = timedelta(minutes=30)
MIN_STREAM_SECONDS = 5.0  # less time than this left in an item: the stream waits for the next item
CLAIM_THREADS = 16  # marker writes per timer run in parallel: 1,000 tenants x 10 ms each would be 10 s in a row


class BadWorkItem(ValueError):
    """A queue message that is not a work item: retrying cannot help."""


@dataclass(frozen=True)
class WorkItem:
    tenant: str
    family: RateFamily
    streams: tuple[str, ...]
    tick: str  # the timer run that queued it; also the marker's owner tag

    def to_message(self) -> str:
        return json.dumps({"v": WORK_ITEM_VERSION, "tenant": self.tenant, "family": self.family.value,
                           "streams": list(self.streams), "tick": self.tick}, separators=(",", ":"))

    @classmethod
    def from_message(cls, text: str) -> WorkItem:
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise BadWorkItem(f"not JSON: {exc}") from None
        if not isinstance(data, dict) or data.get("v") != WORK_ITEM_VERSION:
            raise BadWorkItem(f"not a version {WORK_ITEM_VERSION} work item")
        tenant, family, streams, tick = (data.get(k) for k in ("tenant", "family", "streams", "tick"))
        if not isinstance(tenant, str) or not GUID_RE.fullmatch(tenant):
            raise BadWorkItem(f"tenant {tenant!r} is not a GUID")
        try:
            rate_family = RateFamily(str(family))
            if rate_family not in EXPORT_FAMILIES:
                raise ValueError(family)
        except ValueError:
            raise BadWorkItem(f"family {family!r} is not one of {[f.value for f in EXPORT_FAMILIES]}") from None
        if (not isinstance(streams, list) or not streams
                or any(s not in STREAMS or STREAMS[s].family is not rate_family for s in streams)):
            raise BadWorkItem(f"streams {streams!r} are not streams of the {rate_family.value} family")
        if not isinstance(tick, str) or not tick:
            raise BadWorkItem("the tick is missing")
        return cls(tenant.lower(), rate_family, tuple(streams), tick)


def family_streams(settings: Settings, family: RateFamily) -> tuple[str, ...]:
    """The enabled streams of one family, in the stream table's order."""
    return tuple(name for name in STREAMS if STREAMS[name].family is family and name in settings.export_streams)


def marker_name(family: RateFamily | str, tenant: str) -> str:
    return f"{MARKER_PREFIX}/{RateFamily(family).value}/{tenant}"


# --- the timer side


@dataclass
class Tick:
    """What one timer run did for one family."""

    family: str
    tick: str
    queued: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)  # tenant -> since when its last item is unsettled
    failed: dict[str, str] = field(default_factory=dict)  # tenant -> why its marker could not be claimed
    messages: list[str] = field(default_factory=list)

    def log_line(self) -> str:
        return "fanout tick " + json.dumps({"family": self.family, "tick": self.tick, "queued": len(self.queued),
                                            "skipped": self.skipped, "failed": self.failed},
                                           separators=(",", ":"))


class MarkerBoard:
    """The create-only markers of unsettled work items, in the state container."""

    def __init__(self, state: ContainerClient, *, now: Callable[[], datetime] = lambda: datetime.now(UTC),
                 ttl: timedelta = MARKER_TTL) -> None:
        self._state = state
        self._now = now
        self._ttl = ttl

    def _marker(self, family: RateFamily, tenant: str) -> tuple[BlobClient, JsonBlob[dict[str, Any]]]:
        blob = self._state.get_blob_client(marker_name(family, tenant))
        return blob, JsonBlob(blob, as_object, as_object)

    def claim(self, family: RateFamily, tenant: str, tick: str) -> str | None:
        """Claim the marker for a new item; None when claimed, else since when the unsettled item has held it."""
        from azure.core.exceptions import ResourceNotFoundError

        blob, marker = self._marker(family, tenant)
        body = {"tick": tick, "queuedAt": _stamp(self._now())}
        try:
            marker.save(body, None)
            return None
        except BlobConflict:
            pass
        try:
            props = blob.get_blob_properties()
        except ResourceNotFoundError:
            return self.claim(family, tenant, tick)  # settled between the two calls
        since = props.last_modified
        if since is not None and self._now() - since < self._ttl:
            return _stamp(since)
        # A lost item: take the marker over, unless another timer run did so first.
        try:
            marker.save(body, props.etag)
        except BlobConflict:
            return _stamp(self._now())
        log.warning("Work item marker %s was older than %s; its item is taken to be lost and queued again",
                    marker.name, self._ttl)
        return None

    def settle(self, item: WorkItem) -> None:
        """Delete the item's marker if it is still this item's (a newer tick may have taken a stale one over)."""
        blob, marker = self._marker(item.family, item.tenant)
        try:
            found = marker.load()
        except CorruptBlob:
            blob.delete_blob()  # unreadable: nobody can own it
            return
        if found is None or found.value.get("tick") != item.tick:
            return
        try:
            marker.delete(found.etag)
        except BlobConflict:
            pass  # taken over by a newer tick since we read it


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def plan_tick(settings: Settings, family: RateFamily, board: MarkerBoard, *, tick: str) -> Tick:
    """Claim a marker and make a work item for every tenant whose previous item of this family is settled."""
    result = Tick(family=family.value, tick=tick)
    streams = family_streams(settings, family)
    if not streams:
        return result

    def claim(tenant: str) -> tuple[str, str | None, str | None]:
        try:
            return tenant, board.claim(family, tenant, tick), None
        except Exception as exc:  # one tenant's storage failure must not keep the others from being queued
            return tenant, None, f"{type(exc).__name__}: {exc}"

    with ThreadPoolExecutor(max_workers=min(CLAIM_THREADS, max(1, len(settings.tenant_ids)))) as pool:
        for tenant, busy_since, error in pool.map(claim, settings.tenant_ids):
            if error is not None:
                result.failed[tenant] = error
            elif busy_since is not None:
                result.skipped[tenant] = busy_since
            else:
                result.queued.append(tenant)
                result.messages.append(WorkItem(tenant, family, streams, tick).to_message())
    return result


# --- the worker side


@dataclass
class ItemResult:
    item: WorkItem
    summaries: list[RunSummary]

    @property
    def failed(self) -> list[RunSummary]:
        return [s for s in self.summaries if s.status == "failed"]

    def describe_failures(self) -> str:
        return "; ".join(f"{s.stream}/{s.tenant}: {s.error}" for s in self.failed)


def run_item(settings: Settings, item: WorkItem, engine: ExportEngine,
             clock: Callable[[], float] = time.monotonic) -> ItemResult:
    """Run the item's streams one after the other (they share one Graph budget): a failing stream does not stop
    the rest. The streams share one time budget too (EXPORT_TIME_BUDGET_SECONDS, under functionTimeout): a stream
    that gets no time is left to the tenant's next item, and one cut short resumes there from its saved page.
    Streams disabled since the item was queued are left out."""
    deadline = clock() + settings.time_budget_seconds
    summaries = []
    for stream in item.streams:
        remaining = deadline - clock()
        if stream not in settings.export_streams:
            continue
        if remaining < MIN_STREAM_SECONDS:
            log.info("No time left in this work item for %s/%s; the next item runs it", stream, item.tenant)
            continue
        summaries.append(engine.run(stream, item.tenant, time_budget_seconds=remaining))
    return ItemResult(item, summaries)


def tick_id(now: datetime) -> str:
    return now.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")
