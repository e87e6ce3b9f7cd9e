"""Outbound HTTP from the simulator to webhook receivers: validation handshakes, change and lifecycle notifications.

Graph calls the app's endpoints (docs/graph-notes.md); so does the simulator, with ``requests``:

- **Validation** runs synchronously in the thread that handles ``POST``/``PATCH /subscriptions``, because Graph only
  answers the create call once the handshake is over.
- **Notifications** go through one background thread and a queue ordered by due time, so a retry waiting out its
  delay never holds up other deliveries. Deliveries are sequential: a slow receiver delays the ones behind it.

Every attempt is kept as a ``DeliveryRecord``. TLS is verified against ``REQUESTS_CA_BUNDLE`` (or
``CURL_CA_BUNDLE``), read at call time, so https receivers signed by the local CA work in tests. Proxy variables are
ignored (``trust_env = False``): the receivers are loopback services.
"""

from __future__ import annotations

import heapq
import itertools
import json
import os
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

import requests

from .config import SimConfig

VALIDATION = "validation"
NOTIFICATION = "notification"
LIFECYCLE = "lifecycle"
NOTIFICATION_CONTENT_TYPE = "application/json; charset=utf-8"
VALIDATION_CONTENT_TYPE = "text/plain; charset=utf-8"


@dataclass(frozen=True)
class DeliveryRecord:
    """One outbound POST (one attempt)."""

    kind: str  # "validation" | "notification" | "lifecycle"
    url: str  # without the query string
    subscription_ids: tuple[str, ...]
    items: int  # notifications in the body (0 for a validation request)
    status: int  # 0 = no answer (timeout, connection error)
    duration_s: float
    attempt: int  # 1 for the first try
    ok: bool
    error: str | None = None  # why it failed, when it did


@dataclass
class _Job:
    kind: str
    url: str  # with its query string: Graph echoes the app's parameters
    body: bytes
    subscription_ids: tuple[str, ...]
    items: int
    attempt: int = 0


def without_query(url: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))


def with_param(url: str, name: str, value: str) -> str:
    """``url`` with one more query parameter, keeping the existing ones byte for byte."""
    parts = urlsplit(url)
    extra = urlencode({name: value})  # spaces become "+", as in Graph's own validation requests
    query = f"{parts.query}&{extra}" if parts.query else extra
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def _verify() -> str | bool:
    return os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE") or True


def _session() -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    return session


class Notifier:
    def __init__(self, config: SimConfig):
        self.config = config
        self._records: deque[DeliveryRecord] = deque(maxlen=config.request_log_size)
        self._cond = threading.Condition()
        self._queue: list[tuple[float, int, _Job]] = []  # heap on (due time, sequence)
        self._seq = itertools.count()
        self._in_flight = 0
        self._stopping = False
        self._thread: threading.Thread | None = None

    # --- lifecycle --------------------------------------------------------------------------------------------------

    def start(self) -> None:
        with self._cond:
            if self._thread is not None:
                return
            self._stopping = False
            self._thread = threading.Thread(target=self._run, name="graphsim-notifier", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        """Drop what is still queued and wait (bounded) for the delivery in flight, if any."""
        with self._cond:
            thread, self._thread = self._thread, None
            self._stopping = True
            self._queue.clear()
            self._cond.notify_all()
        if thread is not None:
            # requests' timeout applies to connect and to read separately: allow both, then give up (daemon thread).
            thread.join(timeout=2 * self.config.notification_timeout + 1)

    # --- queue ------------------------------------------------------------------------------------------------------

    def enqueue(self, kind: str, url: str, payload: dict[str, Any], subscription_ids: tuple[str, ...]) -> None:
        job = _Job(kind, url, json.dumps(payload).encode(), subscription_ids, len(payload.get("value", ())))
        with self._cond:
            heapq.heappush(self._queue, (time.monotonic(), next(self._seq), job))
            self._cond.notify_all()

    def wait_idle(self, timeout: float) -> bool:
        """True once nothing is queued, scheduled for a retry or in flight; False if ``timeout`` passes first."""
        with self._cond:
            return self._cond.wait_for(lambda: not self._queue and not self._in_flight, timeout)

    @property
    def records(self) -> list[DeliveryRecord]:
        with self._cond:
            return list(self._records)

    def _record(self, record: DeliveryRecord) -> None:
        with self._cond:
            self._records.append(record)

    def _next_job(self) -> _Job | None:
        with self._cond:
            while True:
                if self._stopping:
                    return None
                wait = None
                if self._queue:
                    wait = self._queue[0][0] - time.monotonic()
                    if wait <= 0:
                        self._in_flight += 1
                        return heapq.heappop(self._queue)[2]
                self._cond.wait(wait)

    def _run(self) -> None:
        session = _session()
        try:
            while (job := self._next_job()) is not None:
                ok = False
                try:
                    ok = self._deliver(session, job)
                finally:
                    with self._cond:
                        self._in_flight -= 1
                        if not ok and job.attempt < self.config.notification_max_attempts and not self._stopping:
                            due = time.monotonic() + self.config.notification_retry_delay
                            heapq.heappush(self._queue, (due, next(self._seq), job))
                        self._cond.notify_all()
        finally:
            session.close()

    def _deliver(self, session: requests.Session, job: _Job) -> bool:
        job.attempt += 1
        started = time.perf_counter()
        status, error = 0, None
        try:
            resp = session.post(
                job.url,
                data=job.body,
                headers={"Content-Type": NOTIFICATION_CONTENT_TYPE},
                timeout=self.config.notification_timeout,
                verify=_verify(),
                allow_redirects=False,
            )
            _ = resp.content  # read it all, so the connection can be reused
            status = resp.status_code
            if not 200 <= status < 300:
                error = f"HTTP {status}"
        except requests.Timeout:
            error = "timeout"
        except requests.RequestException as exc:
            error = f"{type(exc).__name__}: {exc}"
        ok = error is None
        self._record(
            DeliveryRecord(
                job.kind,
                without_query(job.url),
                job.subscription_ids,
                job.items,
                status,
                time.perf_counter() - started,
                job.attempt,
                ok,
                error,
            )
        )
        return ok

    # --- validation handshake ---------------------------------------------------------------------------------------

    def validate(self, url: str, token: str, subscription_id: str) -> str | None:
        """POST ``url?validationToken=...`` and check the answer (reference 6.3); None if it passed, else why not."""
        started = time.perf_counter()
        status, problem = 0, None
        try:
            with _session() as session:
                resp = session.post(
                    with_param(url, "validationToken", token),
                    data=b"",
                    headers={"Content-Type": VALIDATION_CONTENT_TYPE},
                    timeout=self.config.validation_timeout,
                    verify=_verify(),
                    allow_redirects=False,
                )
                status = resp.status_code
                content_type = resp.headers.get("Content-Type", "")
                text = resp.content.decode("utf-8", "replace")
            if status != 200:
                problem = f"Notification endpoint must respond with 200 OK to validation request (got {status})."
            elif not content_type.lower().startswith("text/plain"):
                problem = f"The response must have Content-Type text/plain (got '{content_type}')."
            elif text != token:
                problem = "Response must exactly match validationToken query parameter."
        except requests.Timeout:
            problem = f"The endpoint did not answer within {self.config.validation_timeout:g} seconds."
        except requests.RequestException as exc:
            problem = f"The endpoint could not be reached ({type(exc).__name__})."
        self._record(
            DeliveryRecord(
                VALIDATION,
                without_query(url),
                (subscription_id,),
                0,
                status,
                time.perf_counter() - started,
                1,
                problem is None,
                problem,
            )
        )
        return problem
