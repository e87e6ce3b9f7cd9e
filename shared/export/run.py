"""One run of one stream for one tenant, once the lease is held: the steps of shared/export/engine.py's docstring,
one method each, named as StepHook names the boundaries between them.

    claim -> begin_pass -> (fetch -> select_fresh -> [hold] -> write -> advance -> save_checkpoint)* -> finish

(`hold` makes the run the checkpoint's writer before its first blob; the last save_checkpoint carries the outcome.)

The engine creates a StreamRun per run and calls `execute`; everything a run learns (the checkpoint and its ETag, the
pass, the options Graph refused) lives on the object for that run only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.context.enrichment import Enricher
from shared.context.streams import ContextRun, adopt
from shared.export.checkpoints import Checkpoint, CheckpointStore, PassState, SeenVersions
from shared.export.paging import MAX_SKIP, Page, advance, query_params, start_pass, window_of
from shared.export.sink import NameTaken, blob_name, partition_of, read_records, write_blob
from shared.export.streams import Stream
from shared.graph.client import GraphClient, GraphError
from shared.graph.query_options import RefusedOptions, send_adapting
from shared.graph.versions import from_datetime, normalize_version, shift, to_datetime
from shared.storage.leases import LeaseLost, RunLease

if TYPE_CHECKING:
    from shared.export.engine import ExportEngine, RunSummary

log = logging.getLogger("graph_security_bridge.export")

# Status codes with which Graph refuses a saved nextLink whose skip token has expired: start the pass again
# (de-duplication makes the repeat harmless).
STALE_LINK_STATUSES = frozenset({400, 404, 410})


@dataclass(frozen=True)
class Backfill:
    """A window exported apart from the live cursor, with its own checkpoint, lease and folder."""

    start: datetime
    end: datetime

    @property
    def label(self) -> str:
        return f"{self.start:%Y%m%dT%H%M%SZ}_{self.end:%Y%m%dT%H%M%SZ}"


def lag_seconds(cursor: str | None, now: datetime) -> float | None:
    if not cursor:
        return None
    return round(max(0.0, (now - to_datetime(cursor)).total_seconds()), 1)


def checkpoint_name(stream: Stream, backfill: Backfill | None) -> str:
    return f"{stream.name}/{backfill.label}" if backfill else stream.name


@dataclass
class Fetched:
    """One answer of Graph for the pass."""

    items: list[dict[str, Any]]
    next_link: str | None


class StreamRun:
    def __init__(self, engine: ExportEngine, stream: Stream, tenant: str, *, lease: RunLease, run_id: str,
                 summary: RunSummary, backfill: Backfill | None, deadline: float,
                 progress: Callable[[RunSummary], None] | None) -> None:
        self.engine = engine
        self.settings = engine.settings
        self.stream = stream
        self.tenant = tenant
        self.lease = lease
        self.run_id = run_id  # this run's name in the checkpoint (`writer`) and on its blobs
        self.summary = summary
        self.backfill = backfill
        self.deadline = deadline
        self.progress = progress
        self.store: CheckpointStore = engine.backfill_checkpoints if backfill else engine.checkpoints
        self.overlap = timedelta(minutes=self.settings.overlap_minutes)
        self.client: GraphClient = engine.client_factory(tenant)
        self.checkpoint: Checkpoint
        self.etag: str | None = None
        self.refused = RefusedOptions({})  # the checkpoint's, once loaded (claim)
        self.held = False  # whether this run is the checkpoint's `writer` (hold)
        self.enricher = Enricher(self.client, tenant) if self.settings.enrich and stream.name == "alerts" else None

    def execute(self) -> None:
        if not self.claim():
            return
        if self.stream.context:
            self.run_context()
            return
        pass_state = self.begin_pass()
        resumed_link = pass_state.next_link
        while True:
            if self.engine.monotonic() >= self.deadline:
                self.summary.status = "partial"
                log.info("Time budget spent for %s/%s; the next run resumes from the saved page", self.stream.name,
                         self.tenant)
                break
            fetched = self.fetch(pass_state, resumed_link)
            if fetched is None:  # the saved nextLink had expired: the pass restarts its query
                resumed_link = None
                continue
            fresh, keys, page_max = self.select_fresh(fetched.items, pass_state)
            if page_max and (pass_state.max_version is None or page_max > pass_state.max_version):
                pass_state.max_version = page_max
            if fresh:
                self.write(fresh, keys)
            done = self.advance(pass_state, fetched, len(fresh))
            if done:
                self.conclude()  # the run's outcome rides on the last page's save: one save ends the run
            self.save_checkpoint()
            if done:
                return
        self.finish()

    # --- the steps

    def claim(self) -> bool:
        """Load the checkpoint; False when there is nothing to do (a finished backfill). When the run before this one
        did not finish cleanly (it crashed, or it is stalled and may wake), take the checkpoint over at once and
        settle the one write of that run that can still land. Otherwise the claim waits for this run's first blob
        (`hold`): a run that writes nothing (most incremental runs of a quiet tenant) needs no claim, because its
        saves are conditional on the ETag it loaded and it creates no blob a later run could miss."""
        self.checkpoint, self.etag = self.store.load(checkpoint_name(self.stream, self.backfill), self.tenant)
        checkpoint = self.checkpoint
        self.refused = RefusedOptions(checkpoint.refused_options)
        if checkpoint.complete:
            self.summary.cursor = checkpoint.cursor
            self.summary.status = "ok"
            return False
        if checkpoint.writer:
            checkpoint.writer = self.run_id
            self._save()
            self.held = True
            if checkpoint.partition:
                # That run's only write that can still land is a create of the next name, in its folder (its next
                # step after that is a save, which now fails): take that name before moving on.
                self.settle_next_name()
            self._move_to_current_partition()
            self._save()  # what settling adopted, and this run's folder, before anything is written into it
        return True

    def hold(self) -> None:
        """Make this run the checkpoint's writer before its first blob: from this save on, every save of an earlier
        run fails, and a run after this one that finds `writer` set knows this run's next name may hold a blob it
        must settle. Records the run's hour folder in the same save."""
        if self.held:
            return
        self.checkpoint.writer = self.run_id
        self._move_to_current_partition()
        self._save()
        self.held = True

    def _move_to_current_partition(self) -> None:
        partition = partition_of(self.engine.now())
        if self.checkpoint.partition is None or partition > self.checkpoint.partition:
            self.checkpoint.partition = partition

    def begin_pass(self) -> PassState:
        """The pass in progress, or a new one from `cursor - overlap` (first run: `now - lookback`)."""
        checkpoint = self.checkpoint
        if checkpoint.pass_state is None:
            if self.backfill:
                low, high = from_datetime(self.backfill.start), from_datetime(self.backfill.end)
            elif checkpoint.cursor:
                low, high = shift(checkpoint.cursor, -self.overlap), None
            else:
                low = from_datetime(self.engine.now() - timedelta(days=self.settings.initial_lookback_days))
                high = None
            checkpoint.pass_state = PassState(low=low, high=high)
            start_pass(checkpoint.pass_state)
        return checkpoint.pass_state

    def fetch(self, pass_state: PassState, resumed_link: str | None) -> Fetched | None:
        """The next page of the pass: its nextLink, or a query from the pass's window. None when the nextLink this
        run resumed from has expired (the pass's query then starts again; de-duplication makes that harmless)."""
        stream, client = self.stream, self.client
        url = pass_state.next_link
        params: dict[str, str] | None = None
        try:
            if url:
                response = client.request("GET", url, family=stream.family)
            else:
                response, params = send_adapting(
                    lambda query: client.request("GET", stream.path, params=query, family=stream.family),
                    self.query(pass_state), self.refused, self._learned)
        except GraphError as exc:
            if url and url == resumed_link and exc.status in STALE_LINK_STATUSES:
                log.warning("Saved nextLink for %s/%s was refused (%s); restarting its query from %s",
                            stream.name, self.tenant, exc.code, window_of(pass_state)[0])
                pass_state.next_link = None
                pass_state.taken = 0
                return None
            raise
        finally:
            self._count_requests()
        body = response.body if isinstance(response.body, dict) else {}
        items = body.get("value")
        if not isinstance(items, list):
            raise GraphError(response.status, "UnexpectedResponse", "the answer has no 'value' list",
                             method="GET", path=stream.path, request_id=response.request_id)
        if url is None and params is not None:
            pass_state.asked, pass_state.ordered = int(params.get("$top", 0)), "$orderby" in params
        self.summary.pages += 1
        pass_state.pages += 1
        self.engine.hook("after_fetch", self.summary)
        return Fetched(items, body.get("@odata.nextLink"))

    def select_fresh(self, items: list[dict[str, Any]], pass_state: PassState,
                     ) -> tuple[list[dict[str, Any]], list[tuple[str, str]], str | None]:
        """The items of a page whose (id, version) has not been written, their keys, and the page's largest
        version. Snapshot streams (no server-side filter) also drop versions outside the pass's window here."""
        stream, seen = self.stream, self.checkpoint.seen
        fresh: list[dict[str, Any]] = []
        keys: list[tuple[str, str]] = []
        page_max: str | None = None
        in_page: set[str] = set()
        for item in items:
            version = normalize_version(item.get(stream.cursor_field)) or ""
            if version and (page_max is None or version > page_max):
                page_max = version
            if version and (version < pass_state.low or (pass_state.high and version >= pass_state.high)):
                continue  # outside the window: only snapshot streams and a filter's second-floor edge get here
            key = SeenVersions.key(str(item.get(stream.id_field, "")), version)
            if key in seen or key in in_page:
                self.summary.duplicates += 1
                continue
            in_page.add(key)
            fresh.append(item)
            keys.append((key, version))
        return fresh, keys, page_max

    def write(self, fresh: list[dict[str, Any]], keys: list[tuple[str, str]]) -> None:
        """The fresh versions as the next blob (create-only), and its OCSF twin; recorded in the checkpoint in
        memory, saved by the next save_checkpoint (data before checkpoint)."""
        summary, checkpoint = self.summary, self.checkpoint
        if self.enricher:
            fresh = self.enricher.enrich(fresh)  # never raises: a failed lookup leaves the entity in `missing`
            summary.enrichment = self.enricher.stats.as_dict()
        self.hold()
        self.lease.ensure()
        self.engine.hook("before_blob_write", summary)
        name, written_bytes = self.create_blob(fresh, [v for _, v in keys if v])
        self.engine.hook("after_blob_write", summary)
        if self.engine.ocsf:
            self.write_ocsf_twin(name, fresh)
        self.engine.hook("after_ocsf_write", summary)
        for key, version in keys:
            checkpoint.seen.add(key, version)
        checkpoint.seq += 1
        summary.blobs += 1
        summary.items += len(fresh)
        summary.bytes += written_bytes

    def create_blob(self, records: list[dict[str, Any]], versions: list[str]) -> tuple[str, int]:
        """Create the checkpoint's next blob with `records`: its name and size (0 when an earlier attempt of this
        run had created it). Raises LeaseLost when another run wrote the name."""
        seq = self.checkpoint.seq
        name = self.name_of(seq)
        try:
            written = write_blob(
                self.engine.exports, name, records,
                metadata={
                    "stream": self.stream.name,
                    "tenant": self.tenant,
                    "record_count": str(len(records)),
                    "min_version": min(versions) if versions else "",
                    "max_version": max(versions) if versions else "",
                    "seq": str(seq),
                    "writer": self.run_id,
                },
                level=self.settings.gzip_level,
            )
        except NameTaken as taken:
            if taken.writer != self.run_id:
                # Only a run that claimed the checkpoint after this one can have written this name.
                raise LeaseLost(f"another run took over {self.lease.name} and wrote {name}") from taken
            # Our own earlier attempt (the SDK retried a create whose first answer was lost): it holds exactly
            # these records.
            return name, 0
        return name, written.bytes

    def write_ocsf_twin(self, graph_blob: str, records: list[dict[str, Any]]) -> None:
        """The OCSF twin of the blob just written, create-only like it, before the checkpoint that records both
        (shared/ocsf/output.py says why a crash or a stall between the two never leaves one without the other)."""
        ocsf = self.engine.ocsf
        assert ocsf is not None
        try:
            written = ocsf.write(self.engine.exports, graph_blob, self.stream.name, self.tenant, records,
                                 writer=self.run_id)
        except NameTaken as taken:
            if taken.writer != self.run_id:
                # Only a run that claimed the checkpoint after this one (and adopted the graph blob) writes it.
                raise LeaseLost(f"another run took over {self.lease.name} and wrote the OCSF twin of "
                                f"{graph_blob}") from taken
            return  # our own earlier attempt, retried by the SDK after its answer was lost
        if written is not None:
            for key, value in (("items", written.blob.records), ("blobs", 1), ("bytes", written.blob.bytes),
                               ("fallbacks", written.fallbacks)):
                self.summary.ocsf[key] = self.summary.ocsf.get(key, 0) + value

    def advance(self, pass_state: PassState, fetched: Fetched, fresh: int) -> bool:
        """Move the pass past this page; True when the pass has proved it read everything, which moves the cursor
        to the largest version it saw."""
        stream, checkpoint, summary = self.stream, self.checkpoint, self.summary
        done = advance(stream, pass_state, Page(
            versions=[normalize_version(item.get(stream.cursor_field)) or "" for item in fetched.items],
            next_link=fetched.next_link, asked=pass_state.asked, fresh=fresh))
        if not done:
            return False
        if pass_state.limit_hits:
            summary.crowded_timestamps = list(pass_state.limit_hits)
            log.warning("%s/%s: more versions share these timestamps than Graph lets one read ($skip %d + one page): "
                        "%s", stream.name, self.tenant, MAX_SKIP, ", ".join(pass_state.limit_hits))
        if pass_state.max_version and not self.backfill and (
            checkpoint.cursor is None or pass_state.max_version > checkpoint.cursor
        ):
            checkpoint.cursor = pass_state.max_version
        if self.backfill:
            checkpoint.complete = True
        checkpoint.pass_state = None
        if checkpoint.cursor and not self.backfill:
            checkpoint.seen.prune_before(shift(checkpoint.cursor, -self.overlap))
        return True

    def save_checkpoint(self) -> None:
        self.engine.hook("before_checkpoint", self.summary)
        self._save()
        self.engine.hook("after_checkpoint", self.summary)
        self.summary.cursor = self.checkpoint.cursor
        if self.progress:
            self.progress(self.summary)

    def finish(self) -> None:
        """Record the run's outcome and release the checkpoint: nothing of this run can land after this save."""
        self.conclude()
        self._save()

    def conclude(self) -> None:
        """The run's outcome in the checkpoint (in memory; the next save stores it), and `writer` cleared."""
        now = self.engine.now()
        checkpoint, summary = self.checkpoint, self.summary
        summary.cursor = checkpoint.cursor
        summary.lag_seconds = lag_seconds(checkpoint.cursor, now)
        checkpoint.last_success = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        checkpoint.last_error = None
        checkpoint.last_run = {k: v for k, v in summary.as_dict().items() if k not in ("error",)}
        checkpoint.writer = None
        self.held = False

    def run_context(self) -> None:
        """A context stream's run (shared/context/streams.py), with this run's blob names, checkpoint and fence:
        the same create-only writes and ETag-conditional saves as a Graph stream's."""
        stream, summary, checkpoint = self.stream, self.summary, self.checkpoint
        assert stream.context is not None

        def write(records: list[dict[str, Any]]) -> int:
            self.hold()
            self.lease.ensure()
            _, written = self.create_blob(records, [])
            checkpoint.seq += 1
            return written

        def step(at: str) -> None:
            summary.pages, summary.items = run.steps, run.items  # the hook sees where the run is
            self.engine.hook(at, summary)

        run = ContextRun(kind=stream.context, id_field=stream.id_field, tenant=self.tenant, checkpoint=checkpoint,
                         enabled=self.settings.export_streams, exports=self.engine.exports,
                         sources=self.engine.checkpoints, client=self.client, write=write, save=self._save,
                         step=step, now=self.engine.now, out_of_time=lambda: self.engine.monotonic() >= self.deadline)
        try:
            run.run()
        finally:
            summary.items, summary.blobs, summary.bytes, summary.pages = run.items, run.blobs, run.bytes, run.steps
            summary.duplicates = run.stats.unchanged
            summary.context = run.stats.as_dict()
            self._count_requests()
        if not run.finished:
            summary.status = "partial"
        for permission, count in sorted(run.stats.denied.items()):
            summary.notes.append(f"{permission} is not granted: {count} {stream.name} record(s) lack its fields "
                                 "(listed in their `unavailable`)")
        checkpoint.cursor = from_datetime(self.engine.now())
        self.finish()

    def settle_next_name(self) -> None:
        """Make the checkpoint's next blob a recorded blob, whoever wrote it: adopt the blob an interrupted run left
        there (its versions count as written: keeping it loses nothing and deletes nothing), or, if the name is
        free, seal it with an empty blob so that the interrupted run's late create fails. Either way the checkpoint
        moves past it. An adopted blob gets its OCSF twin here if the interrupted run did not write it: the
        versions it holds will not be written again."""
        stream, checkpoint, exports = self.stream, self.checkpoint, self.engine.exports
        name = self.name_of(checkpoint.seq)
        records = read_records(exports, name)
        if records is None:
            try:
                write_blob(exports, name, [], level=self.settings.gzip_level, metadata={
                    "stream": stream.name, "tenant": self.tenant, "record_count": "0", "min_version": "",
                    "max_version": "", "seq": str(checkpoint.seq), "writer": self.run_id, "sealed": "true"})
                log.warning("Sealed %s: the run before this one did not finish and may still wake", name)
            except NameTaken:
                records = read_records(exports, name) or []  # it landed just now: adopt it
        if records is not None:
            if stream.context:
                adopt(checkpoint, stream.id_field, records)  # its records are their entities' last versions
            else:
                for record in records:
                    version = normalize_version(record.get(stream.cursor_field)) or ""
                    checkpoint.seen.add(SeenVersions.key(str(record.get(stream.id_field, "")), version), version)
            log.warning("Adopted %s (%d records) left unrecorded by an interrupted run", name, len(records))
            if self.engine.ocsf and records:
                try:
                    self.engine.ocsf.write(exports, name, stream.name, self.tenant, records, writer=self.run_id)
                except NameTaken:
                    pass  # the interrupted run wrote the twin too: it holds the same versions
        checkpoint.seq += 1

    # --- helpers

    def name_of(self, seq: int) -> str:
        assert self.checkpoint.partition is not None
        return blob_name(self.stream.name, self.tenant, self.checkpoint.partition, seq,
                         backfill=self.backfill.label if self.backfill else None)

    def query(self, pass_state: PassState) -> dict[str, str]:
        expand = self.stream.name == "incidents" and self.settings.incidents_expand_alerts
        return query_params(self.stream, pass_state, top="$top" not in self.refused,
                            orderby=self.stream.orderable and "$orderby" not in self.refused,
                            extra={"$expand": "alerts"} if expand else None)

    def _save(self) -> None:
        self.lease.ensure()  # a lease renewed a while ago is no proof of owning it now: the ETag save decides
        self.etag = self.store.save(self.checkpoint, self.etag)

    def _learned(self, option: str, error: GraphError) -> None:
        self.summary.notes.append(f"Graph refused {option} on {self.stream.path} ({error.status} {error.code}); "
                                  f"{self.stream.name} queries without it from now on")

    def _count_requests(self) -> None:
        stats = self.client.stats
        self.summary.requests = stats.requests
        self.summary.throttled = stats.throttled
        self.summary.retries = stats.retries
        self.summary.waited_seconds = round(stats.waited_seconds, 3)
