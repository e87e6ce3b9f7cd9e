"""The actions: validated requests turned into Graph calls (through GraphClient only), with the audit trail and the
Idempotency-Key store. `execute(operation_id, call)` is the one entry point the function layer uses; it returns an
Answer or raises a Problem.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, urlsplit

from shared.actions import audit, validation
from shared.actions import vocabulary as v
from shared.actions.caller import caller_of
from shared.actions.errors import graph_problem
from shared.actions.operations import BY_ID, PERMISSION, Operation
from shared.actions.validation import HttpCall
from shared.graph.families import RateFamily
from shared.problems import Problem
from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from shared.graph.client import GraphClient, GraphResponse
    from shared.settings import Settings
    from shared.tenants import TenantList

log = logging.getLogger("graph_security_bridge.actions")

ALERTS_PATH = "/security/alerts_v2"
INCIDENTS_PATH = "/security/incidents"
COMMENT_TYPE = "microsoft.graph.security.alertComment"
# How far before the first attempt a comment found in Graph may be dated and still count as that attempt's
# (clock skew between this app and Graph).
COMMENT_CLOCK_SKEW_SECONDS = 120


@dataclass
class Answer:
    status: int
    body: Any
    headers: dict[str, str] = field(default_factory=dict)
    messages: list[str] = field(default_factory=list)  # for the function's queue output (asynchronous jobs)


# --- process-wide clients (a warm worker reuses connections and tokens)

_clients: ProcessCache[str, tuple[Settings, GraphClient]] = ProcessCache("actions' Graph clients per tenant")


def graph_client(settings: Settings, tenant: str) -> GraphClient:
    from shared.graph.client import GraphClient

    def current_or_new(entry: tuple[Settings, GraphClient] | None) -> tuple[Settings, GraphClient]:
        return entry if entry is not None and entry[0] is settings else (settings, GraphClient(settings, tenant))

    return _clients.update(tenant, current_or_new)[1]


class Context:
    """One request being executed: its settings, operation and call; the tenant, client and caller on demand."""

    def __init__(self, settings: Settings, op: Operation, call: HttpCall,
                 caller: dict[str, Any] | None = None) -> None:
        self.settings = settings
        self.op = op
        self.call = call
        if caller is not None:  # an asynchronous job: the caller of the request that started it
            self.__dict__["caller"] = caller

    @cached_property
    def tenants(self) -> TenantList:
        """The tenant list this request is checked against (the export's, shared/tenants.py)."""
        from shared.storage.clients import Patience
        from shared.tenants import current_tenants

        return current_tenants(self.settings, patience=Patience.INTERACTIVE)

    @cached_property
    def tenant(self) -> str:
        return validation.tenant(self.tenants.ids, self.call.params.get("tenant"), self.tenants.source)

    @cached_property
    def client(self) -> GraphClient:
        return graph_client(self.settings, self.tenant)

    @cached_property
    def caller(self) -> dict[str, Any]:
        return caller_of(self.call.headers, self.call.params)

    def graph(self, method: str, path: str, *, target: str, permission: str, or_permission: str = "",
              json_body: Any = None, family: RateFamily = RateFamily.SECURITY,
              idempotent: bool | None = None, params: dict[str, str] | None = None) -> GraphResponse:
        from shared.graph.errors import GraphFailure

        tenant = self.tenant  # validated before any call
        try:
            return self.client.request(method, path, params=params, json_body=json_body, family=family,
                                       idempotent=idempotent)
        except GraphFailure as exc:
            log.info("Graph error for %s in tenant %s: %s", target, tenant, exc)
            raise graph_problem(exc, target=target, permission=permission, or_permission=or_permission) from None

    def audit(self, lines: list[dict[str, Any]]) -> None:
        audit.AuditTrail(self.settings).append(self.tenant, lines)

    def record(self, **fields: Any) -> dict[str, Any]:
        return audit.record(operation=self.op.operation_id, tenant=self.tenant, caller=self.caller, **fields)


def execute(operation_id: str, call: HttpCall, settings: Settings | None = None, *,
            caller: dict[str, Any] | None = None) -> Answer:
    """Run one operation of the table. Raises Problem for every error answer. A bulk request that asks for an
    asynchronous answer (`Prefer: respond-async`) and is larger than one Graph call becomes a job (shared.actions.jobs).
    `caller` is given by a job's worker: who sent the request the job runs."""
    from shared.actions import jobs
    from shared.runtime import get_settings

    op = BY_ID[operation_id]
    settings = settings or get_settings()
    if op.write and not settings.actions_enabled:
        raise Problem(403, "Actions are turned off",
                      "This app runs with ACTIONS_ENABLED=false, so it makes no changes in Microsoft Graph. Reading "
                      "alerts and incidents still works. Set ACTIONS_ENABLED=true to allow changes.")
    ctx = Context(settings, op, call, caller)
    if caller is None and jobs.wants_async(op, call):
        accepted = jobs.accept(ctx)
        if accepted is not None:
            return accepted
    return HANDLERS[op.handler](ctx)


# --- helpers


def _path(base: str, item_id: str, *rest: str) -> str:
    return "/".join((base, quote(item_id, safe=""), *rest))


def _same(field_name: str, current: object, wanted: object) -> bool:
    if field_name in ("status", "classification", "determination"):
        return isinstance(current, str) and isinstance(wanted, str) and current.lower() == wanted.lower()
    return current == wanted


class ChunkDeadline:
    """The time budget of a bulk request, so that its answer, with a result per id, goes out before the caller gives
    up on it (a Consumption Logic App waits 120 s, then retries the whole call without ever seeing what was done).

    Two guards: a chunk does not start when the time spent plus the slowest chunk so far (its Graph calls with their
    pacing waits, and its audit append) would pass the budget, and `deadline` goes to the Graph client, so that no
    wait or read inside a chunk goes past it either. A chunk lasts until the next one is asked for."""

    def __init__(self, budget_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.budget = budget_seconds
        self._clock = clock
        self._started = clock()
        self.deadline = self._started + budget_seconds
        self._chunk_started: float | None = None
        self.slowest = 0.0

    def may_start_chunk(self) -> bool:
        now = self._clock()
        if self._chunk_started is not None:
            self.slowest = max(self.slowest, now - self._chunk_started)
            self._chunk_started = None
        if now - self._started + self.slowest > self.budget:
            return False
        self._chunk_started = now
        return True


def _not_attempted(item_id: str) -> dict[str, Any]:
    return {"id": item_id, "result": "notAttempted", "detail": v.NOT_ATTEMPTED_DETAIL}


FAILURE_FIELDS = ("graphRequestId", "graphCode", "requiredPermission")  # kept in a per-id failure


def _failure(item_id: str, problem: Problem, result: str = "failed") -> dict[str, Any]:
    entry = {"id": item_id, "result": result, "status": problem.status, "title": problem.title,
             "detail": problem.detail}
    for name in FAILURE_FIELDS:
        if name in problem.extra:
            entry[name] = problem.extra[name]
    if "Retry-After" in problem.headers:
        entry["retryAfter"] = int(problem.headers["Retry-After"])
    return entry


def summarize(results: list[dict[str, Any]], success: str, what: str) -> Answer:
    """200 with a result per id; when nothing succeeded and every id failed the same way, that error instead."""
    counts: dict[str, int] = {"requested": len(results), success: 0}
    if success == "updated":  # Graph answers 404 per alert; it ignores unknown risky user ids
        counts["notFound"] = 0
    counts.update(failed=0, notAttempted=0)
    for entry in results:
        counts[entry["result"]] = counts.get(entry["result"], 0) + 1
    summary = counts
    body = {"summary": summary, "results": results}
    statuses = {entry.get("status") for entry in results}
    if counts[success] == 0 and results and counts["notAttempted"] == 0 and len(statuses) == 1:
        first = results[0]
        headers = {}
        retry_after = [e["retryAfter"] for e in results if "retryAfter" in e]
        if retry_after:
            headers["Retry-After"] = str(max(retry_after))
        detail = first["detail"] if len(results) == 1 else (
            f"None of the {len(results)} {what} succeeded; each failed with {first['status']}. First: {first['detail']}"
        )
        extra = {name: first[name] for name in FAILURE_FIELDS if name in first}
        raise Problem(first["status"], first["title"], detail, headers=headers, summary=summary, results=results,
                      **extra)
    return Answer(200, body)


def _comment_present(comments: object, text: str, since: Any) -> bool:
    from datetime import timedelta

    from shared.graph.versions import normalize_version, to_datetime

    if not isinstance(comments, list):
        return False
    earliest = since - timedelta(seconds=COMMENT_CLOCK_SKEW_SECONDS) if since else None
    for item in comments:
        if not isinstance(item, dict) or (item.get("comment") or "").strip() != text:
            continue
        created = normalize_version(item.get("createdDateTime"))
        if earliest is None or created is None or to_datetime(created) >= earliest:
            return True
    return False


# --- handlers


def _get(ctx: Context, kind: str, param: str, base: str) -> Answer:
    item_id = validation.entity_id(ctx.call.route_params.get(param), kind)
    response = ctx.graph("GET", _path(base, item_id), target=f"{kind} {item_id}",
                         permission=PERMISSION[(kind, "read")], or_permission=PERMISSION[(kind, "write")])
    return Answer(200, response.body)


def _update(ctx: Context, kind: str, param: str, base: str) -> Answer:
    item_id = validation.entity_id(ctx.call.route_params.get(param), kind)
    changes = validation.triage_changes(validation.json_object(ctx.call, v.MAX_BODY_BYTES), kind)
    permission = PERMISSION[(kind, "write")]
    target = f"{kind} {item_id}"
    path = _path(base, item_id)
    current = ctx.graph("GET", path, target=target, permission=permission).body
    current = current if isinstance(current, dict) else {}
    delta = {name: value for name, value in changes.items() if not _same(name, current.get(name), value)}
    if "classification" in delta or "determination" in delta:  # Graph checks the pair: send both
        delta["classification"] = changes["classification"]
        delta["determination"] = changes["determination"]
    if not delta:
        return Answer(200, current)  # already so: nothing to change, nothing to audit
    response = ctx.graph("PATCH", path, json_body=delta, target=target, permission=permission)
    after = response.body if isinstance(response.body, dict) and response.body else {**current, **delta}
    ctx.audit([ctx.record(
        target_type=kind, target_id=item_id, sent=delta,
        before={name: current.get(name) for name in delta}, after={name: after.get(name) for name in delta},
        graph_request_id=response.request_id,
    )])
    return Answer(200, after)


def _comment(ctx: Context, kind: str, param: str, base: str) -> Answer:
    from shared.actions.idempotency import IdempotencyStore, fingerprint
    from shared.graph.errors import GraphError, GraphFailure, RequestNotSent

    item_id = validation.entity_id(ctx.call.route_params.get(param), kind)
    text = validation.comment(validation.json_object(ctx.call, v.MAX_BODY_BYTES))
    key = validation.idempotency_key(ctx.call)
    permission = PERMISSION[(kind, "write")]
    target = f"{kind} {item_id}"
    replayed = {"Idempotent-Replayed": "true"}

    store = claim = None
    if key is not None:
        store = IdempotencyStore(ctx.settings, ctx.tenant)
        claim = store.claim(f"{ctx.op.operation_id}:{item_id}", key, fingerprint({"comment": text}))
        if claim.replay is not None:
            return Answer(int(claim.replay["status"]), claim.replay["body"], replayed)
        if claim.resumed:  # an earlier attempt may have reached Graph: look before posting again
            try:
                item = ctx.graph("GET", _path(base, item_id), target=target, permission=permission).body or {}
            except Problem:
                store.uncertain(claim, "could not check the comments")  # the next retry checks again
                raise
            if _comment_present(item.get("comments"), text, claim.since):
                body = {"value": item.get("comments") or []}
                store.complete(claim, 200, body)
                return Answer(200, body, replayed)

    tenant = ctx.tenant
    try:
        response = ctx.client.request("POST", _path(base, item_id, "comments"), idempotent=False,
                                      json_body={"@odata.type": COMMENT_TYPE, "comment": text},
                                      family=RateFamily.SECURITY)
    except GraphFailure as exc:
        if store is not None and claim is not None:
            refused = isinstance(exc, GraphError) and 400 <= exc.status < 500 and exc.status != 408
            if refused or isinstance(exc, RequestNotSent):
                store.release(claim)  # Graph refused it, or never got it: nothing was added
            else:
                store.uncertain(claim, str(exc))
        log.info("Graph error for %s in tenant %s: %s", target, tenant, exc)
        raise graph_problem(exc, target=target, permission=permission) from None
    except BaseException:
        if store is not None and claim is not None:
            store.uncertain(claim, "interrupted")
        raise
    comments = response.body.get("value") if isinstance(response.body, dict) else None
    body = {"value": comments if isinstance(comments, list) else []}
    if store is not None and claim is not None:
        store.complete(claim, 200, body)
    ctx.audit([ctx.record(target_type=kind, target_id=item_id, sent={"comment": text}, before=None,
                          after={"comment": text}, graph_request_id=response.request_id, idempotency_key=key)])
    return Answer(200, body)


def bulk_request(ctx: Context, limit: int) -> tuple[list[str], dict[str, Any]]:
    """The ids and changes of a bulk update, validated."""
    body = validation.json_object(ctx.call, v.MAX_BULK_BODY_BYTES)
    validation.only_fields(body, ("ids", "changes"))
    ids = validation.alert_ids(body, limit)
    if not isinstance(body.get("changes"), dict):
        raise Problem(400, "Invalid request body", "'changes' must be an object with any of "
                      f"{', '.join(validation.ALERT_FIELDS)}, e.g. {{\"status\": \"resolved\"}}.",
                      errors=[{"field": "changes", "message": "required: an object"}])
    return ids, validation.triage_changes(body["changes"], "alert", where="'changes'")


def bulk_update_alerts(ctx: Context) -> Answer:
    from shared.graph.errors import DeadlineReached, GraphFailure, error_of_answer

    ids, changes = bulk_request(ctx, ctx.settings.actions_max_bulk_ids)
    permission = PERMISSION[("alert", "write")]
    ctx.tenant  # noqa: B018 - validated before any Graph call

    results: dict[str, dict[str, Any]] = {}
    deadline = ChunkDeadline(ctx.settings.actions_bulk_time_budget_seconds)
    # The client's pacer keeps every 60 s window within the budget, batches included (shared.graph.pacing).
    for start in range(0, len(ids), v.BATCH_CHUNK):
        chunk = ids[start:start + v.BATCH_CHUNK]
        if not deadline.may_start_chunk():
            results.update((item_id, _not_attempted(item_id)) for item_id in chunk)
            continue
        requests_ = [
            {"id": str(n), "method": "PATCH", "url": _path(ALERTS_PATH, item_id),
             "headers": {"Content-Type": "application/json"}, "body": changes}
            for n, item_id in enumerate(chunk)
        ]
        try:
            answers = ctx.client.batch(requests_, family=RateFamily.SECURITY, deadline=deadline.deadline)
        except DeadlineReached:
            results.update((item_id, _not_attempted(item_id)) for item_id in chunk)
            continue
        except GraphFailure as exc:
            problem = graph_problem(exc, target="the alerts of this batch", permission=permission)
            for item_id in chunk:
                results[item_id] = _failure(item_id, problem)
            continue
        lines = []
        for item_id, answer in zip(chunk, answers, strict=True):
            status = int(answer["status"])  # the client answers every request with a status
            if 200 <= status < 300:
                updated: dict[str, Any] = answer["body"] if isinstance(answer.get("body"), dict) else {}
                results[item_id] = {"id": item_id, "result": "updated"}
                headers = {str(k).lower(): str(val) for k, val in (answer.get("headers") or {}).items()}
                lines.append(ctx.record(
                    target_type="alert", target_id=item_id, sent=changes, before=None,
                    after={name: updated.get(name, value) for name, value in changes.items()},
                    graph_request_id=headers.get("request-id", ""),
                    note="bulk update: the values before the change are not read",
                ))
            else:
                error = error_of_answer(status, answer.get("body"), answer.get("headers"))
                problem = graph_problem(error, target=f"alert {item_id}", permission=permission)
                results[item_id] = _failure(item_id, problem, "notFound" if status == 404 else "failed")
        ctx.audit(lines)
    return summarize([results[item_id] for item_id in ids], "updated", "alerts")


@dataclass(frozen=True)
class RiskyAction:
    collection: str  # Graph collection under /identityProtection
    field: str  # the body field, as Graph names it
    what: str  # for messages
    kind: str  # for the permission table and the audit
    action: str  # Graph action
    result: str  # the per-id result on success
    effect: dict[str, str]  # the documented state after the action


def risky_request(ctx: Context, spec: RiskyAction, limit: int) -> list[str]:
    """The ids of a risky user or service principal request, validated."""
    body = validation.json_object(ctx.call, v.MAX_BULK_BODY_BYTES)
    validation.only_fields(body, (spec.field,))
    return validation.object_ids(body, spec.field, limit, spec.what)


def _risky(ctx: Context, spec: RiskyAction) -> Answer:
    from shared.graph.errors import DeadlineReached, GraphFailure

    ids = risky_request(ctx, spec, ctx.settings.actions_max_bulk_ids)
    permission = PERMISSION[(spec.kind, "write")]
    ctx.tenant  # noqa: B018 - validated before any Graph call
    results: list[dict[str, Any]] = []
    deadline = ChunkDeadline(ctx.settings.actions_bulk_time_budget_seconds)
    for start in range(0, len(ids), v.RISKY_CHUNK):
        chunk = ids[start:start + v.RISKY_CHUNK]
        if not deadline.may_start_chunk():
            results += [_not_attempted(i) for i in chunk]
            continue
        try:
            response = ctx.client.request(
                "POST", f"/identityProtection/{spec.collection}/{spec.action}", json_body={spec.field: chunk},
                family=RateFamily.IDENTITY_PROTECTION, idempotent=True,  # setting a state twice is harmless
                deadline=deadline.deadline,
            )
        except DeadlineReached:
            results += [_not_attempted(i) for i in chunk]
            continue
        except GraphFailure as exc:
            problem = graph_problem(exc, target=f"{spec.what}s", permission=permission)
            results += [_failure(i, problem) for i in chunk]
            continue
        results += [{"id": i, "result": spec.result} for i in chunk]
        ctx.audit([
            ctx.record(target_type=spec.kind, target_id=i, sent={"action": spec.action}, before=None,
                       after=dict(spec.effect), graph_request_id=response.request_id,
                       note="the state before is not read (Identity Protection allows 1 request per second); "
                       "after is the documented effect of the action")
            for i in chunk
        ])
    return summarize(results, spec.result, f"{spec.what}s")


def _risky_handler(spec: RiskyAction) -> Callable[[Context], Answer]:
    return lambda ctx: _risky(ctx, spec)


def openapi_document(ctx: Context) -> Answer:
    from shared.actions.openapi import served_document

    parts = urlsplit(ctx.call.url)
    path = parts.path
    suffix = "/" + ctx.op.route
    base_path = path[: -len(suffix)] if path.lower().endswith(suffix.lower()) else "/api"
    document = served_document(
        host=parts.netloc or None, scheme=parts.scheme or "https", base_path=base_path or "/",
        max_bulk_ids=ctx.settings.actions_max_bulk_ids, tenant_ids=ctx.tenants.ids,
    )
    return Answer(200, document)


def _list(ctx: Context, what: str) -> Answer:
    from shared.actions import queries

    if what == "incident_alerts":
        incident_id = validation.entity_id(ctx.call.route_params.get("incidentId"), "incident")
        return queries.list_items(ctx, queries.ALERTS, incident_id)
    return queries.list_items(ctx, queries.ALERTS if what == "alerts" else queries.INCIDENTS)


def _job_status(ctx: Context) -> Answer:
    from shared.actions import jobs

    return jobs.status(ctx)


def _trigger(ctx: Context, stream: str) -> Answer:
    from shared.actions import triggers

    return triggers.poll(ctx, triggers.ALERTS if stream == "alerts" else triggers.INCIDENTS)


# The two halves of each RiskyAction: what it acts on, and what it does.
_USERS: dict[str, Any] = {"collection": "riskyUsers", "field": "userIds", "what": "user", "kind": "riskyUser"}
_SPS: dict[str, Any] = {"collection": "riskyServicePrincipals", "field": "servicePrincipalIds",
                        "what": "service principal", "kind": "riskyServicePrincipal"}
_COMPROMISED: dict[str, Any] = {"action": "confirmCompromised", "result": "confirmedCompromised",
                                "effect": {"riskState": "confirmedCompromised", "riskLevel": "high"}}
_DISMISSED: dict[str, Any] = {"action": "dismiss", "result": "dismissed",
                              "effect": {"riskState": "dismissed", "riskLevel": "none"}}

RISKY_ACTIONS: dict[str, RiskyAction] = {
    "confirm_risky_users": RiskyAction(**_USERS, **_COMPROMISED),
    "dismiss_risky_users": RiskyAction(**_USERS, **_DISMISSED),
    "confirm_risky_service_principals": RiskyAction(**_SPS, **_COMPROMISED),
    "dismiss_risky_service_principals": RiskyAction(**_SPS, **_DISMISSED),
}

HANDLERS: dict[str, Callable[[Context], Answer]] = {
    "get_alert": lambda ctx: _get(ctx, "alert", "alertId", ALERTS_PATH),
    "update_alert": lambda ctx: _update(ctx, "alert", "alertId", ALERTS_PATH),
    "add_alert_comment": lambda ctx: _comment(ctx, "alert", "alertId", ALERTS_PATH),
    "bulk_update_alerts": bulk_update_alerts,
    "get_incident": lambda ctx: _get(ctx, "incident", "incidentId", INCIDENTS_PATH),
    "update_incident": lambda ctx: _update(ctx, "incident", "incidentId", INCIDENTS_PATH),
    "add_incident_comment": lambda ctx: _comment(ctx, "incident", "incidentId", INCIDENTS_PATH),
    **{name: _risky_handler(spec) for name, spec in RISKY_ACTIONS.items()},
    "openapi_document": openapi_document,
    "list_alerts": lambda ctx: _list(ctx, "alerts"),
    "list_incidents": lambda ctx: _list(ctx, "incidents"),
    "list_incident_alerts": lambda ctx: _list(ctx, "incident_alerts"),
    "get_job": _job_status,
    "trigger_alerts": lambda ctx: _trigger(ctx, "alerts"),
    "trigger_incidents": lambda ctx: _trigger(ctx, "incidents"),
}
