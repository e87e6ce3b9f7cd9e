"""Validation of "export now" requests (HTTP) into engine calls, the HTTP status of their outcome, and the
asynchronous form of the request (`Prefer: respond-async`): a job of shared.actions.jobs whose units are the
tenants, run by the same queue-triggered worker as the bulk actions.

Why asynchronous only on request: how long a run takes is only known when it is done (a backlog, a backfill of a
month, Graph throttling), so the answer cannot be "synchronous when short" without either holding the run's lease
across a hand-over or splitting one run between two owners. A client that prefers an answer at once (the connector
always sends the preference) gets 202 and the job's Location; one that does not gets the run's summaries as before,
cut at HTTP_TIME_BUDGET_SECONDS.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.export.engine import RunSummary
from shared.export.streams import STREAMS
from shared.problems import Problem
from shared.settings import Settings
from shared.storage.clients import Patience
from shared.tenants import current_tenants

if TYPE_CHECKING:
    from shared.actions.jobs import Job
    from shared.actions.service import Answer
    from shared.actions.validation import HttpCall

log = logging.getLogger("graph_security_bridge.export")

# The Functions front end cuts HTTP requests at 230 s whatever functionTimeout says; a run started over HTTP stops
# well before that and the timer (or the next call) resumes it.
HTTP_TIME_BUDGET_SECONDS = 200
MAX_BODY_BYTES = 4096


@dataclass(frozen=True)
class RunRequest:
    stream: str
    tenants: tuple[str, ...]
    backfill: tuple[datetime, datetime] | None


def _parse_time(name: str, value: object) -> datetime:
    if not isinstance(value, str):
        raise Problem(400, "Invalid backfill window", f"'{name}' must be an ISO 8601 UTC time such as "
                      "2026-11-01T00:00:00Z")
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise Problem(400, "Invalid backfill window", f"'{name}'={value!r} is not an ISO 8601 time") from None
    if moment.tzinfo is None:
        raise Problem(400, "Invalid backfill window", f"'{name}' needs a time zone, e.g. a trailing Z")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # 0001-01-01T00:00:00+14:00 is before the first representable UTC moment
        raise Problem(400, "Invalid backfill window", f"'{name}'={value!r} is out of range") from None


def parse_run_request(settings: Settings, stream: str, tenant: str | None, body: bytes,
                      now: datetime | None = None) -> RunRequest:
    """Check a run request; raises Problem (4xx) naming what is wrong. Nothing runs before this passes."""
    by_lower = {name.lower(): name for name in STREAMS}
    name = by_lower.get(stream.lower())
    if name is None:
        raise Problem(404, "Unknown stream", f"'{stream}' is not a stream; streams: {', '.join(STREAMS)}")
    if name not in settings.export_streams:
        raise Problem(409, "Stream not enabled", f"'{name}' is not in EXPORT_STREAMS "
                      f"({', '.join(settings.export_streams)})")
    listed = current_tenants(settings, patience=Patience.INTERACTIVE)
    if tenant:
        entry = listed.get(tenant)
        if entry is None:
            raise Problem(400, "Unknown tenant", f"'tenant' must be a tenant of the tenant list ({listed.source})")
        if name not in entry.export_streams(settings):
            raise Problem(409, "Stream not enabled", f"'{name}' is not exported for tenant {entry.id} (its "
                          f"streams in the tenant list: {', '.join(entry.export_streams(settings)) or 'none'})")
        tenants: tuple[str, ...] = (entry.id,)
    else:
        tenants = tuple(t.id for t in listed.tenants if name in t.export_streams(settings))
    backfill = None
    if body.strip():
        if len(body) > MAX_BODY_BYTES:
            raise Problem(413, "Body too large", f"at most {MAX_BODY_BYTES} bytes")
        try:
            payload = json.loads(body)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, or nested deeper than the parser's stack
            raise Problem(400, "Malformed JSON", "the body must be a JSON object") from None
        if not isinstance(payload, dict):
            raise Problem(400, "Malformed JSON", "the body must be a JSON object")
        unknown = sorted(set(payload) - {"from", "to"})
        if unknown:
            raise Problem(400, "Unknown fields", f"unknown field(s): {', '.join(unknown)}; allowed: from, to")
        if payload and STREAMS[name].context:
            raise Problem(400, "No backfill of a context stream", f"'{name}' exports the context of the entities "
                          "the other streams' blobs name: backfill those streams and it follows them")
        if payload:
            start = _parse_time("from", payload.get("from"))
            end = _parse_time("to", payload.get("to"))
            now = now or datetime.now(UTC)
            if not start < end:
                raise Problem(400, "Invalid backfill window", "'from' must be before 'to'")
            if end > now + timedelta(minutes=1):
                raise Problem(400, "Invalid backfill window", "'to' must not be in the future")
            backfill = (start, end)
    return RunRequest(stream=name, tenants=tenants, backfill=backfill)


def status_for(summaries: list[RunSummary]) -> int:
    """200 when every run finished or made progress; 409 when a run was skipped (another holds the lease);
    502 when Graph or storage failed a run (the summaries say which and why)."""
    return _status_of(s.status for s in summaries)


def _status_of(statuses: Iterable[str]) -> int:
    seen = set(statuses)
    if "failed" in seen:
        return 502
    if "skipped" in seen:
        return 409
    return 200


@contextmanager
def storage_unavailable(what: str) -> Iterator[None]:
    """Turn a storage failure into a 503 problem (with Retry-After) instead of a generic 500."""
    from azure.core.exceptions import AzureError

    try:
        yield
    except AzureError as exc:
        log.error("%s: storage failed: %s", what, exc)
        raise Problem(503, "Storage unavailable", f"{what}: Blob Storage did not answer. Retry later.",
                      headers={"Retry-After": "30"}) from None


# --- the asynchronous form: a job per request, a unit per tenant

# An engine run inside a job stops after this long (or the job worker's budget, if sooner) and the next one resumes
# from its checkpoint: the job is saved, and its lease renewed, between two runs.
JOB_RUN_SECONDS = 30
_SUMMED = ("items", "duplicates", "blobs", "bytes", "pages", "requests", "throttled", "retries")
_SUMMED_SECONDS = ("waited_seconds", "seconds")


def merge_summaries(before: dict[str, Any] | None, after: dict[str, Any]) -> dict[str, Any]:
    """One summary of consecutive engine runs of one stream and tenant: counts added up, the state (status, cursor,
    lag, error) of the last run, `engine_runs` how many there were."""
    if before is None:
        return {**after, "engine_runs": 1}
    merged = {**after, "engine_runs": int(before.get("engine_runs", 1)) + 1}
    for name in _SUMMED:
        merged[name] = int(before.get(name) or 0) + int(after.get(name) or 0)
    for name in _SUMMED_SECONDS:
        merged[name] = round(float(before.get(name) or 0) + float(after.get(name) or 0), 3)
    for name in ("notes", "crowded_timestamps"):
        merged[name] = [*before.get(name, []), *after.get(name, [])]
    for name in ("ocsf", "enrichment"):  # counters by name
        counts = dict(before.get(name) or {})
        for key, value in (after.get(name) or {}).items():
            old = counts.get(key)
            both_numbers = isinstance(value, int | float) and isinstance(old, int | float)
            counts[key] = old + value if both_numbers else value
        merged[name] = counts
    return merged


def _window(job: Job) -> tuple[datetime, datetime] | None:
    window = job.request.get("backfill")
    return (datetime.fromisoformat(window[0]), datetime.fromisoformat(window[1])) if window else None


class ExportJobKind:
    """Runs an export job tenant by tenant: engine runs of at most JOB_RUN_SECONDS until the stream is done for the
    tenant. The engine's lease and checkpoint keep its exactly-once contract (a job is just another caller of
    ExportEngine.run). A run that finds the lease busy is the tenant's result, reported as skipped (409), never
    taken for a success; a failed run likewise (502)."""

    slice_size = 1

    def run_slice(self, settings: Settings, job: Job, units: list[str], budget_seconds: float,
                  keep_alive: Callable[[], None]) -> dict[str, Any]:
        from shared.export.engine import ExportEngine

        (tenant,) = units
        lost: list[Exception] = []

        def renew_job_lease(_: RunSummary) -> None:
            # After each page (a page slowed by Graph's throttling can outlast the job's lease). A lost job lease
            # must not fail the export run, which is sound whoever holds the job: it is raised after the run.
            if not lost:
                try:
                    keep_alive()
                except Exception as exc:
                    lost.append(exc)

        engine = ExportEngine(settings)
        seconds = max(1.0, min(float(settings.time_budget_seconds), JOB_RUN_SECONDS, budget_seconds))
        summary = engine.run(job.request["stream"], tenant, backfill=_window(job), time_budget_seconds=seconds,
                             progress=renew_job_lease)
        if lost:
            raise lost[0]
        merged = merge_summaries(job.pending.get(tenant), summary.as_dict())
        if summary.status == "partial":  # its time was up: the next run resumes from the checkpoint
            job.pending[tenant] = merged
            return {}
        job.pending.pop(tenant, None)
        return {tenant: merged}

    def answer(self, job: Job) -> dict[str, Any]:
        runs = [job.results[tenant] for tenant in job.ids]
        return {"status": _status_of(str(run.get("status")) for run in runs), "body": {"runs": runs}, "headers": {}}


def start_job(settings: Settings, request: RunRequest, call: HttpCall, route: str) -> Answer:
    """Start (or join) the job of a validated run request: 202 with the job's Location.

    The same request sent again must not run twice. With an Idempotency-Key, the job id is a hash of the request and
    the key: any repeat joins that job, running or done (its Location gives the stored summaries). Without one, a
    repeat joins the job while it runs, and once it is done the same request starts a new run (an "export now" is
    meant to be sent again later)."""
    from shared.actions import jobs, validation
    from shared.actions.caller import caller_of
    from shared.actions.errors import storage_problem

    key = validation.idempotency_key(call)
    window = [moment.isoformat() for moment in request.backfill] if request.backfill else None
    identity = ["RunExport", request.stream, list(request.tenants), window]
    caller = caller_of(call.headers, call.params)
    tenant = request.tenants[0] if len(request.tenants) == 1 else ""

    def make(job_id: str) -> Job:
        return jobs.new_job(job_id, "RunExport", jobs.EXPORT_HANDLER, tenant, caller,
                            {"stream": request.stream, "backfill": window}, list(request.tenants))

    with storage_problem("the job record"):  # nothing is queued without the record
        store = jobs.JobStore(settings)
        if key is not None:
            job, created = jobs.open_job(store, make(jobs.job_id_of([*identity, key])))
        else:
            job, created = jobs.open_series_job(store, jobs.job_id_of(identity), make)
    return jobs.accepted(job, created, jobs.status_url(call.url, route, call.params, job.id))
