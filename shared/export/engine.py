"""The incremental export: Graph pages in, gzip NDJSON blobs out, every version exactly once.

One run of one (tenant, stream):
1. take the lease (or skip: another run is at it);
2. load the checkpoint and claim it: save it with this run as its `writer`. From then on the checkpoint's ETag fences
   every earlier run: their saves fail;
3. if the claim replaced another run's (that run did not finish cleanly: it crashed, or it is stalled and may wake),
   settle the next blob name: adopt the blob there (its versions count as written; with OCSF on, its OCSF twin is
   created from it if missing) or seal the name with an empty blob, so that the earlier run's one possible late
   write finds the name taken; then fix this run's hour folder;
4. if no pass is in progress, start one from `cursor - overlap` (first run: `now - lookback`);
5. for each page (from the saved nextLink, if resuming): drop versions already written, create the rest as one blob
   (create-only: a name taken by another run means this run was superseded) and, with EXPORT_FORMATS=graph,ocsf, its
   OCSF twin (shared/ocsf/output.py), then save the checkpoint (keys, next blob number, where the pass reads next) -
   data before checkpoint;
6. the pass follows nextLinks, and where a page may have been cut short without one, continues from the data
   (shared/export/paging.py) until it has proved that it read everything; then the cursor moves to the largest
   version the pass saw.
A run stops cleanly when its time budget is spent; the next run resumes where the pass stopped. Nothing is ever
deleted or overwritten, which is what makes a stale run harmless: docs/exactly-once.md gives the argument.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.context.enrichment import Enricher
from shared.export.checkpoints import Checkpoint, CheckpointConflict, CheckpointStore, PassState, SeenVersions
from shared.export.paging import MAX_SKIP, Page, advance, query_params, start_pass, window_of
from shared.export.sink import NameTaken, blob_name, partition_of, read_records, write_blob
from shared.export.streams import STREAMS, Stream
from shared.graph.client import GraphClient, GraphError, shared_session
from shared.graph.query_options import RefusedOptions, send_adapting
from shared.graph.versions import from_datetime, normalize_version, shift, to_datetime
from shared.ocsf.output import OcsfOutput
from shared.storage.clients import Patience, ensure_container
from shared.storage.leases import LEASE_SECONDS, LeaseBusy, LeaseLost, RunLease

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from shared.settings import Settings
    from shared.tenants import Tenant

log = logging.getLogger("graph_security_bridge.export")

# Status codes with which Graph refuses a saved nextLink whose skip token has expired: start the pass again
# (de-duplication makes the repeat harmless).
STALE_LINK_STATUSES = frozenset({400, 404, 410})
STATUS_READ_THREADS = 16  # checkpoint reads of one status answer at a time


@dataclass
class RunSummary:
    stream: str
    tenant: str
    status: str = "ok"  # ok | partial (time budget; resumes next run) | skipped (lease held) | failed
    items: int = 0
    duplicates: int = 0
    blobs: int = 0
    bytes: int = 0
    pages: int = 0
    requests: int = 0
    throttled: int = 0
    retries: int = 0
    waited_seconds: float = 0.0
    cursor: str | None = None
    lag_seconds: float | None = None
    seconds: float = 0.0
    error: str | None = None
    backfill: str | None = None
    # Said once, by the run that learned it: query options Graph refused and that this stream no longer sends.
    notes: list[str] = field(default_factory=list)
    # Timestamps shared by more versions than Graph lets one read (shared/export/paging.py): some may be missing.
    crowded_timestamps: list[str] = field(default_factory=list)
    ocsf: dict[str, int] = field(default_factory=dict)  # with EXPORT_FORMATS=graph,ocsf: items, blobs, bytes, fallbacks
    enrichment: dict[str, Any] = field(default_factory=dict)  # with EXPORT_ENRICH=true (alerts): lookups, failures

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        return "export summary " + json.dumps(self.as_dict(), separators=(",", ":"))


class StepHook:
    """Called at each step boundary of a run; the default does nothing. Tests use it to crash a run between two
    steps (raising a BaseException, as a killed worker would stop), which is why the steps are named."""

    STEPS = ("after_fetch", "before_blob_write", "after_blob_write", "after_ocsf_write", "before_checkpoint",
             "after_checkpoint")

    def __call__(self, step: str, summary: RunSummary) -> None:
        return None


def lag_seconds(cursor: str | None, now: datetime) -> float | None:
    if not cursor:
        return None
    return round(max(0.0, (now - to_datetime(cursor)).total_seconds()), 1)


class ExportEngine:
    def __init__(
        self,
        settings: Settings,
        *,
        blob_service: BlobServiceClient | None = None,
        client_factory: Callable[[str], GraphClient] | None = None,
        now: Callable[[], datetime] = lambda: datetime.now(UTC),
        monotonic: Callable[[], float] = time.monotonic,
        hook: StepHook | None = None,
        lease_seconds: int = LEASE_SECONDS,
        patience: Patience = Patience.BACKGROUND,
    ) -> None:
        """`patience`: how long storage calls may retry; an HTTP caller ("export now") waits for the answer, so it
        runs with Patience.INTERACTIVE. Recording a failure and releasing the lease always use the short retries:
        they run after something already failed, usually storage itself."""
        from shared.storage.clients import blob_service as default_blob_service

        self.settings = settings
        self._blobs = blob_service or default_blob_service(settings, patience=patience)
        cleanup = blob_service or default_blob_service(settings, patience=Patience.INTERACTIVE)
        self._cleanup_state = cleanup.get_container_client(settings.state_container)
        self._client_factory = client_factory or (lambda tenant: GraphClient(settings, tenant,
                                                                             session=shared_session()))
        self._now = now
        self._monotonic = monotonic
        self._hook = hook or StepHook()
        self._lease_seconds = lease_seconds
        self._ocsf = OcsfOutput(settings.ocsf_version, settings.gzip_level) if "ocsf" in settings.export_formats \
            else None
        self.exports = self._blobs.get_container_client(settings.export_container)
        self.state = self._blobs.get_container_client(settings.state_container)
        self.checkpoints = CheckpointStore(self.state, "checkpoints")
        self.backfill_checkpoints = CheckpointStore(self.state, "backfills")

    # --- entry points

    def run_all(
        self,
        streams: tuple[str, ...] | None = None,
        tenants: tuple[str, ...] | None = None,
        progress: Callable[[RunSummary], None] | None = None,
    ) -> list[RunSummary]:
        """Every configured stream for every configured tenant, one after the other. A failing stream does not stop
        the others."""
        from shared.tenants import current_tenants

        listed = current_tenants(self.settings).tenants
        if tenants:
            listed = tuple(t for t in listed if t.id in tenants)
        return [
            self.run(stream, tenant.id, progress=progress)
            for tenant in listed
            for stream in tenant.export_streams(self.settings)
            if not streams or stream in streams
        ]

    def run(
        self,
        stream_name: str,
        tenant: str,
        *,
        backfill: tuple[datetime, datetime] | None = None,
        progress: Callable[[RunSummary], None] | None = None,
        time_budget_seconds: float | None = None,
    ) -> RunSummary:
        """One run of one stream for one tenant. Never raises for Graph or storage failures: they are reported in
        the summary (and in the checkpoint's lastError), so that one stream cannot stall the others."""
        stream = STREAMS[stream_name]
        started = self._monotonic()
        summary = RunSummary(stream=stream.name, tenant=tenant)
        backfill_label = None
        if backfill is not None:
            backfill_label = f"{backfill[0]:%Y%m%dT%H%M%SZ}_{backfill[1]:%Y%m%dT%H%M%SZ}"
            summary.backfill = backfill_label
        lease_name = f"locks/{stream.name}/{tenant}" + (f"/backfill-{backfill_label}" if backfill_label else "")
        try:
            ensure_container(self.state)
            ensure_container(self.exports)
            lease = RunLease(self.state, lease_name, duration=self._lease_seconds)
            try:
                lease.acquire()
            except LeaseBusy:
                summary.status = "skipped"
                summary.error = "another run of this stream holds the lease"
                log.info("Skipping %s for tenant %s: another run holds the lease", stream.name, tenant)
                return summary
            run_id = uuid.uuid4().hex[:16]  # this run's name in the checkpoint (`writer`) and on its blobs
            try:
                budget = time_budget_seconds or self.settings.time_budget_seconds
                self._run_locked(stream, tenant, lease, run_id, summary, backfill, backfill_label, started + budget,
                                 progress)
            except Exception as exc:
                from azure.core.exceptions import AzureError

                summary.status = "failed"
                summary.error = describe_error(exc, stream)
                if not isinstance(exc, CheckpointConflict | LeaseLost):
                    store = self.backfill_checkpoints if backfill else self.checkpoints
                    self._record_failure(self._cleanup_store(store), self._checkpoint_name(stream, backfill_label),
                                         tenant, run_id, summary, storage_failed=isinstance(exc, AzureError))
                raise
            finally:
                lease.release(self._cleanup_state)
        except Exception as exc:  # reported in the summary and the log, never swallowed silently
            summary.status = "failed"
            summary.error = summary.error or describe_error(exc, stream)
            log.error("Export of %s for tenant %s failed: %s", stream.name, tenant, summary.error)
        finally:
            summary.seconds = round(self._monotonic() - started, 3)
            log.info(summary.log_line())
        return summary

    # --- the run

    def _run_locked(
        self,
        stream: Stream,
        tenant: str,
        lease: RunLease,
        run_id: str,
        summary: RunSummary,
        backfill: tuple[datetime, datetime] | None,
        backfill_label: str | None,
        deadline: float,
        progress: Callable[[RunSummary], None] | None,
    ) -> None:

        store = self.backfill_checkpoints if backfill else self.checkpoints
        checkpoint, etag = store.load(self._checkpoint_name(stream, backfill_label), tenant)
        client = self._client_factory(tenant)
        overlap = timedelta(minutes=self.settings.overlap_minutes)
        if checkpoint.complete:
            summary.cursor = checkpoint.cursor
            summary.status = "ok"
            return

        def name_of(seq: int) -> str:
            assert checkpoint.partition is not None
            return blob_name(stream.name, tenant, checkpoint.partition, seq, backfill=backfill_label)

        # Claim the checkpoint: every save of an earlier run that may still be alive fails from now on.
        previous_writer, checkpoint.writer = checkpoint.writer, run_id
        lease.ensure()
        etag = store.save(checkpoint, etag)
        if previous_writer and checkpoint.partition:
            # That run did not finish cleanly. Its only write that can still land is a create of the next name (its
            # next step after that is a save, which now fails): take that name before moving on.
            self._settle_next_name(stream, name_of(checkpoint.seq), checkpoint, run_id, tenant)
        partition = partition_of(self._now())
        if previous_writer or checkpoint.partition is None or partition > checkpoint.partition:
            # Record this run's folder (and what settling adopted) before writing into it.
            if checkpoint.partition is None or partition > checkpoint.partition:
                checkpoint.partition = partition
            lease.ensure()
            etag = store.save(checkpoint, etag)

        if checkpoint.pass_state is None:
            if backfill:
                low, high = from_datetime(backfill[0]), from_datetime(backfill[1])
            elif checkpoint.cursor:
                low, high = shift(checkpoint.cursor, -overlap), None
            else:
                low = from_datetime(self._now() - timedelta(days=self.settings.initial_lookback_days))
                high = None
            checkpoint.pass_state = PassState(low=low, high=high)
            start_pass(checkpoint.pass_state)
        pass_state = checkpoint.pass_state
        enricher = Enricher(client, tenant) if self.settings.enrich and stream.name == "alerts" else None
        resumed_link = pass_state.next_link
        refused = RefusedOptions(self.state, stream.name, tenant).load()

        def learned(option: str, error: GraphError) -> None:
            summary.notes.append(f"Graph refused {option} on {stream.path} ({error.status} {error.code}); "
                                 f"{stream.name} queries without it from now on")

        while True:
            if self._monotonic() >= deadline:
                summary.status = "partial"
                log.info("Time budget spent for %s/%s; the next run resumes from the saved page", stream.name, tenant)
                break
            url = pass_state.next_link
            params: dict[str, str] | None = None
            try:
                if url:
                    response = client.request("GET", url, family=stream.family)
                else:
                    response, params = send_adapting(
                        lambda query: client.request("GET", stream.path, params=query, family=stream.family),
                        self._query(stream, pass_state, refused), refused, learned)
            except GraphError as exc:
                if url and url == resumed_link and exc.status in STALE_LINK_STATUSES:
                    log.warning("Saved nextLink for %s/%s was refused (%s); restarting its query from %s",
                                stream.name, tenant, exc.code, window_of(pass_state)[0])
                    pass_state.next_link = resumed_link = None
                    pass_state.taken = 0
                    continue
                raise
            finally:
                self._add_client_stats(summary, client)
            body = response.body if isinstance(response.body, dict) else {}
            items = body.get("value")
            if not isinstance(items, list):
                raise GraphError(response.status, "UnexpectedResponse", "the answer has no 'value' list",
                                 method="GET", path=stream.path, request_id=response.request_id)
            next_link = body.get("@odata.nextLink")
            if url is None and params is not None:
                pass_state.asked, pass_state.ordered = int(params.get("$top", 0)), "$orderby" in params
            summary.pages += 1
            pass_state.pages += 1
            self._hook("after_fetch", summary)

            fresh, fresh_keys, page_max = self._select_fresh(stream, items, checkpoint.seen, pass_state, summary)
            if page_max and (pass_state.max_version is None or page_max > pass_state.max_version):
                pass_state.max_version = page_max
            if fresh and enricher:
                fresh = enricher.enrich(fresh)  # never raises: a failed lookup leaves the entity in `missing`
                summary.enrichment = enricher.stats.as_dict()
            if fresh:
                lease.ensure()
                self._hook("before_blob_write", summary)
                versions = [v for _, v in fresh_keys if v]
                name = name_of(checkpoint.seq)
                written_bytes = 0
                try:
                    written_bytes = write_blob(
                        self.exports,
                        name,
                        fresh,
                        metadata={
                            "stream": stream.name,
                            "tenant": tenant,
                            "record_count": str(len(fresh)),
                            "min_version": min(versions) if versions else "",
                            "max_version": max(versions) if versions else "",
                            "seq": str(checkpoint.seq),
                            "writer": run_id,
                        },
                        level=self.settings.gzip_level,
                    ).bytes
                except NameTaken as taken:
                    if taken.writer != run_id:
                        # Only a run that claimed the checkpoint after this one can have written this name.
                        raise LeaseLost(f"another run took over {lease.name} and wrote {name}") from taken
                    # Our own earlier attempt (the SDK retried a create whose first answer was lost): it holds
                    # exactly these records.
                self._hook("after_blob_write", summary)
                if self._ocsf:
                    self._write_ocsf(stream, tenant, name, fresh, summary, run_id, lease.name)
                self._hook("after_ocsf_write", summary)
                for key, version in fresh_keys:
                    checkpoint.seen.add(key, version)
                checkpoint.seq += 1
                summary.blobs += 1
                summary.items += len(fresh)
                summary.bytes += written_bytes

            done = advance(stream, pass_state, Page(
                versions=[normalize_version(item.get(stream.cursor_field)) or "" for item in items],
                next_link=next_link, asked=pass_state.asked, fresh=len(fresh)))
            if done:
                if pass_state.limit_hits:
                    summary.crowded_timestamps = list(pass_state.limit_hits)
                    log.warning("%s/%s: more versions share these timestamps than Graph lets one read ($skip %d + "
                                "one page): %s", stream.name, tenant, MAX_SKIP, ", ".join(pass_state.limit_hits))
                if pass_state.max_version and not backfill and (
                    checkpoint.cursor is None or pass_state.max_version > checkpoint.cursor
                ):
                    checkpoint.cursor = pass_state.max_version
                if backfill:
                    checkpoint.complete = True
                checkpoint.pass_state = None
                if checkpoint.cursor and not backfill:
                    checkpoint.seen.prune_before(shift(checkpoint.cursor, -overlap))
            self._hook("before_checkpoint", summary)
            lease.ensure()
            etag = store.save(checkpoint, etag)
            self._hook("after_checkpoint", summary)
            summary.cursor = checkpoint.cursor
            if progress:
                progress(summary)
            if done:
                break

        now = self._now()
        summary.cursor = checkpoint.cursor
        summary.lag_seconds = lag_seconds(checkpoint.cursor, now)
        checkpoint.last_success = now.strftime("%Y-%m-%dT%H:%M:%SZ")
        checkpoint.last_error = None
        checkpoint.last_run = {k: v for k, v in summary.as_dict().items() if k not in ("error",)}
        checkpoint.writer = None  # finished cleanly: nothing of this run can land after this save
        lease.ensure()
        store.save(checkpoint, etag)

    def _settle_next_name(self, stream: Stream, name: str, checkpoint: Checkpoint, run_id: str, tenant: str) -> None:
        """Make `name` (the checkpoint's next blob) a recorded blob, whoever wrote it: adopt the blob an interrupted
        run left there (its versions count as written: keeping it loses nothing and deletes nothing), or, if the
        name is free, seal it with an empty blob so that the interrupted run's late create fails. Either way the
        checkpoint moves past it. An adopted blob gets its OCSF twin here if the interrupted run did not write it:
        the versions it holds will not be written again."""
        records = read_records(self.exports, name)
        if records is None:
            try:
                write_blob(self.exports, name, [], level=self.settings.gzip_level, metadata={
                    "stream": stream.name, "tenant": tenant, "record_count": "0", "min_version": "",
                    "max_version": "", "seq": str(checkpoint.seq), "writer": run_id, "sealed": "true"})
                log.warning("Sealed %s: the run before this one did not finish and may still wake", name)
            except NameTaken:
                records = read_records(self.exports, name) or []  # it landed just now: adopt it
        if records is not None:
            for record in records:
                version = normalize_version(record.get(stream.cursor_field)) or ""
                checkpoint.seen.add(SeenVersions.key(str(record.get(stream.id_field, "")), version), version)
            log.warning("Adopted %s (%d records) left unrecorded by an interrupted run", name, len(records))
            if self._ocsf and records:
                try:
                    self._ocsf.write(self.exports, name, stream.name, tenant, records, writer=run_id)
                except NameTaken:
                    pass  # the interrupted run wrote the twin too: it holds the same versions
        checkpoint.seq += 1

    def _write_ocsf(self, stream: Stream, tenant: str, graph_blob: str, records: list[dict[str, Any]],
                    summary: RunSummary, run_id: str, lease_name: str) -> None:
        """The OCSF twin of the blob just written, create-only like it, before the checkpoint that records both
        (shared/ocsf/output.py says why a crash or a stall between the two never leaves one without the other)."""
        assert self._ocsf is not None
        try:
            written = self._ocsf.write(self.exports, graph_blob, stream.name, tenant, records, writer=run_id)
        except NameTaken as taken:
            if taken.writer != run_id:
                # Only a run that claimed the checkpoint after this one (and adopted the graph blob) writes it.
                raise LeaseLost(f"another run took over {lease_name} and wrote the OCSF twin of {graph_blob}") \
                    from taken
            return  # our own earlier attempt, retried by the SDK after its answer was lost
        if written is not None:
            for key, value in (("items", written.blob.records), ("blobs", 1), ("bytes", written.blob.bytes),
                               ("fallbacks", written.fallbacks)):
                summary.ocsf[key] = summary.ocsf.get(key, 0) + value

    @staticmethod
    def _checkpoint_name(stream: Stream, backfill_label: str | None) -> str:
        return f"{stream.name}/{backfill_label}" if backfill_label else stream.name

    def _query(self, stream: Stream, pass_state: PassState, refused: RefusedOptions) -> dict[str, str]:
        extra = {"$expand": "alerts"} if stream.name == "incidents" and self.settings.incidents_expand_alerts else None
        return query_params(stream, pass_state, top="$top" not in refused,
                            orderby=stream.orderable and "$orderby" not in refused, extra=extra)

    @staticmethod
    def _select_fresh(
        stream: Stream,
        items: list[dict[str, Any]],
        seen: SeenVersions,
        pass_state: PassState,
        summary: RunSummary,
    ) -> tuple[list[dict[str, Any]], list[tuple[str, str]], str | None]:
        """The items of a page whose (id, version) has not been written, their keys, and the page's largest
        version. Snapshot streams (no server-side filter) also drop versions outside the pass's window here."""
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
                summary.duplicates += 1
                continue
            in_page.add(key)
            fresh.append(item)
            keys.append((key, version))
        return fresh, keys, page_max

    @staticmethod
    def _add_client_stats(summary: RunSummary, client: GraphClient) -> None:
        stats = client.stats
        summary.requests = stats.requests
        summary.throttled = stats.throttled
        summary.retries = stats.retries
        summary.waited_seconds = round(stats.waited_seconds, 3)

    # --- failures and status

    def _cleanup_store(self, store: CheckpointStore) -> CheckpointStore:
        return CheckpointStore(self._cleanup_state, store.prefix)

    def _record_failure(self, store: CheckpointStore, name: str, tenant: str, run_id: str, summary: RunSummary, *,
                        storage_failed: bool) -> None:
        """Keep the last error in the checkpoint for the status endpoint, leaving the cursor and everything else as
        stored. Best effort: the failure may be storage itself. Only while this run still owns the checkpoint
        (`writer` is this run), so that a run that lost it cannot record over the new owner's; the save is
        conditional on the ETag it loaded, which settles a race with the new owner's claim.

        When the failure was not storage's, no write of this run can still be on its way (each one answered), so
        the checkpoint is released: the next run need not seal a name. After a storage error a create may have
        reached storage without its answer reaching us, so the claim stays and the next run settles the name."""
        from azure.core.exceptions import AzureError

        try:
            checkpoint, etag = store.load(name, tenant)
            if checkpoint.writer != run_id:
                log.warning("Not recording the failure of %s/%s: this run does not own the checkpoint", name, tenant)
                return
            checkpoint.last_error = {"at": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"), "message": summary.error or ""}
            if not storage_failed:
                checkpoint.writer = None
            store.save(checkpoint, etag)
        except (AzureError, CheckpointConflict, ValueError) as exc:
            log.warning("Could not record the failure of %s/%s: %s", name, tenant, exc)

    def status(self, tenants: tuple[Tenant, ...] | None = None) -> list[dict[str, Any]]:
        """Per tenant and exported stream: cursor, last success, last error, lag, pass in progress. The checkpoints
        are read a few at a time: a thousand tenants are six thousand small reads."""
        from concurrent.futures import ThreadPoolExecutor

        from shared.tenants import current_tenants

        now = self._now()
        listed = tenants if tenants is not None else current_tenants(self.settings).tenants
        pairs = [(tenant.id, stream) for tenant in listed for stream in tenant.export_streams(self.settings)]
        with ThreadPoolExecutor(max_workers=min(STATUS_READ_THREADS, max(1, len(pairs)))) as pool:
            return list(pool.map(lambda pair: status_row(self.checkpoints.load(pair[1], pair[0])[0], now), pairs))


def status_row(checkpoint: Checkpoint, now: datetime) -> dict[str, Any]:
    return {
        "stream": checkpoint.stream,
        "tenant": checkpoint.tenant,
        "cursor": checkpoint.cursor,
        "lagSeconds": lag_seconds(checkpoint.cursor, now),
        "lastSuccess": checkpoint.last_success,
        "lastError": checkpoint.last_error,
        "passInProgress": checkpoint.pass_state is not None,
        "blobsWritten": checkpoint.seq,
        "lastRun": checkpoint.last_run,
    }


def describe_error(exc: BaseException, stream: Stream) -> str:
    """A message an operator can act on."""
    if isinstance(exc, GraphError):
        if exc.status == 403:
            return (f"{exc} - the app lacks the Graph application permission {stream.permission} "
                    "(or the tenant lacks the licence this API needs)")
        if exc.status == 401:
            return f"{exc} - Graph refused the token: check the identity and GRAPH_CLOUD"
        return str(exc)
    if isinstance(exc, CheckpointConflict | LeaseLost):
        # Fenced: anything this run wrote after losing the lease was refused or is adopted by the new owner.
        return (f"this run lost its lease: {exc}; another run took over and this one stopped, leaving its "
                "unrecorded work to that run")
    return f"{type(exc).__name__}: {exc}"
