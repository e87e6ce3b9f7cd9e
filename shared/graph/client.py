"""The one way every Microsoft Graph call goes.

Token from azure-identity for the cloud's `/.default` scope; a pooled `requests` session with timeouts; pacing per
tenant and API family (shared.graph.pacing); after a failure, what the retry policy decides (shared.graph.retry:
429 and 5xx with Graph's `Retry-After` or back-off, lost answers, a refused token once, inner $batch throttling,
capped in attempts and in total wait); failures raised typed (shared.graph.errors: answered, not sent, no answer);
paging by `@odata.nextLink`, followed verbatim and only to the Graph host (it carries our bearer token);
`Prefer: include-unknown-enum-members` and a `client-request-id` on every call; Graph's request id in every error.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import requests

# Re-exported: callers catch these from the client.
from shared.graph.errors import DeadlineReached as DeadlineReached
from shared.graph.errors import GraphError as GraphError
from shared.graph.errors import (
    GraphFailure,
    GraphTransportError,
    NoAnswer,
    RequestNotSent,
    UntrustedLink,
    error_of_answer,
    transport_failure,
)
from shared.graph.families import RateFamily, family_of_path
from shared.graph.pacing import RateBudgets, shared_budgets
from shared.graph.retry import GiveUp, Retry, RetryPolicy, RetryState, StopReason
from shared.http_session import new_session
from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.graph")

CONNECT_TIMEOUT_SECONDS = 10.0
USER_AGENT = "graph-security-bridge/0.1"
MAX_BATCH_REQUESTS = 20
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
DIRECTORY_REQUESTS_PER_10_SECONDS = 3000


@dataclass
class GraphResponse:
    status: int
    body: Any  # parsed JSON, or None for an empty body (204)
    headers: dict[str, str]
    request_id: str


@dataclass
class Page:
    items: list[dict[str, Any]]
    next_link: str | None


@dataclass
class CallStats:
    """What one client did, for run summaries. Thread-safe counters."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    waited_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)


class GraphClient:
    """A Graph client for one tenant. Cheap to create; the session and budgets can be shared."""

    def __init__(
        self,
        settings: Settings,
        tenant_id: str,
        *,
        credential: TokenCredential | None = None,
        session: requests.Session | None = None,
        budgets: RateBudgets | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: random.Random | None = None,
    ) -> None:
        from shared.graph.credentials import credential_for

        self.settings = settings
        self.tenant_id = tenant_id
        self.root = settings.graph_root.rstrip("/")
        self.base = f"{self.root}/v1.0"
        self._host = urlsplit(self.root).netloc.lower()
        self._credential = credential or credential_for(settings, tenant_id)
        self._renewable = credential is None  # the process-wide credential; an injected one is the caller's
        self._session = session or new_session()
        self._budgets = budgets or shared_budgets(
            {
                RateFamily.SECURITY.value: (settings.security_requests_per_minute, 60.0),
                RateFamily.IDENTITY_PROTECTION.value: (settings.identity_requests_per_second, 1.0),
                # Enrichment's directory lookups: under the smallest tenant's 3,500 resource units per 10 s, a token
                # bucket that Graph lets go in a burst (not spaced: shared/graph/pacing.py).
                RateFamily.DIRECTORY.value: (DIRECTORY_REQUESTS_PER_10_SECONDS, 10.0, False),
            }
        )
        self._sleep = sleep
        self.retry_policy = RetryPolicy.from_settings(settings, rng)
        self.stats = CallStats()

    # --- public API

    def request(
        self,
        method: str,
        path_or_url: str,
        *,
        params: dict[str, str] | None = None,
        json_body: Any = None,
        family: RateFamily | None = None,
        idempotent: bool | None = None,
        slots: int = 1,
        deadline: float | None = None,
    ) -> GraphResponse:
        """One Graph call with pacing and retries (shared.graph.retry). `path_or_url` is a path under /v1.0 or a
        nextLink.

        A POST is sent again only where Graph cannot have acted on it (429, 503, a failed connect), unless the
        caller says it is idempotent: a repeated comment would be a second comment.

        `deadline` (a time.monotonic() value) bounds the whole call for a caller that must answer in time: no
        pacing wait, retry wait or read goes past it. DeadlineReached when the first attempt could not even start;
        after that, the last failure. Raises GraphError (answered), RequestNotSent or NoAnswer (shared.graph.errors).
        """
        url = self._url(path_or_url)
        path = urlsplit(url).path
        family = family or family_of_path(path)
        if idempotent is None:
            idempotent = method.upper() != "POST"
        pacer = self._budgets.pacer(self.tenant_id, family.value)
        client_request_id = str(uuid.uuid4())
        state = RetryState(idempotent=idempotent, deadline=deadline, may_renew_token=self._renewable)
        while True:
            waited_for_slot = pacer.acquire(slots, not_after=deadline)
            if waited_for_slot is None:
                if state.last_failure is not None:
                    raise state.last_failure
                raise DeadlineReached(f"no Graph request slot before the deadline for {method} {path}")
            if waited_for_slot:
                self.stats.add(waited_seconds=waited_for_slot)
            read_timeout = self.settings.timeout_seconds
            if deadline is not None:
                read_timeout = max(1.0, min(read_timeout, deadline - time.monotonic()))
            failure: GraphFailure
            try:
                response = self._send_once(method, url, params, json_body, client_request_id, read_timeout)
            except GraphTransportError as lost:
                pacer.answered()  # whatever reached Graph did so before now: spacing counts from here too
                failure = lost
            else:
                pacer.answered()  # spacing counts from the answer too (pacing.py says why)
                if response.status < 400:
                    if response.status == 206:
                        log.warning("Graph answered 206 Partial Content for %s %s: %s (request-id %s)", method, path,
                                    response.headers.get("Warning", ""), response.request_id)
                    return response
                failure = error_of_answer(response.status, response.body, response.headers, method=method,
                                          path=path, client_request_id=client_request_id)
                log.warning("Graph %s %s answered %d %s (request-id %s, client-request-id %s)", method, path,
                            response.status, failure.code, failure.request_id, client_request_id)
                if response.status == 429:
                    self.stats.add(throttled=1)
            decision = self.retry_policy.decide(state, failure)
            if decision.hold_seconds is not None:
                # Everyone in this process using the same tenant and family backs off, not just this call.
                pacer.hold_until(time.monotonic() + decision.hold_seconds)
            if isinstance(decision, GiveUp):
                if decision.reason is not StopReason.NOT_RETRYABLE:
                    log.error("Giving up on %s %s after %d attempts and %.1f s of waiting (%s): %s", method, path,
                              state.attempts, state.waited, decision.reason.value, failure)
                raise failure
            if decision.renew_token:
                from shared.graph.credentials import renewed_credential

                self._credential = renewed_credential(self.settings, self.tenant_id, self._credential)
                log.warning("Graph refused the token for %s %s; retrying once with a new token", method, path)
                continue
            log.info("Retrying %s %s in %.2f s (attempt %d): %s", method, path, decision.wait, state.attempts,
                     failure)
            self.stats.add(retries=1, waited_seconds=decision.wait)
            self._sleep(decision.wait)

    def get(self, path_or_url: str, params: dict[str, str] | None = None) -> Any:
        return self.request("GET", path_or_url, params=params).body

    def iter_pages(
        self, path: str, params: dict[str, str] | None = None, *, start_url: str | None = None
    ) -> Iterator[Page]:
        """Pages of a collection: the first from `path` and `params` (or from a saved `start_url`, a nextLink),
        then each `@odata.nextLink` followed verbatim until there is none."""
        url: str | None = start_url or path
        first_params = None if start_url else params
        while url:
            response = self.request("GET", url, params=first_params)
            first_params = None
            body = response.body if isinstance(response.body, dict) else {}
            items = body.get("value")
            if not isinstance(items, list):
                raise GraphError(response.status, "UnexpectedResponse", "the answer has no 'value' list",
                                 method="GET", path=urlsplit(self._url(url)).path, request_id=response.request_id)
            next_link = body.get("@odata.nextLink")
            yield Page(items=items, next_link=next_link)
            url = next_link

    def batch(
        self, requests_: list[dict[str, Any]], *, family: RateFamily, deadline: float | None = None
    ) -> list[dict[str, Any]]:
        """POST /$batch with at most 20 idempotent inner requests; returns the inner responses in request order.

        Each inner request counts against Graph's limits, so the batch takes one pacing slot per inner request.
        Inner requests answered 429/503/504, or left out of Graph's answer, are sent again (after the longest
        Retry-After among them) within the same attempt and wait caps as a single call, and within `deadline`
        (see request()). Other inner errors are returned for the caller to report, and so is Graph's last answer to
        a request still throttled when the caps stop the retries (its Retry-After and request id are what the caller
        needs to tell its own caller when to come back). A retry that fails as a whole does not lose what earlier
        attempts got: the requests still pending get that failure as their answer.
        DeadlineReached (nothing sent) or a GraphFailure only when the first attempt fails as a whole.
        """
        if not 1 <= len(requests_) <= MAX_BATCH_REQUESTS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_REQUESTS} requests")
        if any(str(r.get("method", "")).upper() not in IDEMPOTENT_METHODS for r in requests_):
            raise ValueError("batch() sends requests again: only idempotent methods (GET, PUT, PATCH, DELETE)")
        pending = {str(r["id"]): r for r in requests_}
        results: dict[str, dict[str, Any]] = {}
        last_answers: dict[str, dict[str, Any]] = {}  # Graph's latest answer to each pending request, if any
        state = RetryState(idempotent=True, deadline=deadline)
        while True:
            try:
                response = self.request(
                    "POST", "/$batch", json_body={"requests": list(pending.values())}, family=family,
                    idempotent=True, slots=len(pending), deadline=deadline,
                )
            except (GraphFailure, DeadlineReached) as exc:
                if state.attempts == 0:
                    raise
                failure = exc if isinstance(exc, GraphFailure) else RequestNotSent(
                    "DeadlineReached", "the request's time budget ended before this request could be sent again")
                last_answers.update((request_id, _answer_of_failure(request_id, failure)) for request_id in pending)
                break
            answers = (response.body or {}).get("responses", []) if isinstance(response.body, dict) else []
            retries: list[Retry] = []
            answered: set[str] = set()
            for answer in answers:
                answer_id = str(answer.get("id"))
                if answer_id not in pending:
                    continue
                answered.add(answer_id)
                answer = {**answer, "status": _int_or_zero(answer.get("status"))}
                inner = self.retry_policy.decide_inner(state, answer)
                if isinstance(inner, Retry):
                    retries.append(inner)
                    last_answers[answer_id] = answer
                    continue
                results[answer_id] = answer
                del pending[answer_id]
            for request_id in set(pending) - answered:  # left out: an older answer no longer describes it
                last_answers.pop(request_id, None)
            if not pending:
                break
            decision = self.retry_policy.decide_batch(state, retries)
            if isinstance(decision, GiveUp):
                break
            self.stats.add(throttled=1, retries=1, waited_seconds=decision.wait)
            if decision.hold_seconds is not None:
                self._budgets.pacer(self.tenant_id, family.value).hold_until(time.monotonic() + decision.hold_seconds)
            self._sleep(decision.wait)
        for request_id in pending:  # still throttled or failing, or never answered, when the retries stopped
            results[request_id] = last_answers.get(request_id) or _answer_of_failure(request_id, NoAnswer(
                "NoAnswerInBatch", "Graph's $batch answer did not include this request, which may or may not have "
                "been applied; sending it again is safe"))
        return [results[str(r["id"])] for r in requests_]

    # --- internals

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith("https://") or path_or_url.startswith("http://"):
            parts = urlsplit(path_or_url)
            if parts.netloc.lower() != self._host:
                # A nextLink to another host would receive our bearer token.
                raise UntrustedLink("UntrustedLink", f"refusing to follow a link to {parts.netloc}")
            return path_or_url
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.base + path_or_url

    def _send_once(
        self, method: str, url: str, params: dict[str, str] | None, json_body: Any, client_request_id: str,
        read_timeout: float,
    ) -> GraphResponse:
        """One attempt: Graph's answer, whatever its status, or a GraphTransportError when there is none."""
        token = self._credential.get_token(self.settings.graph_scope).token
        headers = {
            "Authorization": f"Bearer {token}",
            "Accept": "application/json",
            "Prefer": "include-unknown-enum-members",
            "client-request-id": client_request_id,
            "User-Agent": USER_AGENT,
        }
        data = None
        if json_body is not None:
            headers["Content-Type"] = "application/json"
            data = json.dumps(json_body, separators=(",", ":")).encode()
        self.stats.add(requests=1)
        try:
            response = self._session.request(
                method, url, params=params, data=data, headers=headers,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout),
            )
            content = response.content  # reads the whole body: a truncated one raises here
            body = json.loads(content) if content else None
        except (requests.RequestException, ValueError) as exc:
            raise transport_failure(exc, method=method, path=urlsplit(url).path,
                                    client_request_id=client_request_id) from exc
        return GraphResponse(
            status=response.status_code,
            body=body,
            headers=dict(response.headers.items()),
            request_id=response.headers.get("request-id", ""),
        )


def _answer_of_failure(request_id: str, failure: GraphFailure) -> dict[str, Any]:
    """An inner $batch answer standing for a failure that Graph did not report per request: a transport failure
    stands as 504, Graph not answering in time."""
    headers: dict[str, str] = {}
    status = 504
    if isinstance(failure, GraphError):
        status = failure.status
        if failure.request_id:
            headers["request-id"] = failure.request_id
        if failure.retry_after is not None:
            headers["Retry-After"] = f"{failure.retry_after:g}"
    return {"id": request_id, "status": status, "headers": headers,
            "body": {"error": {"code": failure.code, "message": failure.message}}}


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


_sessions: ProcessCache[str, requests.Session] = ProcessCache("the shared Graph session")


def shared_session() -> requests.Session:
    """The process's session for short-lived clients (one per export run): a client of its own per run would open a
    new TLS connection to Graph for every run, a handshake's latency and CPU each time; this one keeps them open
    across runs and invocations. urllib3's pool is thread-safe, and Graph sets no cookies the session could mix."""
    return _sessions.get_or_create("graph", lambda: new_session(pool_size=32))
