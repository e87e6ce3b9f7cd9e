"""Polling triggers for Logic Apps ("When alerts are created or updated", "When incidents are created or updated"),
read from the app's own export rather than from Graph.

Why the export: every version of an alert or incident is written to exactly one export blob, and blobs are numbered
by the checkpoint (`seq`) in the order they are written. A trigger's position is therefore just "the next blob
number" (and how far into that blob), so any number of playbooks can poll without one Graph call, and each version
reaches a trigger exactly once. Only blobs the checkpoint has recorded (`seq` below the checkpoint's) are read: a
blob at the checkpoint's own number may be the leftover of a crashed run that the next run deletes and writes again.

The Logic Apps polling protocol (custom connector, `x-ms-trigger: batch`):
- the first call carries no state: the answer is 202 with a `Location` that holds the current position ("from now
  on") and `Retry-After`;
- a call with nothing new answers 202 with a `Location` (the position may have moved past filtered-out versions);
- a call with new versions answers 200 with `{"value": [...]}` and a `Location` that holds the position after them
  (`Retry-After: 1` when more are waiting, so the backlog drains quickly).
The position travels in the `triggerState` query parameter of `Location`: opaque and signed (shared.actions.tokens),
so it survives restarts of the app and cannot be edited.

Blob names carry the hour folder of the run that wrote them (`<stream>/tenant=<t>/date=YYYY-MM-DD/hour=HH/...`), and
a later blob is never in an earlier folder. The position keeps the day folder of the next blob, so that a poll lists
only the day folders from there to the checkpoint's current one.
"""

from __future__ import annotations

import gzip
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.actions import filters
from shared.actions.errors import storage_problem
from shared.actions.tokens import open_sealed, seal, signing_key
from shared.actions.validation import shown
from shared.problems import Problem

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.actions.service import Answer, Context
    from shared.export.checkpoints import Checkpoint

log = logging.getLogger("graph_security_bridge.triggers")

STATE_PARAMETER = "triggerState"
STATE_VERSION = 1
# Seconds Logic Apps is asked to wait before the next poll when nothing more is waiting. The export runs every
# 5 minutes by default (EXPORT_SCHEDULE), so polling more often than once a minute finds nothing new.
POLL_SECONDS = 60
MAX_ITEMS = 100  # versions per answer: each starts one run when Split On is on
MAX_BLOBS_READ = 25  # per tenant and poll, to keep each answer within a few seconds
MAX_DAYS_LISTED = 31  # day folders listed per tenant and poll (an idle stream leaves empty days behind)

_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
_SEQ = re.compile(r"-(\d{12})\.ndjson\.gz")


@dataclass(frozen=True)
class TriggerSpec:
    stream: str
    what: str  # for messages
    filters: tuple[filters.EnumFilter, ...]


ALERTS = TriggerSpec("alerts", "alerts",
                     (filters.SEVERITY, filters.ALERT_STATUS, filters.CLASSIFICATION, filters.SERVICE_SOURCE))
INCIDENTS = TriggerSpec("incidents", "incidents",
                        (filters.SEVERITY, filters.INCIDENT_STATUS, filters.CLASSIFICATION))


@dataclass
class Position:
    """Where a trigger stands in one tenant's export: the next blob number, the records of that blob already
    passed, and the day folder to start listing from."""

    seq: int
    offset: int
    day: str

    def to_json(self) -> list[Any]:
        return [self.seq, self.offset, self.day]

    @classmethod
    def from_json(cls, value: object) -> Position | None:
        if (isinstance(value, list) and len(value) == 3 and all(type(n) is int and n >= 0 for n in value[:2])
                and isinstance(value[2], str) and _DAY.fullmatch(value[2])):
            try:
                date.fromisoformat(value[2])
            except ValueError:
                return None
            return cls(value[0], value[1], value[2])
        return None


def _day_of(partition: str) -> str:
    """The day of an hour folder `date=YYYY-MM-DD/hour=HH`."""
    return partition[len("date="):len("date=") + 10]


def _start(checkpoint: Checkpoint) -> Position:
    """The position "from now on": the next blob the export will record."""
    day = _day_of(checkpoint.partition) if checkpoint.partition else datetime.now(UTC).date().isoformat()
    return Position(checkpoint.seq, 0, day)


@dataclass
class Batch:
    items: list[dict[str, Any]]
    position: Position
    more: bool


class ExportReader:
    """Reads one tenant's recorded export blobs of a stream from a position."""

    def __init__(self, exports: ContainerClient, stream: str, tenant: str) -> None:
        self._exports = exports
        self._stream = stream
        self._tenant = tenant

    def _blobs_of_day(self, day: str, low: int, high: int) -> list[tuple[int, str]]:
        prefix = f"{self._stream}/tenant={self._tenant}/date={day}/"
        found = []
        for props in self._exports.list_blobs(name_starts_with=prefix):
            match = _SEQ.search(props.name)
            if match and low <= int(match.group(1)) < high:
                found.append((int(match.group(1)), props.name))
        return sorted(found)

    def _records(self, name: str) -> list[dict[str, Any]]:
        raw = gzip.decompress(self._exports.get_blob_client(name).download_blob().readall())
        return [json.loads(line) for line in raw.splitlines() if line]

    def read(self, position: Position, checkpoint: Checkpoint, keep: Any, limit: int) -> Batch:
        """The versions after `position` that `keep` accepts, at most `limit`, and the position after them."""
        recorded = checkpoint.seq
        if checkpoint.partition is None or position.seq >= recorded:
            return Batch([], position, False)
        last_day = _day_of(checkpoint.partition)
        seq, offset, day = position.seq, position.offset, position.day
        items: list[dict[str, Any]] = []
        blobs_read = 0
        for _ in range(MAX_DAYS_LISTED):
            for blob_seq, name in self._blobs_of_day(day, seq, recorded):
                if blobs_read >= MAX_BLOBS_READ:
                    return Batch(items, Position(seq, offset, day), True)
                if blob_seq != seq:  # removed by a retention policy, or never recorded: nothing to read there
                    log.warning("Export blob %d of %s/%s is missing; the trigger continues at %d",
                                seq, self._stream, self._tenant, blob_seq)
                    seq, offset = blob_seq, 0
                records = self._records(name)
                blobs_read += 1
                while offset < len(records):
                    record = records[offset]
                    offset += 1
                    if keep(record):
                        items.append(record)
                        if len(items) >= limit:
                            if offset >= len(records):
                                seq, offset = blob_seq + 1, 0
                            return Batch(items, Position(seq, offset, day), seq < recorded)
                seq, offset = blob_seq + 1, 0
            if seq >= recorded or day >= last_day:
                break
            # Every recorded blob of this day has been read, and later blobs are written in later folders only.
            day = (date.fromisoformat(day) + timedelta(days=1)).isoformat()
        return Batch(items, Position(seq, offset, day), seq < recorded)


def _location(url: str, params: dict[str, str], state: str) -> str:
    """The URL of the next poll: this one with the new state (other parameters, `code` included, kept)."""
    parts = urlsplit(url)
    query = {name: value for name, value in params.items() if name != STATE_PARAMETER}
    query[STATE_PARAMETER] = state
    return urlunsplit((parts.scheme, parts.netloc, parts.path, urlencode(query), ""))


def _tenants(ctx: Context) -> tuple[str, ...]:
    if ctx.call.params.get("tenant"):
        return (ctx.tenant,)
    return ctx.tenants.ids


def _load_state(key: bytes, ctx: Context, spec: TriggerSpec) -> dict[str, Position] | None:
    raw = ctx.call.params.get(STATE_PARAMETER)
    if raw is None or raw == "":
        return None
    data = open_sealed(key, f"trigger:{spec.stream}", raw, what="trigger state", parameter=STATE_PARAMETER)
    positions = data.get("p")
    if data.get("v") != STATE_VERSION or not isinstance(positions, dict):
        raise Problem(400, "Invalid trigger state", f"The {STATE_PARAMETER} parameter is of an older form; save the "
                      "workflow again to restart the trigger.")
    loaded: dict[str, Position] = {}
    for tenant, value in positions.items():
        position = Position.from_json(value)
        if position is None:
            raise Problem(400, "Invalid trigger state", f"The {STATE_PARAMETER} parameter is damaged.")
        loaded[tenant] = position
    return loaded


def poll(ctx: Context, spec: TriggerSpec) -> Answer:
    if spec.stream not in ctx.settings.export_streams:
        raise Problem(400, "Stream not exported",
                      f"This trigger reads the export of {spec.what}, which this app does not run: add {spec.stream} "
                      f"to EXPORT_STREAMS (now {shown(','.join(ctx.settings.export_streams))}).")
    wanted = {f.name: filters.enum_values(ctx.call.params, f) for f in spec.filters}
    tenants = _tenants(ctx)
    with storage_problem(f"the {spec.what} trigger"):
        return _poll(ctx, spec, wanted, tenants)


def _poll(ctx: Context, spec: TriggerSpec, wanted: dict[str, tuple[str, ...]], tenants: tuple[str, ...]) -> Answer:
    from shared.actions.service import Answer
    from shared.export.checkpoints import CheckpointStore
    from shared.storage.clients import Patience, blob_service

    key = signing_key(ctx.settings)
    state = _load_state(key, ctx, spec)

    service = blob_service(ctx.settings, patience=Patience.INTERACTIVE)
    checkpoints = CheckpointStore(service.get_container_client(ctx.settings.state_container), "checkpoints")
    exports = service.get_container_client(ctx.settings.export_container)

    def keep(record: dict[str, Any]) -> bool:
        return all(filters.matches(record, name, values) for name, values in wanted.items())

    positions: dict[str, Position] = {}
    items: list[dict[str, Any]] = []
    more = False
    for tenant in tenants:
        checkpoint, _ = checkpoints.load(spec.stream, tenant)
        position = state.get(tenant) if state is not None else None
        if position is None:  # first poll, or a tenant added since: from now on
            positions[tenant] = _start(checkpoint)
            continue
        room = MAX_ITEMS - len(items)
        if room <= 0:
            positions[tenant] = position
            more = True
            continue
        batch = ExportReader(exports, spec.stream, tenant).read(position, checkpoint, keep, room)
        items += batch.items
        positions[tenant] = batch.position
        more = more or batch.more

    token = seal(key, f"trigger:{spec.stream}", {"v": STATE_VERSION, "p": {t: p.to_json() for t, p in
                                                                         positions.items()}})
    headers = {"Location": _location(ctx.call.url, dict(ctx.call.params), token),
               "Retry-After": str(1 if more else POLL_SECONDS)}
    if not items:
        return Answer(202, None, headers)
    return Answer(200, {"value": items}, headers)
