"""The incremental export: Graph pages in, gzip NDJSON blobs out, every version exactly once.

One run of one (tenant, stream):
1. take the lease (or skip: another run is at it);
2. load the checkpoint. If its `writer` is set, the run before did not finish cleanly (it crashed, or it is stalled
   and may wake): claim the checkpoint at once (save it with this run as its `writer`; from then on its ETag fences
   every earlier run: their saves fail), settle the next blob name: adopt the blob there (its versions count as
   written; with OCSF on, its OCSF twin is created from it if missing) or seal the name with an empty blob, so that
   the earlier run's one possible late write finds the name taken; then fix this run's hour folder;
3. otherwise the claim waits until the run has something to write (`hold`, before its first blob): a run that
   writes nothing saves only its outcome, conditional on the ETag it loaded;
4. if no pass is in progress, start one from `cursor - overlap` (first run: `now - lookback`);
5. for each page (from the saved nextLink, if resuming): drop versions already written, create the rest as one blob
   (create-only: a name taken by another run means this run was superseded) and, with EXPORT_FORMATS=graph,ocsf, its
   OCSF twin (shared/ocsf/output.py), then save the checkpoint (keys, next blob number, where the pass reads next) -
   data before checkpoint; the last page's save also records the run's outcome and clears `writer`;
6. the pass follows nextLinks, and where a page may have been cut short without one, continues from the data
   (shared/export/paging.py) until it has proved that it read everything; then the cursor moves to the largest
   version the pass saw.
A run stops cleanly when its time budget is spent; the next run resumes where the pass stopped. Nothing is ever
deleted or overwritten, which is what makes a stale run harmless: docs/exactly-once.md gives the argument.

This module takes the lease and reports; steps 2 to 6 are the methods of shared/export/run.py's StreamRun.
"""

from __future__ import annotations

import json
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.export.checkpoints import Checkpoint, CheckpointConflict, CheckpointStore
from shared.export.run import Backfill, StreamRun, checkpoint_name, lag_seconds
from shared.export.streams import STREAMS, Stream
from shared.graph.client import GraphClient, GraphError, shared_session
from shared.ocsf.output import OcsfOutput
from shared.storage.clients import Patience, ensure_container
from shared.storage.leases import LEASE_SECONDS, LeaseBusy, LeaseLost, RunLease

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient

    from shared.settings import Settings
    from shared.tenants import Tenant

log = logging.getLogger("graph_security_bridge.export")

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
    context: dict[str, Any] = field(default_factory=dict)  # context streams: entities, lookups, denied permissions

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
        self.client_factory = client_factory or (lambda tenant: GraphClient(settings, tenant,
                                                                            session=shared_session()))
        self.now = now
        self.monotonic = monotonic
        self.hook = hook or StepHook()
        self._lease_seconds = lease_seconds
        self.ocsf = OcsfOutput(settings.ocsf_version, settings.gzip_level) if "ocsf" in settings.export_formats \
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
        started = self.monotonic()
        summary = RunSummary(stream=stream.name, tenant=tenant)
        window = Backfill(*backfill) if backfill is not None else None
        if window is not None:
            summary.backfill = window.label
        lease_name = f"locks/{stream.name}/{tenant}" + (f"/backfill-{window.label}" if window else "")
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
            stream_run: StreamRun | None = None
            try:
                budget = time_budget_seconds or self.settings.time_budget_seconds
                stream_run = StreamRun(self, stream, tenant, lease=lease, run_id=run_id, summary=summary,
                                       backfill=window, deadline=started + budget, progress=progress)
                stream_run.execute()
            except Exception as exc:
                from azure.core.exceptions import AzureError

                summary.status = "failed"
                summary.error = describe_error(exc, stream)
                if not isinstance(exc, CheckpointConflict | LeaseLost):
                    store = self.backfill_checkpoints if window else self.checkpoints
                    self._record_failure(self._cleanup_store(store), checkpoint_name(stream, window), tenant,
                                         run_id, summary, storage_failed=isinstance(exc, AzureError),
                                         seen_etag=stream_run.etag if stream_run else None)
                raise
            finally:
                lease.release(self._cleanup_state)
        except Exception as exc:  # reported in the summary and the log, never swallowed silently
            summary.status = "failed"
            summary.error = summary.error or describe_error(exc, stream)
            log.error("Export of %s for tenant %s failed: %s", stream.name, tenant, summary.error)
        finally:
            summary.seconds = round(self.monotonic() - started, 3)
            log.info(summary.log_line())
        return summary

    # --- failures and status

    def _cleanup_store(self, store: CheckpointStore) -> CheckpointStore:
        return CheckpointStore(self._cleanup_state, store.prefix)

    def _record_failure(self, store: CheckpointStore, name: str, tenant: str, run_id: str, summary: RunSummary, *,
                        storage_failed: bool, seen_etag: str | None) -> None:
        """Keep the last error in the checkpoint for the status endpoint, leaving the cursor and everything else as
        stored. Best effort: the failure may be storage itself. Only while this run still owns the checkpoint: it is
        the `writer`, or it never needed to be (it wrote no blob) and the checkpoint is still as this run last saw
        it (`seen_etag`; None for one that did not exist). A run that lost the checkpoint does not record over the
        new owner's; the save is conditional on the ETag loaded here, which settles a race with a new claim.

        When the failure was not storage's, no write of this run can still be on its way (each one answered), so
        the checkpoint is released: the next run need not seal a name. After a storage error a create may have
        reached storage without its answer reaching us, so the claim stays and the next run settles the name."""
        from azure.core.exceptions import AzureError

        try:
            checkpoint, etag = store.load(name, tenant)
            if checkpoint.writer != run_id and not (checkpoint.writer is None and etag == seen_etag):
                log.warning("Not recording the failure of %s/%s: this run does not own the checkpoint", name, tenant)
                return
            checkpoint.last_error = {"at": self.now().strftime("%Y-%m-%dT%H:%M:%SZ"), "message": summary.error or ""}
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

        now = self.now()
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
