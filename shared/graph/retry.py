"""When a failed Graph request goes again, and after how long: one policy for single calls and for $batch.

As azure-core's RetryPolicy: after each failed attempt the client asks the policy, which records the attempt in
the call's history and answers with a typed decision, `Retry(wait)` or `GiveUp(reason)`; the client does the
sending, sleeping, pacing and token renewal. The rules:

- what failed decides whether to go again: a request that never reached Graph always may; one whose answer was
  lost only if it is idempotent (a repeated comment would be a second comment); an answered 429, 500, 502, 503 or
  504 may, but a POST only after 429 or 503, which we read as Graph not having acted on it; a 401 goes again
  once, with a new token; anything else is final;
- Graph's Retry-After is honoured (fractional seconds included); without one, exponential back-off with jitter
  (Identity Protection sends none);
- GRAPH_MAX_ATTEMPTS caps the attempts, GRAPH_MAX_RETRY_WAIT_SECONDS the total wait, and a caller's deadline the
  end of any wait;
- inside a $batch answer, each inner request answered 429, 503 or 504 goes again (they are throttled one by one),
  with those left out of the answer, after the longest wait among them.

The Graph facts behind these rules, with their sources: docs/graph-notes.md, "Throttling".
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import TYPE_CHECKING, Any

from shared.graph.errors import GraphError, GraphFailure, NoAnswer, RequestNotSent, parse_retry_after

if TYPE_CHECKING:
    from shared.settings import Settings

RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
# Answers we read as Graph not having acted on the request (docs/graph-notes.md), so even a POST may go again.
NOT_ACTED_STATUSES = frozenset({429, 503})
# Inner $batch answers whose request goes again: Graph throttled, or could not serve, that one request.
BATCH_RETRY_STATUSES = frozenset({429, 503, 504})
BACKOFF_BASE_SECONDS = 1.0
BACKOFF_CAP_SECONDS = 60.0


class StopReason(Enum):
    NOT_RETRYABLE = "the failure is not one to retry"
    ATTEMPTS = "GRAPH_MAX_ATTEMPTS is reached"
    WAIT_CAP = "the wait would pass GRAPH_MAX_RETRY_WAIT_SECONDS"
    DEADLINE = "the wait would end past the caller's deadline"


@dataclass(frozen=True)
class Retry:
    """Send the request again after `wait` seconds."""

    wait: float
    renew_token: bool = False  # get a new token first: Graph refused the one we sent
    hold_seconds: float | None = None  # Graph throttled us: every call on this tenant and API family holds off


@dataclass(frozen=True)
class GiveUp:
    """Do not send it again: the last failure is the call's answer."""

    reason: StopReason
    hold_seconds: float | None = None  # as in Retry: a 429 holds the others off even when this call stops


Decision = Retry | GiveUp


@dataclass(frozen=True)
class RequestHistory:
    """One failed attempt: what failed (None: a $batch answer that left requests to send again) and the wait after
    it."""

    failure: GraphFailure | None
    wait: float


@dataclass
class RetryState:
    """One call's attempts so far."""

    idempotent: bool
    deadline: float | None = None  # a time.monotonic() value no wait may end after
    may_renew_token: bool = False
    history: list[RequestHistory] = field(default_factory=list)
    token_renewed: bool = False

    @property
    def attempts(self) -> int:
        return len(self.history)

    @property
    def waited(self) -> float:
        return sum(entry.wait for entry in self.history)

    @property
    def last_failure(self) -> GraphFailure | None:
        return self.history[-1].failure if self.history else None


@dataclass
class RetryPolicy:
    max_attempts: int
    max_wait_seconds: float
    rng: random.Random = field(default_factory=random.Random)
    clock: Callable[[], float] = time.monotonic

    @classmethod
    def from_settings(cls, settings: Settings, rng: random.Random | None = None) -> RetryPolicy:
        return cls(settings.max_attempts, settings.max_retry_wait_seconds, rng or random.Random())

    def decide(self, state: RetryState, failure: GraphFailure) -> Decision:
        """After an attempt that failed with `failure`: records it in `state` and says what to do."""
        decision = self._decide(state, failure, state.attempts + 1)
        self._record(state, failure, decision)
        return decision

    def decide_inner(self, state: RetryState, answer: Mapping[str, Any]) -> Decision:
        """For one inner answer of the $batch attempt just made (not yet recorded): send that request again, or take
        the answer as final. `answer["status"]` is an int."""
        if answer.get("status") not in BATCH_RETRY_STATUSES:
            return GiveUp(StopReason.NOT_RETRYABLE)
        attempt = state.attempts + 1
        if attempt >= self.max_attempts:
            return GiveUp(StopReason.ATTEMPTS)
        headers = {str(k).lower(): str(v) for k, v in (answer.get("headers") or {}).items()}
        retry_after = parse_retry_after(headers.get("retry-after"))
        return Retry(retry_after if retry_after is not None else self.backoff(attempt))

    def decide_batch(self, state: RetryState, retries: Sequence[Retry]) -> Decision:
        """After a $batch answer that leaves requests to send again: `retries` for those Graph answered, the rest
        were left out of the answer. One wait for them all, the longest (each Retry-After is honoured); the pacer
        holds the others off meanwhile, as the batch is throttled."""
        attempt = state.attempts + 1
        wait = max(retry.wait for retry in retries) if retries else self.backoff(attempt)
        stop = self._stop(state, attempt, wait)
        decision: Decision = GiveUp(stop) if stop else Retry(wait, hold_seconds=wait)
        self._record(state, None, decision)
        return decision

    def backoff(self, attempt: int) -> float:
        """Exponential back-off with full jitter: uniform between half the base and min(cap, base * 2**attempt)."""
        ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * (2 ** min(attempt, 16)))
        return self.rng.uniform(BACKOFF_BASE_SECONDS / 2, ceiling)

    # --- internals

    def _decide(self, state: RetryState, failure: GraphFailure, attempt: int) -> Decision:
        hold = None
        if isinstance(failure, GraphError):
            if failure.status == 401 and state.may_renew_token and not state.token_renewed:
                # Graph refused the token before acting on anything, so even a POST may go again: once per call,
                # with a newly acquired token, and at once. A second 401 is final.
                return Retry(0.0, renew_token=True)
            if failure.status not in RETRYABLE_STATUSES:
                return GiveUp(StopReason.NOT_RETRYABLE)
            if not state.idempotent and failure.status not in NOT_ACTED_STATUSES:
                return GiveUp(StopReason.NOT_RETRYABLE)  # a 500 or 504 may come after Graph acted
            wait = failure.retry_after if failure.retry_after is not None else self.backoff(attempt)
            if failure.status == 429:
                hold = wait
        elif isinstance(failure, RequestNotSent) or (isinstance(failure, NoAnswer) and state.idempotent):
            wait = self.backoff(attempt)
        else:
            return GiveUp(StopReason.NOT_RETRYABLE)
        stop = self._stop(state, attempt, wait)
        return GiveUp(stop, hold) if stop else Retry(wait, hold_seconds=hold)

    def _stop(self, state: RetryState, attempt: int, wait: float) -> StopReason | None:
        if attempt >= self.max_attempts:
            return StopReason.ATTEMPTS
        if state.waited + wait > self.max_wait_seconds:
            return StopReason.WAIT_CAP
        if state.deadline is not None and self.clock() + wait > state.deadline:
            return StopReason.DEADLINE
        return None

    @staticmethod
    def _record(state: RetryState, failure: GraphFailure | None, decision: Decision) -> None:
        state.history.append(RequestHistory(failure, decision.wait if isinstance(decision, Retry) else 0.0))
        if isinstance(decision, Retry) and decision.renew_token:
            state.token_renewed = True
