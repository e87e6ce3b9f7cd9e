"""The incremental export: Graph pages in, gzip NDJSON blobs out, every version exactly once.

One run of one (tenant, stream):
1. take the lease (or skip: another run is at it);
2. load the checkpoint; delete the blob a crashed run may have left at the checkpoint's next name (it was written but
   never recorded, and the pages it holds will be written again); fix this run's hour folder;
3. if no pass is in progress, start one from `cursor - overlap` (first run: `now - lookback`);
4. for each page (from the saved nextLink, if resuming): drop versions already written, write the rest as one blob
   (and, with EXPORT_FORMATS=graph,ocsf, its OCSF twin: shared/ocsf/output.py), then save the checkpoint (keys,
   next blob number, nextLink) - data before checkpoint;
5. when the pass reads its last page, the cursor moves to the largest version the pass saw.
A run stops cleanly when its time budget is spent; the next run resumes from the saved nextLink.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.blob_sink import blob_name, delete_if_exists, partition_of, write_blob
from shared.checkpoints import Checkpoint, CheckpointConflict, CheckpointStore, PassState, SeenVersions
from shared.enrichment import Enricher
from shared.graph_client import GraphClient, GraphError
from shared.leases import LeaseBusy, LeaseLost, RunLease
from shared.ocsf.output import OcsfOutput, discard_twin
from shared.streams import STREAMS, Stream
from shared.versions import from_datetime, normalize_version, odata_literal, shift, to_datetime

if TYPE_CHECKING:
    from azure.storage.blob import BlobServiceClient, ContainerClient

    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.export")

# Status codes with which Graph refuses a saved nextLink whose skip token has expired: start the pass again
# (de-duplication makes the repeat harmless).
STALE_LINK_STATUSES = frozenset({400, 404, 410})


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
    ocsf: dict[str, int] = field(default_factory=dict)  # with EXPORT_FORMATS=graph,ocsf: items, blobs, bytes, fallbacks
    enrichment: dict[str, Any] = field(default_factory=dict)  # with EXPORT_ENRICH=true (alerts): lookups, failures

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def log_line(self) -> str:
        return "export summary " + json.dumps(self.as_dict(), separators=(",", ":"))


class StepHook:
    """Called at each step boundary of a run; the default does nothing. Tests use it to crash a run between two
    steps (raising a BaseException, as a killed worker would stop), which is why the steps are named."""

    STEPS = ("after_fetch", "after_blob_write", "after_ocsf_write", "before_checkpoint", "after_checkpoint")

    def __call__(self, step: str, summary: RunSummary) -> None:
        return None


_ensured_containers: set[tuple[str, str]] = set()
_ensured_lock = threading.Lock()


def ensure_container(container: ContainerClient) -> None:
    """Create the container once per process if it is missing. In Azure the Bicep creates the containers and the
    app's role is scoped to them, so a 403 on create is expected and harmless there."""
    from azure.core.exceptions import HttpResponseError, ResourceExistsError

    key = (container.url, container.container_name)
    with _ensured_lock:
        if key in _ensured_containers:
            return
        try:
            container.create_container()
        except ResourceExistsError:
            pass
        except HttpResponseError as exc:
            if exc.status_code != 403:
                raise
        _ensured_containers.add(key)


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
    ) -> None:
        from shared.storage import blob_service as default_blob_service

        self.settings = settings
        self._blobs = blob_service or default_blob_service(settings)
        self._client_factory = client_factory or (lambda tenant: GraphClient(settings, tenant))
        self._now = now
        self._monotonic = monotonic
        self._hook = hook or StepHook()
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
        return [
            self.run(stream, tenant, progress=progress)
            for tenant in (tenants or self.settings.tenant_ids)
            for stream in (streams or self.settings.export_streams)
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
            lease = RunLease(self.state, lease_name)
            try:
                lease.acquire()
            except LeaseBusy:
                summary.status = "skipped"
                summary.error = "another run of this stream holds the lease"
                log.info("Skipping %s for tenant %s: another run holds the lease", stream.name, tenant)
                return summary
            try:
                budget = time_budget_seconds or self.settings.time_budget_seconds
                self._run_locked(stream, tenant, lease, summary, backfill, backfill_label, started + budget, progress)
            except Exception as exc:
                summary.status = "failed"
                summary.error = describe_error(exc, stream)
                if not isinstance(exc, CheckpointConflict | LeaseLost):
                    store = self.backfill_checkpoints if backfill else self.checkpoints
                    self._record_failure(store, self._checkpoint_name(stream, backfill_label), tenant, summary)
                raise
            finally:
                lease.release()
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

        # A blob at the next name was written by a run that died before recording it: its versions are not in
        # `seen`, so they will be written again. Remove it so that no version is in two blobs.
        if checkpoint.partition and delete_if_exists(self.exports, name_of(checkpoint.seq)):
            log.warning("Removed unrecorded blob %s left by an interrupted run", name_of(checkpoint.seq))
        # Its OCSF twin too (or a twin alone: the run died between the two writes), whatever EXPORT_FORMATS says now.
        if checkpoint.partition:
            discard_twin(self.exports, name_of(checkpoint.seq))
        partition = partition_of(self._now())
        if checkpoint.partition is None or partition > checkpoint.partition:
            # Record this run's folder before writing into it, so a crash leaves its orphan where we look.
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
        pass_state = checkpoint.pass_state
        first_params = self._query(stream, pass_state)
        enricher = Enricher(client, tenant) if self.settings.enrich and stream.name == "alerts" else None
        resumed_link = pass_state.next_link

        while True:
            if self._monotonic() >= deadline:
                summary.status = "partial"
                log.info("Time budget spent for %s/%s; the next run resumes from the saved page", stream.name, tenant)
                break
            url = pass_state.next_link
            try:
                response = client.request("GET", url or stream.path, params=None if url else first_params,
                                          family=stream.family)
            except GraphError as exc:
                if url and url == resumed_link and exc.status in STALE_LINK_STATUSES:
                    log.warning("Saved nextLink for %s/%s was refused (%s); restarting the pass from %s",
                                stream.name, tenant, exc.code, pass_state.low)
                    pass_state.next_link = resumed_link = None
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
                versions = [v for _, v in fresh_keys if v]
                written = write_blob(
                    self.exports,
                    name_of(checkpoint.seq),
                    fresh,
                    metadata={
                        "stream": stream.name,
                        "tenant": tenant,
                        "record_count": str(len(fresh)),
                        "min_version": min(versions) if versions else "",
                        "max_version": max(versions) if versions else "",
                        "seq": str(checkpoint.seq),
                    },
                    level=self.settings.gzip_level,
                )
                self._hook("after_blob_write", summary)
                if self._ocsf:
                    self._write_ocsf(stream, tenant, name_of(checkpoint.seq), fresh, summary)
                self._hook("after_ocsf_write", summary)
                for key, version in fresh_keys:
                    checkpoint.seen.add(key, version)
                checkpoint.seq += 1
                summary.blobs += 1
                summary.items += written.records
                summary.bytes += written.bytes

            pass_state.next_link = next_link
            done = not next_link
            if done:
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
        lease.ensure()
        store.save(checkpoint, etag)

    def _write_ocsf(self, stream: Stream, tenant: str, graph_blob: str, records: list[dict[str, Any]],
                    summary: RunSummary) -> None:
        """The OCSF twin of the blob just written, before the checkpoint that records both (shared/ocsf/output.py
        says why a crash between the two never leaves one without the other)."""
        assert self._ocsf is not None
        written = self._ocsf.write(self.exports, graph_blob, stream.name, tenant, records)
        if written is not None:
            for key, value in (("items", written.blob.records), ("blobs", 1), ("bytes", written.blob.bytes),
                               ("fallbacks", written.fallbacks)):
                summary.ocsf[key] = summary.ocsf.get(key, 0) + value

    @staticmethod
    def _checkpoint_name(stream: Stream, backfill_label: str | None) -> str:
        return f"{stream.name}/{backfill_label}" if backfill_label else stream.name

    def _query(self, stream: Stream, pass_state: PassState) -> dict[str, str]:
        params = {"$top": str(stream.page_cap)}
        if stream.filterable:
            clauses = [f"{stream.cursor_field} ge {odata_literal(pass_state.low)}"]
            if pass_state.high:
                clauses.append(f"{stream.cursor_field} lt {odata_literal(pass_state.high)}")
            params["$filter"] = " and ".join(clauses)
        if stream.name == "incidents" and self.settings.incidents_expand_alerts:
            params["$expand"] = "alerts"
        return params

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

    def _record_failure(self, store: CheckpointStore, name: str, tenant: str, summary: RunSummary) -> None:
        """Keep the last error in the checkpoint for the status endpoint, leaving the cursor and everything else as
        stored. Best effort: the failure may be storage itself."""
        from azure.core.exceptions import AzureError

        try:
            checkpoint, etag = store.load(name, tenant)
            checkpoint.last_error = {"at": self._now().strftime("%Y-%m-%dT%H:%M:%SZ"), "message": summary.error or ""}
            store.save(checkpoint, etag)
        except (AzureError, CheckpointConflict, ValueError) as exc:
            log.warning("Could not record the failure of %s/%s: %s", name, tenant, exc)

    def status(self) -> list[dict[str, Any]]:
        """Per tenant and configured stream: cursor, last success, last error, lag, pass in progress."""
        now = self._now()
        rows = []
        for tenant in self.settings.tenant_ids:
            for stream_name in self.settings.export_streams:
                checkpoint, _ = self.checkpoints.load(stream_name, tenant)
                rows.append(status_row(checkpoint, now))
        return rows


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
    if isinstance(exc, CheckpointConflict):
        return f"{exc}; this run stopped so that the other one wins"
    if isinstance(exc, LeaseLost):
        return f"{exc}; this run stopped before writing"
    return f"{type(exc).__name__}: {exc}"
