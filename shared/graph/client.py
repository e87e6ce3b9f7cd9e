"""The one way every Microsoft Graph call goes.

Token from azure-identity for the cloud's `/.default` scope; a pooled `requests` session with timeouts; pacing per
tenant and API family; retries for 429 (honouring `Retry-After`, fractional seconds included, and exponential
back-off with full jitter where Graph sends none, as Identity Protection does), 500/502/503/504, timeouts, resets and
truncated bodies, capped in attempts and in total wait; paging by `@odata.nextLink`, followed verbatim and only to
the Graph host (it carries our bearer token); `Prefer: include-unknown-enum-members` and a `client-request-id` on
every call; Graph's request id in every error.
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
from requests.adapters import HTTPAdapter

from shared.graph.families import RateFamily, family_of_path
from shared.graph.pacing import RateBudgets, shared_budgets
from shared.redact import redact_url_secrets

if TYPE_CHECKING:
    from azure.core.credentials import TokenCredential

    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.graph")

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
CONNECT_TIMEOUT_SECONDS = 10.0
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0
USER_AGENT = "graph-security-bridge/0.1"
MAX_BATCH_REQUESTS = 20
IDEMPOTENT_METHODS = frozenset({"GET", "PUT", "PATCH", "DELETE"})
DIRECTORY_REQUESTS_PER_10_SECONDS = 3000


class GraphError(Exception):
    """Graph answered with an error (after retries, where the status is retryable) or could not be reached."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        method: str = "",
        path: str = "",
        request_id: str = "",
        client_request_id: str = "",
        retry_after: float | None = None,
        reached_graph: bool = True,
    ) -> None:
        """`reached_graph`: False only when the request certainly never reached Graph (no connection was made); a
        status 0 error with True means the request went out and its answer was lost or cut short, so whether Graph
        acted on it is unknown."""
        message = redact_url_secrets(message)
        self.status = status
        self.code = code
        self.message = message
        self.method = method
        self.path = path
        self.request_id = request_id
        self.client_request_id = client_request_id
        self.retry_after = retry_after
        self.reached_graph = reached_graph
        where = f"{method} {path}".strip()
        super().__init__(
            f"Graph {status} {code}: {message}" + (f" ({where})" if where else "")
            + (f" [request-id {request_id}]" if request_id else "")
        )


class DeadlineReached(Exception):
    """The caller's deadline came before Graph could be asked (no pacing slot in time): nothing was sent."""


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
    url: str  # the URL this page was read from (for resuming)


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


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header: Graph sends seconds, possibly fractional ("2.128")."""
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None  # An HTTP-date is allowed by RFC 9110 but Graph does not send one; back off instead.
    return seconds if seconds >= 0 else None


def _error_from_body(status: int, body: Any) -> tuple[str, str]:
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        error = body["error"]
        return str(error.get("code") or status), str(error.get("message") or "")
    return str(status), ""


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
                # Enrichment's directory lookups: under the smallest tenant's 3,500 resource units per 10 s.
                RateFamily.DIRECTORY.value: (DIRECTORY_REQUESTS_PER_10_SECONDS, 10.0),
            }
        )
        self._sleep = sleep
        self._rng = rng or random.Random()
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
        """One Graph call with pacing and retries. `path_or_url` is a path under /v1.0 or a nextLink.

        A POST is retried only where Graph cannot have acted on it (429, 503, a failed connect), unless the caller
        says it is idempotent: a repeated comment would be a second comment.

        `deadline` (a time.monotonic() value) bounds the whole call for a caller that must answer in time: no
        pacing wait, retry wait or read goes past it. DeadlineReached when the first attempt could not even start;
        after that, the last error.
        """
        url = self._url(path_or_url)
        path = urlsplit(url).path
        family = family or family_of_path(path)
        if idempotent is None:
            idempotent = method.upper() != "POST"
        pacer = self._budgets.pacer(self.tenant_id, family.value)
        client_request_id = str(uuid.uuid4())
        waited = 0.0
        attempt = 0
        error: GraphError | None = None
        renewed = False
        while True:
            attempt += 1
            waited_for_slot = pacer.acquire(slots, not_after=deadline)
            if waited_for_slot is None:
                if error is not None:
                    raise error
                raise DeadlineReached(f"no Graph request slot before the deadline for {method} {path}")
            if waited_for_slot:
                self.stats.add(waited_seconds=waited_for_slot)
            read_timeout = self.settings.timeout_seconds
            if deadline is not None:
                read_timeout = max(1.0, min(read_timeout, deadline - time.monotonic()))
            try:
                outcome = self._send_once(method, url, params, json_body, client_request_id, read_timeout)
            finally:
                pacer.answered()  # spacing counts from the answer too (pacing.py says why)
            self.stats.add(requests=1)
            if isinstance(outcome, GraphResponse) and outcome.status < 400:
                if outcome.status == 206:
                    log.warning("Graph answered 206 Partial Content for %s %s: %s (request-id %s)", method, path,
                                outcome.headers.get("Warning", ""), outcome.request_id)
                return outcome
            retry_after, error = self._classify(outcome, method, path, client_request_id, idempotent, attempt)
            if error.status == 401 and not renewed and self._renewable:
                # Graph refused the token before acting on anything (so even a POST may go again): once per call,
                # with a newly acquired token. A second 401 is final.
                from shared.graph.credentials import renewed_credential

                renewed = True
                self._credential = renewed_credential(self.settings, self.tenant_id, self._credential)
                log.warning("Graph refused the token for %s %s; retrying once with a new token", method, path)
                continue
            if retry_after is None:
                raise error
            if error.status == 429:
                self.stats.add(throttled=1)
                # Everyone in this process using the same tenant and family backs off, not just this call.
                pacer.hold_until(time.monotonic() + retry_after)
            if (attempt >= self.settings.max_attempts or waited + retry_after > self.settings.max_retry_wait_seconds
                    or (deadline is not None and time.monotonic() + retry_after > deadline)):
                log.error("Giving up on %s %s after %d attempts and %.1f s of waiting: %s", method, path, attempt,
                          waited, error)
                raise error
            log.info("Retrying %s %s in %.2f s (attempt %d): %s", method, path, retry_after, attempt, error)
            self.stats.add(retries=1, waited_seconds=retry_after)
            waited += retry_after
            self._sleep(retry_after)

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
            yield Page(items=items, next_link=next_link, url=self._url(url))
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
        DeadlineReached (nothing sent) or GraphError only when the first attempt fails as a whole.
        """
        if not 1 <= len(requests_) <= MAX_BATCH_REQUESTS:
            raise ValueError(f"a batch holds 1 to {MAX_BATCH_REQUESTS} requests")
        if any(str(r.get("method", "")).upper() not in IDEMPOTENT_METHODS for r in requests_):
            raise ValueError("batch() sends requests again: only idempotent methods (GET, PUT, PATCH, DELETE)")
        pending = {str(r["id"]): r for r in requests_}
        results: dict[str, dict[str, Any]] = {}
        last_answers: dict[str, dict[str, Any]] = {}  # Graph's latest answer to each pending request, if any
        waited = 0.0
        for attempt in range(1, self.settings.max_attempts + 1):
            try:
                response = self.request(
                    "POST", "/$batch", json_body={"requests": list(pending.values())}, family=family,
                    idempotent=True, slots=len(pending), deadline=deadline,
                )
            except (GraphError, DeadlineReached) as exc:
                if attempt == 1:
                    raise
                failure = exc if isinstance(exc, GraphError) else GraphError(
                    504, "DeadlineReached", "the request's time budget ended before this request could be sent again")
                last_answers.update((request_id, _answer_of_error(request_id, failure)) for request_id in pending)
                break
            answers = (response.body or {}).get("responses", []) if isinstance(response.body, dict) else []
            retry_waits: list[float] = []
            answered: set[str] = set()
            for answer in answers:
                answer_id = str(answer.get("id"))
                if answer_id not in pending:
                    continue
                answered.add(answer_id)
                status = _int_or_zero(answer.get("status"))
                answer = {**answer, "status": status}
                if status in (429, 503, 504) and attempt < self.settings.max_attempts:
                    headers = {k.lower(): v for k, v in (answer.get("headers") or {}).items()}
                    retry_waits.append(parse_retry_after(headers.get("retry-after")) or self._backoff(attempt))
                    last_answers[answer_id] = answer
                    continue
                results[answer_id] = answer
                del pending[answer_id]
            for request_id in set(pending) - answered:  # left out: an older answer no longer describes it
                last_answers.pop(request_id, None)
            if not pending:
                break
            if not retry_waits:  # Graph left some requests unanswered: retry them as a whole.
                retry_waits.append(self._backoff(attempt))
            wait = max(retry_waits)
            if (waited + wait > self.settings.max_retry_wait_seconds
                    or (deadline is not None and time.monotonic() + wait > deadline)):
                break
            self.stats.add(throttled=1, retries=1, waited_seconds=wait)
            self._budgets.pacer(self.tenant_id, family.value).hold_until(time.monotonic() + wait)
            waited += wait
            self._sleep(wait)
        for request_id in pending:  # still throttled or failing, or never answered, when the retries stopped
            results[request_id] = last_answers.get(request_id) or _answer_of_error(request_id, GraphError(
                504, "NoAnswerInBatch", "Graph's $batch answer did not include this request, which may or may not "
                "have been applied; sending it again is safe"))
        return [results[str(r["id"])] for r in requests_]

    # --- internals

    def _url(self, path_or_url: str) -> str:
        if path_or_url.startswith("https://") or path_or_url.startswith("http://"):
            parts = urlsplit(path_or_url)
            if parts.netloc.lower() != self._host:
                # A nextLink to another host would receive our bearer token.
                raise GraphError(0, "UntrustedLink", f"refusing to follow a link to {parts.netloc}")
            return path_or_url
        if not path_or_url.startswith("/"):
            path_or_url = "/" + path_or_url
        return self.base + path_or_url

    def _send_once(
        self, method: str, url: str, params: dict[str, str] | None, json_body: Any, client_request_id: str,
        read_timeout: float,
    ) -> GraphResponse | BaseException:
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
        try:
            response = self._session.request(
                method, url, params=params, data=data, headers=headers,
                timeout=(min(CONNECT_TIMEOUT_SECONDS, read_timeout), read_timeout),
            )
            content = response.content  # reads the whole body: a truncated one raises here
            body = json.loads(content) if content else None
        except (requests.RequestException, ValueError) as exc:
            # ValueError: a body that is not JSON (cut short by a proxy or a reset mid-stream).
            return exc
        response_headers = {k: v for k, v in response.headers.items()}
        return GraphResponse(
            status=response.status_code,
            body=body,
            headers=response_headers,
            request_id=response.headers.get("request-id", ""),
        )

    def _classify(
        self,
        outcome: GraphResponse | BaseException,
        method: str,
        path: str,
        client_request_id: str,
        idempotent: bool,
        attempt: int,
    ) -> tuple[float | None, GraphError]:
        """(seconds to wait before retrying or None for no retry, the error to raise if we stop)."""
        if isinstance(outcome, BaseException):
            unsent = _failed_before_sending(outcome)
            error = GraphError(0, type(outcome).__name__, str(outcome) or "no answer", method=method, path=path,
                               client_request_id=client_request_id, reached_graph=not unsent)
            if idempotent or unsent:
                return self._backoff(attempt), error
            return None, error
        code, message = _error_from_body(outcome.status, outcome.body)
        retry_after = parse_retry_after(outcome.headers.get("Retry-After"))
        error = GraphError(outcome.status, code, message, method=method, path=path, request_id=outcome.request_id,
                           client_request_id=client_request_id, retry_after=retry_after)
        log.warning("Graph %s %s answered %d %s (request-id %s, client-request-id %s)", method, path,
                    outcome.status, code, outcome.request_id, client_request_id)
        if outcome.status not in RETRYABLE_STATUSES:
            return None, error
        if not idempotent and outcome.status not in (429, 503):
            return None, error
        return (retry_after if retry_after is not None else self._backoff(attempt)), error

    def _backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter: uniform in [base, min(cap, base * 2**attempt)]."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(attempt, 16)))
        return self._rng.uniform(BACKOFF_BASE_SECONDS / 2, ceiling)


def _answer_of_error(request_id: str, error: GraphError) -> dict[str, Any]:
    """An inner $batch answer standing for a failure that Graph did not report per request."""
    headers = {"request-id": error.request_id} if error.request_id else {}
    if error.retry_after is not None:
        headers["Retry-After"] = f"{error.retry_after:g}"
    return {"id": request_id, "status": error.status or 504, "headers": headers,
            "body": {"error": {"code": error.code, "message": error.message}}}


def _int_or_zero(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _failed_before_sending(exc: BaseException) -> bool:
    """True when the request never reached Graph (no connection), so even a POST is safe to send again."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    from urllib3.exceptions import MaxRetryError, NewConnectionError

    reason = exc.args[0] if exc.args else None
    return isinstance(reason, MaxRetryError) and isinstance(reason.reason, NewConnectionError)


def new_session(pool_size: int = 16) -> requests.Session:
    """A session with connection reuse. requests' own retries are off: retries are ours, with Graph's rules."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


_shared_session: requests.Session | None = None
_shared_session_lock = threading.Lock()


def shared_session() -> requests.Session:
    """The process's session for short-lived clients (one per export run): a client of its own per run would open a
    new TLS connection to Graph for every run, a handshake's latency and CPU each time; this one keeps them open
    across runs and invocations. urllib3's pool is thread-safe, and Graph sets no cookies the session could mix."""
    global _shared_session
    with _shared_session_lock:
        if _shared_session is None:
            _shared_session = new_session(pool_size=32)
        return _shared_session
