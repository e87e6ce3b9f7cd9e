"""Long requests as asynchronous operations (the asynchronous request-reply pattern Logic Apps follows natively).

A bulk update or risky-user/service-principal request that sends `Prefer: respond-async` and holds more ids than one
Graph call takes, or an "export now" that sends it (shared.export.run_requests), is answered at once with 202, a
`Location` (the job's status URL) and `Retry-After`; a queue-triggered function (functions/jobs.py) does the work and
the `Location` answers 202 until the job is done, then the same answer the synchronous request would have given (200
with a result per id, or the common error; for an export, the run summaries).

A job is a list of units (alert, user or service principal ids; the tenants of an export) and a JobKind that knows
how to work through a slice of them and how to answer once every unit has its result. This module holds what every
kind shares: the record, its store, the status URL and answer, and the worker loop.

What makes it safe:
- The job is a blob in the state container (`jobs/<id>.json`) holding the validated request, who sent it, and the
  result of every id done so far. The worker runs the ordinary handler on slices of SLICE_IDS ids and saves the
  results after each slice, so a worker that dies loses at most one slice of progress, and the next delivery of the
  queue message resumes where the blob says. Graph calls, pacing, audit lines and per-id results are those of the
  synchronous request, because it is the same code. An id of a slice interrupted before its results were saved is
  sent again (a state set twice: the same outcome), and its audit line can appear twice.
- The job id is a hash of the tenant, the operation, the validated request and the Idempotency-Key header (without
  a key: the UTC day; an export without a key joins the running job of the same request, see open_series_job), and
  the blob is created only if absent: the same request sent again (a retry) gets the same job, not a second one.
- One worker at a time per job (a blob lease); a worker stops after WORKER_BUDGET_SECONDS and queues a message to
  continue, so a job of any size never runs into the function timeout.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlencode, urlsplit, urlunsplit

from shared.actions import validation
from shared.actions.operations import Operation
from shared.problems import Problem
from shared.storage.json_blob import BlobConflict, JsonBlob, Versioned, as_object

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.actions.service import Answer, Context
    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.actions")

MAX_ASYNC_IDS = 5000  # ids one asynchronous request may hold (the synchronous limit is ACTIONS_MAX_BULK_IDS)
# Ids per handler run in the worker; progress is saved after each. 100 alerts take about 40 s at Graph's default
# budget of 150 requests a minute, within the job lease (shared.storage.leases renews it before each save).
SLICE_IDS = 100
WORKER_BUDGET_SECONDS = 240  # per worker invocation (host.json functionTimeout is 10 minutes)
POLL_SECONDS = 10  # Retry-After of a running job
# A job of a series (open_series_job) untouched for this long is taken for stalled (its message went to the poison
# queue, or was lost): a new request starts a new job instead of joining it. A running job is saved after every
# slice; a worker that keeps failing is retried 5 times, 30 s apart, each attempt at most WORKER_BUDGET_SECONDS.
SERIES_STALL_SECONDS = 15 * 60
JOB_ID_LENGTH = 32
_PREFIX = "jobs/"


class JobKind(Protocol):
    """What a kind of job does with its units; the worker loop (work) does the rest."""

    @property
    def slice_size(self) -> int:
        """Units per run_slice call; the job is saved after each."""
        ...

    def run_slice(self, settings: Settings, job: Job, units: list[str], budget_seconds: float,
                  keep_alive: Callable[[], None]) -> dict[str, Any]:
        """The final results of the units it finished (by unit), within about `budget_seconds`. A unit left out
        is tried again by the next call; progress within a unit may be kept in `job.pending`. `keep_alive` renews
        the job's lease (raising LeaseLost when another worker took the job): call it at each step of a long slice."""
        ...

    def answer(self, job: Job) -> dict[str, Any]:
        """The job's answer once every unit has its result: {"status", "body", "headers"} (and "problem": True for
        an error answer)."""
        ...


@dataclass(frozen=True)
class AsyncKind:
    """A bulk action (bulk alert update, risky users or service principals): units are the ids of the request."""

    field: str  # the ids field of the body
    sync_ids: int  # up to this many ids the request is answered synchronously (one Graph call)
    success: str  # the per-id result on success
    what: str  # for messages
    slice_size: int = SLICE_IDS

    def run_slice(self, settings: Settings, job: Job, units: list[str], budget_seconds: float,
                  keep_alive: Callable[[], None]) -> dict[str, Any]:
        # A slice of SLICE_IDS ids takes about 40 s at Graph's default budget: within the lease, renewed after it.
        results = _run_slice(settings, job, self, units, budget_seconds)
        return {str(r["id"]): r for r in results if r.get("result") != "notAttempted" and r.get("id") in units}

    def answer(self, job: Job) -> dict[str, Any]:
        from shared.actions.service import summarize

        ordered = [job.results[item_id] for item_id in job.ids]
        try:
            answer = summarize(ordered, self.success, self.what)
        except Problem as problem:
            return {"status": problem.status, "body": problem.body(), "headers": problem.headers, "problem": True}
        return {"status": answer.status, "body": answer.body, "headers": answer.headers}


EXPORT_HANDLER = "export_run"  # the handler name of "export now" jobs (shared.export.run_requests.ExportJobKind)


def _kinds() -> dict[str, JobKind]:
    from shared.actions import vocabulary as v
    from shared.actions.service import RISKY_ACTIONS
    from shared.export.run_requests import ExportJobKind

    kinds: dict[str, JobKind] = {"bulk_update_alerts": AsyncKind("ids", v.BATCH_CHUNK, "updated", "alerts")}
    for handler, spec in RISKY_ACTIONS.items():
        kinds[handler] = AsyncKind(spec.field, v.RISKY_CHUNK, spec.result, f"{spec.what}s")
    kinds[EXPORT_HANDLER] = ExportJobKind()
    return kinds


def prefers_async(call: validation.HttpCall) -> bool:
    """Whether the request asks for an asynchronous answer (RFC 7240 `Prefer: respond-async`)."""
    prefer = call.header("prefer") or ""
    tokens = {part.split("=")[0].strip().lower() for item in prefer.split(",") for part in item.split(";")[:1]}
    return "respond-async" in tokens


def wants_async(op: Operation, call: validation.HttpCall) -> bool:
    """Whether the request asks for an asynchronous answer and is a bulk action that may have one."""
    return prefers_async(call) and isinstance(_kinds().get(op.handler), AsyncKind)


# --- the job record


@dataclass
class Job:
    id: str
    operation: str
    handler: str
    tenant: str
    caller: dict[str, Any]
    request: dict[str, Any]  # the validated body
    ids: list[str]  # the units: alert, user or service principal ids; the tenants of an export
    results: dict[str, dict[str, Any]] = field(default_factory=dict)
    pending: dict[str, Any] = field(default_factory=dict)  # a kind's progress within unfinished units
    answer: dict[str, Any] | None = None  # {"status", "body", "headers"} once done
    created: str = ""
    updated: str = ""
    last_error: str | None = None

    @property
    def remaining(self) -> list[str]:
        return [item_id for item_id in self.ids if item_id not in self.results]

    def to_json(self) -> dict[str, Any]:
        return dict(self.__dict__)

    @classmethod
    def from_json(cls, document: Any) -> Job:
        return cls(**as_object(document))


class JobStore:
    def __init__(self, settings: Settings) -> None:
        from shared.storage.clients import Patience, blob_service, ensure_container

        self.container: ContainerClient = blob_service(settings, patience=Patience.INTERACTIVE).get_container_client(
            settings.state_container)
        ensure_container(self.container)

    def _document(self, job_id: str) -> JsonBlob[Job]:
        return JsonBlob(self.container.get_blob_client(_PREFIX + job_id + ".json"), Job.from_json, Job.to_json)

    def create(self, job: Job) -> bool:
        """Store a new job; False when a job with this id exists already."""
        try:
            self._document(job.id).save(job, None)
        except BlobConflict:
            return False
        return True

    def load(self, job_id: str) -> Versioned[Job] | None:
        """The job and its ETag; None when there is no such job. CorruptBlob when its record cannot be read."""
        return self._document(job_id).load()

    def save(self, job: Job, etag: str) -> str:
        """Write the job's progress; BlobConflict when another worker wrote it since `etag`."""
        job.updated = _now()
        return self._document(job.id).save(job, etag)


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def status_url(request_url: str, route: str, params: Mapping[str, str], job_id: str) -> str:
    """The job's status URL beside the route that answered `request_url` (its template `route`, whose segments are
    dropped from the path), with `code` when the request was authorized with it."""
    parts = urlsplit(request_url)
    segments = parts.path.rstrip("/").split("/")
    depth = len(route.strip("/").split("/"))
    base = "/".join(segments[:-depth]) if len(segments) > depth else "/api"
    query = urlencode({"code": params["code"]}) if params.get("code") else ""
    return urlunsplit((parts.scheme, parts.netloc, f"{base}/jobs/{job_id}", query, ""))


def job_id_of(identity: object) -> str:
    """A job id from what makes two requests the same (JSON-serializable)."""
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:JOB_ID_LENGTH]


def _progress(job: Job) -> dict[str, Any]:
    progress = {"id": job.id, "status": "done" if job.answer else "running", "operation": job.operation,
                "requested": len(job.ids), "done": len(job.results), "created": job.created, "updated": job.updated}
    if job.last_error and not job.answer:
        progress["lastError"] = job.last_error  # the worker retries; after 5 failed deliveries it gives up
    return progress


def new_job(job_id: str, operation: str, handler: str, tenant: str, caller: dict[str, Any], request: dict[str, Any],
            units: list[str]) -> Job:
    now = _now()
    return Job(job_id, operation, handler, tenant, caller, request, units, created=now, updated=now)


def open_job(store: JobStore, job: Job) -> tuple[Job, bool]:
    """Store `job`, or find the job stored under its id (a repeat of its request). True when it is new."""
    if store.create(job):
        return job, True
    loaded = store.load(job.id)
    return (loaded.value if loaded is not None else job), False


def open_series_job(store: JobStore, series: str, make: Callable[[str], Job]) -> tuple[Job, bool]:
    """The running job of a series of identical requests, or a new one (made by `make(job_id)`) when the series has
    none or its last job is done. For requests that may run again on purpose but must not run twice at once: a
    repeat sent while the job runs (a retry) joins it; a job that has stalled (SERIES_STALL_SECONDS) is not joined.
    The series blob `jobs/series/<series>.json` names the current job; it moves to a new job only with its ETag, so
    of two requests racing to start one, the second joins the first's job. True when the job is new (or its record
    was missing and is written now)."""
    pointer = JsonBlob(store.container.get_blob_client(f"{_PREFIX}series/{series}.json"),
                       lambda document: str(as_object(document)["job"]), lambda job_id: {"job": job_id})
    for _ in range(5):
        loaded = pointer.load()
        if loaded is not None:
            # The record may not exist yet (its starter wrote the pointer first): its content is this request's.
            job, created = open_job(store, make(loaded.value))
            if job.answer is None and not _stalled(job):
                return job, created
        job_id = job_id_of([series, uuid.uuid4().hex])
        try:
            pointer.save(job_id, loaded.etag if loaded is not None else None)
        except BlobConflict:
            continue  # another request started the series' next job first: join it
        return open_job(store, make(job_id))
    raise Problem(409, "Conflict", "Identical requests kept starting jobs at the same moment; send it again.",
                  headers={"Retry-After": "1"})


def _stalled(job: Job) -> bool:
    try:
        updated = datetime.strptime(job.updated, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        return True
    return (datetime.now(UTC) - updated).total_seconds() > SERIES_STALL_SECONDS


def accepted(job: Job, created: bool, location: str) -> Answer:
    """The 202 answer to a request that started (or joined) `job`, with the queue message for the worker."""
    from shared.actions.service import Answer

    log.info("Job %s (%s, %d units, tenant %s) %s", job.id, job.operation, len(job.ids), job.tenant or "all",
             "accepted" if created else "already exists: this is a repeat of its request")
    # A repeat of a finished job's request is not run again; its Location gives the stored answer. A repeat of a
    # running one queues another message, in case the first was lost: a second worker finds the job leased and
    # leaves it to the first.
    messages = [json.dumps({"job": job.id})] if job.answer is None else []
    return Answer(202, _progress(job), {"Location": location, "Retry-After": str(POLL_SECONDS)}, messages)


def accept(ctx: Context) -> Answer | None:
    """Validate a bulk request and start (or find) its job: 202 and the status URL. None when the request is small
    enough to answer synchronously."""
    from shared.actions.service import RISKY_ACTIONS, bulk_request, risky_request

    kind = _kinds()[ctx.op.handler]
    assert isinstance(kind, AsyncKind)
    if ctx.op.handler == "bulk_update_alerts":
        ids, changes = bulk_request(ctx, MAX_ASYNC_IDS)
        request: dict[str, Any] = {"changes": changes}
    else:
        ids = risky_request(ctx, RISKY_ACTIONS[ctx.op.handler], MAX_ASYNC_IDS)
        request = {}
    if len(ids) <= kind.sync_ids:
        return None
    key = validation.idempotency_key(ctx.call)
    tenant = ctx.tenant
    job_id = job_id_of([tenant, ctx.op.operation_id, sorted(ids), request, key or _now()[:10]])
    job = new_job(job_id, ctx.op.operation_id, ctx.op.handler, tenant, ctx.caller, request, ids)
    from shared.actions.errors import storage_problem

    with storage_problem("the job record"):  # nothing is queued without the record
        job, created = open_job(JobStore(ctx.settings), job)
    return accepted(job, created, status_url(ctx.call.url, ctx.op.route, ctx.call.params, job_id))


def status(ctx: Context) -> Answer:
    """GET jobs/{jobId}: 202 while running, then the job's answer."""
    from shared.actions.service import Answer

    job_id = ctx.call.route_params.get("jobId") or ""
    if len(job_id) != JOB_ID_LENGTH or not all(c in "0123456789abcdef" for c in job_id):
        raise Problem(400, "Invalid job id", f"{validation.shown(job_id)} is not a job id (32 hex digits from the "
                      "Location of a 202 answer).")
    from shared.actions.errors import storage_problem

    with storage_problem("the job record"):
        loaded = JobStore(ctx.settings).load(job_id)
    if loaded is None:
        raise Problem(404, "Not found", f"There is no job {job_id}.")
    job = loaded.value
    if job.answer is None:
        location = status_url(ctx.call.url, ctx.op.route, ctx.call.params, job_id)
        return Answer(202, _progress(job), {"Location": location, "Retry-After": str(POLL_SECONDS)})
    answer = job.answer
    if answer.get("problem"):
        body = dict(answer["body"])
        extra = {k: val for k, val in body.items() if k not in ("type", "title", "status", "detail")}
        raise Problem(int(answer["status"]), str(body.get("title", "")), str(body.get("detail", "")),
                      headers=dict(answer.get("headers") or {}), **extra)
    return Answer(int(answer["status"]), answer["body"], dict(answer.get("headers") or {}))


# --- the worker


def _slice_call(job: Job, kind: AsyncKind, ids: list[str]) -> validation.HttpCall:
    body = {kind.field: ids, **job.request}
    return validation.HttpCall("POST", "https://localhost/api/jobs", params={"tenant": job.tenant},
                               headers={"content-type": "application/json"}, body=json.dumps(body).encode())


def _run_slice(settings: Settings, job: Job, kind: AsyncKind, ids: list[str], budget: float) -> list[dict[str, Any]]:
    """The per-id results of one slice, from the ordinary handler."""
    from shared.actions.service import execute

    sliced = replace(settings, actions_bulk_time_budget_seconds=max(1, int(budget)),
                     actions_max_bulk_ids=max(settings.actions_max_bulk_ids, len(ids)))
    try:
        answer = execute(job.operation, _slice_call(job, kind, ids), sliced, caller=job.caller)
        results = answer.body.get("results") if isinstance(answer.body, dict) else None
    except Problem as problem:
        results = problem.extra.get("results")
        if not isinstance(results, list):  # refused as a whole (actions turned off, a bad tenant): every id fails
            results = [{"id": i, "result": "failed", "status": problem.status, "title": problem.title,
                        "detail": problem.detail} for i in ids]
    # An answer without a results list (none of ours, but Graph's or a proxy's) leaves the slice's ids unanswered.
    return [r for r in results or () if isinstance(r, dict)]


def _save_quietly(store: JobStore, job: Job, etag: str) -> None:
    """Record a failure in the job (shown by its status URL), if storage allows."""
    from azure.core.exceptions import AzureError

    try:
        store.save(job, etag)
    except (AzureError, BlobConflict) as exc:
        log.warning("Could not record the failure of job %s: %s", job.id, exc)


def work(settings: Settings, job_id: str, *, budget_seconds: float = WORKER_BUDGET_SECONDS,
         clock: Any = time.monotonic) -> bool:
    """Advance a job for up to `budget_seconds`. True when more is left (queue a message to continue)."""
    from shared.storage.leases import LeaseBusy, RunLease

    store = JobStore(settings)
    try:
        lease = RunLease(store.container, f"locks/jobs/{job_id}").acquire()
    except LeaseBusy:
        log.info("Job %s is being worked on by another instance", job_id)
        return False  # that instance queues the continuation if it needs one
    try:
        loaded = store.load(job_id)
        if loaded is None:
            log.error("Job %s does not exist; the message is dropped", job_id)
            return False
        job, etag = loaded.value, loaded.etag
        if job.answer is not None:
            return False
        kind = _kinds()[job.handler]
        deadline = clock() + budget_seconds
        while job.remaining and clock() < deadline:
            units = job.remaining[:kind.slice_size]
            try:
                results = kind.run_slice(settings, job, units, deadline - clock(), lease.ensure)
            except Exception as exc:  # storage (the audit trail) or a bug: the queue delivers the message again
                job.last_error = f"{_now()} {type(exc).__name__}: {exc}"[:500]
                _save_quietly(store, job, etag)
                raise
            job.results.update(results)
            if not job.remaining:
                job.answer = kind.answer(job)
            lease.ensure()
            etag = store.save(job, etag)
        return job.answer is None
    finally:
        lease.release()
