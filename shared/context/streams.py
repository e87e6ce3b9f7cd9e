"""The context streams (userContext, deviceContext, servicePrincipalContext): the context of every user, device and
service principal that the exported alerts, incidents and risk records name, one record per entity version.

How a context stream learns which entities to look up: from the export itself. Its checkpoint keeps, per source
stream (alerts, incidents, riskyUsers, ...), the sequence number of the next source blob it has not read. A run reads
the source blobs from there up to the source checkpoint's own `seq` (blobs below it are recorded by the source
stream; the one at it may be an interrupted run's, which the source adopts or seals, and then it is read), collects
the entity keys they name, looks the entities up, writes the changed ones, and only then saves the new positions.
Blobs are never deleted or replaced, so a crash anywhere loses nothing: the next run reads the same blobs again.
And the alert export does not wait for any of this, nor can a context failure reach it: the context streams run
on their own, after it, with their own lease, checkpoint and rate budget.

What an entity version is: a hash of the record's content (`contextVersion`; the observation time left out). The
checkpoint keeps the last version written for each entity, and a record is written only when its version differs,
so an unchanged user is not written again however often alerts name it. Lookups are cached per process with a TTL
per kind (users and service principals 24 h, devices 6 h): an entity named again within its TTL is not asked for
again, and a change shows up at the latest one TTL after it, when an alert names the entity again.

Exactly once: the same fence as the Graph streams (docs/exactly-once.md): create-only blob names from the
checkpoint, a checkpoint saved after the data and conditional on its ETag, and a run that takes over from an
interrupted one adopts or seals the next name (an adopted record counts as written: its version becomes the
entity's last one).
"""

from __future__ import annotations

import logging
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from shared.context.enrichment import NOT_FOUND, ContextCache, entity_keys
from shared.context.entities import KINDS, Kind, content_version, lookups_of, outcome_of
from shared.context.lookups import LookupStats, run_lookups
from shared.export.sink import read_records
from shared.process_cache import register

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.export.checkpoints import Checkpoint, CheckpointStore
    from shared.graph.client import GraphClient

log = logging.getLogger("graph_security_bridge.context")

# The source streams each kind of context reads, in the order they are read: riskyUsers first, so that a user named
# by an alert in the same run already has its risk.
SOURCES: dict[str, tuple[str, ...]] = {
    "user": ("riskyUsers", "alerts", "incidents", "riskDetections"),
    "device": ("alerts", "incidents"),
    "servicePrincipal": ("riskyServicePrincipals", "servicePrincipalRiskDetections", "alerts", "incidents"),
}
STEP_ENTITIES = 500  # entities looked up, written and checkpointed together
MAX_PENDING = 5000  # entities kept for the next run after a passing failure; beyond, the oldest are dropped


def _text(value: Any) -> str:
    return value.lower() if isinstance(value, str) else ""


def _alert_entities(alert: dict[str, Any]) -> dict[str, list[str]]:
    users, devices = entity_keys(alert)
    apps = [_text(ev.get("appId")) for ev in alert.get("evidence") or ()
            if isinstance(ev, dict) and str(ev.get("@odata.type", "")).endswith("oauthApplicationEvidence")]
    return {"user": users, "device": devices, "servicePrincipal": [a for a in apps if a]}


def referenced(source: str, record: dict[str, Any]) -> dict[str, list[str]]:
    """The entity keys, by kind, that one exported record names."""
    if source == "alerts":
        return _alert_entities(record)
    if source == "incidents":  # with EXPORT_INCIDENTS_EXPAND_ALERTS, an incident holds its alerts and their evidence
        found: dict[str, list[str]] = {"user": [], "device": [], "servicePrincipal": []}
        for alert in record.get("alerts") or ():
            if isinstance(alert, dict):
                for kind, keys in _alert_entities(alert).items():
                    found[kind].extend(keys)
        return found
    if source == "riskDetections":
        return {"user": [k for k in (_text(record.get("userId")),) if k]}
    if source == "riskyUsers":
        return {"user": [k for k in (_text(record.get("id")),) if k]}
    if source in ("riskyServicePrincipals", "servicePrincipalRiskDetections"):
        return {"servicePrincipal": [k for k in (_text(record.get("appId")),) if k]}
    return {}


@dataclass
class ContextState:
    """What a context stream keeps in its checkpoint (`Checkpoint.context`)."""

    latest: dict[str, str] = field(default_factory=dict)  # entity key -> the contextVersion last written
    positions: dict[str, list[Any]] = field(default_factory=dict)  # source -> [next seq to read, its hour folder]
    pending: list[str] = field(default_factory=list)  # entities to look up again (a passing failure)
    risk: dict[str, list[str]] = field(default_factory=dict)  # user id -> [riskLevel, riskState] (from riskyUsers)

    @classmethod
    def of(cls, checkpoint: Checkpoint) -> ContextState:
        data = checkpoint.context or {}
        return cls(latest=dict(data.get("latest") or {}), positions=dict(data.get("positions") or {}),
                   pending=list(data.get("pending") or []), risk=dict(data.get("risk") or {}))

    def store(self, checkpoint: Checkpoint) -> None:
        checkpoint.context = {"latest": self.latest, "positions": self.positions, "pending": self.pending,
                              "risk": self.risk}


def adopt(checkpoint: Checkpoint, id_field: str, records: list[dict[str, Any]]) -> None:
    """An interrupted run's blob, adopted: its records are the last versions written of their entities."""
    state = ContextState.of(checkpoint)
    for record in records:
        state.latest[_text(record.get(id_field))] = str(record.get("contextVersion", ""))
    state.store(checkpoint)


@dataclass(frozen=True)
class SourceBlob:
    seq: int
    partition: str
    name: str


def source_blobs(exports: ContainerClient, source: str, tenant: str, start: int, partition: str | None,
                 end: int) -> list[SourceBlob]:
    """The live blobs of a source stream with start <= seq < end, in order. Only the date folders from the one of
    `partition` on are listed: the names' hour folders never go back (shared/export/sink.py)."""
    root = f"{source}/tenant={tenant}/"
    floor = partition.split("/")[0] if partition else ""
    found: list[SourceBlob] = []
    for folder in exports.walk_blobs(name_starts_with=root, delimiter="/"):
        date = folder.name[len(root):].rstrip("/")
        if not date.startswith("date=") or date < floor:
            continue  # a backfill folder, or a day already read
        for props in exports.list_blobs(name_starts_with=folder.name):
            stem = props.name.rsplit("/", 1)[-1].removesuffix(".ndjson.gz")
            seq_text = stem.rsplit("-", 1)[-1]
            if seq_text.isdigit() and start <= int(seq_text) < end:
                found.append(SourceBlob(int(seq_text), props.name[len(root):].rsplit("/", 1)[0], props.name))
    return sorted(found, key=lambda blob: blob.seq)


@dataclass
class ContextStats(LookupStats):
    entities: int = 0  # distinct entities the run's source records named
    cache_hits: int = 0
    looked_up: int = 0
    not_found: int = 0
    unchanged: int = 0  # records equal to the entity's last version: not written again
    retry: int = 0  # entities kept for the next run (throttled, 5xx, a missing base permission)
    source_blobs: int = 0
    denied: dict[str, int] = field(default_factory=dict)  # permission -> entities whose record lacks its fields


_process_cache = register(ContextCache())  # emptied with the other process caches (shared.runtime)


class ContextRun:
    """One run of one context stream for one tenant, inside the engine's lease and checkpoint claim.

    The engine hands it: `write(records)` (creates the next blob, create-only; returns bytes written or raises),
    `save()` (saves the checkpoint, conditional on its ETag) and `step(name)` (the engine's step hook)."""

    def __init__(self, *, kind: str, id_field: str, tenant: str, checkpoint: Checkpoint, enabled: tuple[str, ...],
                 exports: ContainerClient, sources: CheckpointStore, client: GraphClient,
                 write: Callable[[list[dict[str, Any]]], int], save: Callable[[], None],
                 step: Callable[[str], None], now: Callable[[], datetime], out_of_time: Callable[[], bool],
                 cache: ContextCache | None = None) -> None:
        self.kind: Kind = KINDS[kind]
        self.id_field = id_field
        self.tenant = tenant
        self.checkpoint = checkpoint
        self.state = ContextState.of(checkpoint)
        self.sources = tuple(s for s in SOURCES[kind] if s in enabled)
        self.exports = exports
        self.source_checkpoints = sources
        self.client = client
        self.write, self.save, self.step, self.now, self.out_of_time = write, save, step, now, out_of_time
        self.cache = cache or _process_cache
        self.stats = ContextStats()
        self.done: set[str] = set()  # per-run dedupe: each entity is looked at once per run
        self.items = self.blobs = self.bytes = self.steps = 0
        self.finished = False

    def run(self) -> None:
        if not self.sources:
            self.stats.note_error(f"none of the streams that name {self.kind.name}s "
                                  f"({', '.join(SOURCES[self.kind.name])}) is in EXPORT_STREAMS")
        retry = list(dict.fromkeys(self.state.pending))
        self.state.pending = []
        blobs = self._unread_blobs()
        while True:
            if self.out_of_time():  # the retries not yet made wait for the next run (the engine's last save)
                self.state.pending = list(dict.fromkeys(self.state.pending + retry))[-MAX_PENDING:]
                self.state.store(self.checkpoint)
                return
            keys, positions = self._gather(retry, blobs)
            retry = []
            if not keys and not positions:
                self.finished = True
                return
            self._step(keys, positions)

    # --- reading the sources

    def _unread_blobs(self) -> Iterator[tuple[str, SourceBlob]]:
        for source in self.sources:
            recorded, _ = self.source_checkpoints.load(source, self.tenant)
            start, partition = (self.state.positions.get(source) or [0, None])[:2]
            for blob in source_blobs(self.exports, source, self.tenant, int(start), partition, recorded.seq):
                yield source, blob

    def _gather(self, retry: list[str], blobs: Iterator[tuple[str, SourceBlob]]) -> tuple[list[str], dict[str, Any]]:
        """Entity keys for one step (at least STEP_ENTITIES unless the sources run out) and the source positions
        after the blobs they came from."""
        keys: dict[str, None] = dict.fromkeys(k for k in retry if k not in self.done)
        positions: dict[str, list[Any]] = {}
        while len(keys) < STEP_ENTITIES:
            entry = next(blobs, None)
            if entry is None:
                break
            source, blob = entry
            records = read_records(self.exports, blob.name) or []
            self.stats.source_blobs += 1
            for record in records:
                if source == "riskyUsers" and self.kind.name == "user":
                    self.state.risk[_text(record.get("id"))] = [str(record.get("riskLevel")),
                                                                str(record.get("riskState"))]
                for key in referenced(source, record).get(self.kind.name, ()):
                    if key not in self.done:
                        keys[key] = None
            positions[source] = [blob.seq + 1, blob.partition]
        return list(keys), positions

    # --- one step: look up, write what changed, then record

    def _step(self, keys: list[str], positions: dict[str, Any]) -> None:
        records = self._records(keys)
        self.steps += 1
        self.step("after_fetch")
        fresh = []
        for record in records:
            if self.state.latest.get(_text(record.get(self.id_field))) == record["contextVersion"]:
                self.stats.unchanged += 1
            else:
                fresh.append(record)
        if fresh:
            self.step("before_blob_write")
            self.bytes += self.write(fresh)
            self.step("after_blob_write")
            self.step("after_ocsf_write")  # no OCSF rendition of context; the step is kept for the crash tests
            for record in fresh:
                self.state.latest[_text(record.get(self.id_field))] = record["contextVersion"]
            self.items += len(fresh)
            self.blobs += 1
        self.state.positions.update(positions)
        self.state.store(self.checkpoint)
        self.step("before_checkpoint")
        self.save()
        self.step("after_checkpoint")

    def _records(self, keys: list[str]) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        todo: list[str] = []
        for key in keys:
            self.done.add(key)
            self.stats.entities += 1
            cached = self.cache.get(self.tenant, self.kind.name, key)
            if cached is NOT_FOUND:
                self.stats.cache_hits += 1
                self.stats.not_found += 1
            elif cached is not None:
                self.stats.cache_hits += 1
                found.append(cached)
            else:
                todo.append(key)
        if todo:
            answers = run_lookups(self.client, [lk for key in todo for lk in lookups_of(self.kind, key)], self.stats)
            self.stats.looked_up += len(todo)
            denied: Counter[str] = Counter()
            for key in todo:
                outcome = outcome_of(self.kind, key, answers)
                self.stats.note_error(outcome.error)
                denied.update(outcome.denied)
                if outcome.retry or (outcome.record is None and outcome.denied):
                    self.stats.retry += 1
                    self.state.pending.append(key)
                elif outcome.record is None:
                    self.stats.not_found += 1
                    self.cache.put(self.tenant, self.kind.name, key, NOT_FOUND)
                else:
                    self.cache.put(self.tenant, self.kind.name, key, outcome.record)
                    found.append(outcome.record)
            for permission, count in denied.items():
                self.stats.denied[permission] = self.stats.denied.get(permission, 0) + count
            self.state.pending = self.state.pending[-MAX_PENDING:]
        observed = self.now().strftime("%Y-%m-%dT%H:%M:%SZ")
        return [self._finish(record, observed) for record in found]

    def _finish(self, record: dict[str, Any], observed: str) -> dict[str, Any]:
        """The record as written: the cached directory context, the risk the riskyUsers stream exported (users),
        the tenant, its version and when it was observed."""
        out = {"tenantId": self.tenant, **record}
        if self.kind.name == "user":
            if "riskyUsers" in self.sources:
                level, state = self.state.risk.get(_text(record.get("id")), ["none", "none"])
                out["riskLevel"], out["riskState"] = level, state
            else:
                unavailable = dict(out.get("unavailable") or {})
                unavailable["riskyUsers stream"] = ["riskLevel", "riskState"]
                out["unavailable"] = unavailable
        out["contextVersion"] = content_version(out)
        out["observedDateTime"] = observed
        return out
