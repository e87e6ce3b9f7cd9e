"""The retry policy's decisions, situation by situation (shared.graph.retry).

The policy is pure: a failure and the call's history in, a typed decision out. Back-off is made predictable with a
random source that always draws the top of its range, and time with a clock that stands still."""

from __future__ import annotations

import random

import pytest

from shared.graph.errors import GraphError, GraphFailure, NoAnswer, RequestNotSent, UntrustedLink
from shared.graph.retry import GiveUp, RequestHistory, Retry, RetryPolicy, RetryState, StopReason

NOW = 1000.0
MAX_ATTEMPTS = 4
MAX_WAIT = 30.0


class TopOfRange(random.Random):
    def uniform(self, a: float, b: float) -> float:
        return b


def policy() -> RetryPolicy:
    return RetryPolicy(MAX_ATTEMPTS, MAX_WAIT, rng=TopOfRange(), clock=lambda: NOW)


def state(*, idempotent: bool = True, failed_before: int = 0, waited: float = 0.0, deadline: float | None = None,
          may_renew_token: bool = True, token_renewed: bool = False) -> RetryState:
    history = [RequestHistory(None, waited / failed_before) for _ in range(failed_before)] if failed_before else []
    return RetryState(idempotent=idempotent, deadline=deadline, may_renew_token=may_renew_token, history=history,
                      token_renewed=token_renewed)


def answered(status: int, retry_after: float | None = None) -> GraphError:
    return GraphError(status, f"Code{status}", "message", retry_after=retry_after)


NOT_SENT = RequestNotSent("ConnectionError", "refused")
LOST = NoAnswer("ChunkedEncodingError", "connection broken")
TIMED_OUT = NoAnswer("ReadTimeout", "read timed out", timed_out=True)

# (situation, failure, state, decision). Back-off after attempt n, drawn at the top: 2**n seconds.
SITUATIONS: list[tuple[str, GraphFailure, RetryState, Retry | GiveUp]] = [
    ("429 with Retry-After: waited as Graph says, and the pacer holds the others off",
     answered(429, 2.5), state(), Retry(2.5, hold_seconds=2.5)),
    ("429 without Retry-After (Identity Protection): back-off",
     answered(429), state(), Retry(2.0, hold_seconds=2.0)),
    ("429 on a POST: Graph did not act, so it goes again", answered(429, 1.0), state(idempotent=False),
     Retry(1.0, hold_seconds=1.0)),
    ("503 on a POST: Graph did not act", answered(503, 1.0), state(idempotent=False), Retry(1.0)),
    ("Retry-After 0 is honoured, not replaced by back-off", answered(503, 0.0), state(), Retry(0.0)),
    ("500 on a GET: back-off, growing with the attempts", answered(500), state(failed_before=2), Retry(8.0)),
    ("502 on a GET", answered(502), state(), Retry(2.0)),
    ("504 on a GET", answered(504), state(), Retry(2.0)),
    ("500 on a POST: Graph may have acted", answered(500), state(idempotent=False),
     GiveUp(StopReason.NOT_RETRYABLE)),
    ("504 on a POST: Graph may have acted", answered(504), state(idempotent=False),
     GiveUp(StopReason.NOT_RETRYABLE)),
    ("404 is final", answered(404), state(), GiveUp(StopReason.NOT_RETRYABLE)),
    ("400 is final", answered(400), state(), GiveUp(StopReason.NOT_RETRYABLE)),
    ("403 is final", answered(403), state(), GiveUp(StopReason.NOT_RETRYABLE)),
    ("401: once more at once, with a new token, even for a POST", answered(401), state(idempotent=False),
     Retry(0.0, renew_token=True)),
    ("401 even on the last attempt: the renewal is once per call, outside the caps", answered(401),
     state(failed_before=MAX_ATTEMPTS - 1), Retry(0.0, renew_token=True)),
    ("401 after the renewal is final", answered(401), state(token_renewed=True), GiveUp(StopReason.NOT_RETRYABLE)),
    ("401 with the caller's own credential: nothing to renew", answered(401), state(may_renew_token=False),
     GiveUp(StopReason.NOT_RETRYABLE)),
    ("not sent: safe to send again, even a POST", NOT_SENT, state(idempotent=False), Retry(2.0)),
    ("no answer on a GET: sent again", LOST, state(), Retry(2.0)),
    ("no answer on a POST: Graph may have acted", LOST, state(idempotent=False), GiveUp(StopReason.NOT_RETRYABLE)),
    ("timed out on a POST the caller calls idempotent: sent again", TIMED_OUT, state(), Retry(2.0)),
    ("an untrusted link is never followed", UntrustedLink("UntrustedLink", "evil.example"), state(),
     GiveUp(StopReason.NOT_RETRYABLE)),
    ("the last attempt failed", answered(503), state(failed_before=MAX_ATTEMPTS - 1), GiveUp(StopReason.ATTEMPTS)),
    ("the last attempt was not sent", NOT_SENT, state(failed_before=MAX_ATTEMPTS - 1), GiveUp(StopReason.ATTEMPTS)),
    ("a wait past the total wait cap; the 429 still holds the others off", answered(429, 20.0),
     state(failed_before=1, waited=15.0), GiveUp(StopReason.WAIT_CAP, hold_seconds=20.0)),
    ("a wait exactly up to the cap", answered(503, 15.0), state(failed_before=1, waited=15.0), Retry(15.0)),
    ("a wait past the caller's deadline", answered(429, 5.0), state(deadline=NOW + 3),
     GiveUp(StopReason.DEADLINE, hold_seconds=5.0)),
    ("a wait within the caller's deadline", answered(503, 2.0), state(deadline=NOW + 3), Retry(2.0)),
]


@pytest.mark.parametrize(("failure", "before", "expected"), [row[1:] for row in SITUATIONS],
                         ids=[row[0] for row in SITUATIONS])
def test_decision(failure, before, expected):
    assert policy().decide(before, failure) == expected


def test_deciding_records_the_attempt():
    call = state(idempotent=False)
    retry_policy = policy()
    assert retry_policy.decide(call, answered(401)) == Retry(0.0, renew_token=True)
    assert retry_policy.decide(call, answered(429, 3.0)) == Retry(3.0, hold_seconds=3.0)
    assert retry_policy.decide(call, NOT_SENT) == Retry(8.0)
    assert (call.attempts, call.waited, call.token_renewed) == (3, 11.0, True)
    assert call.last_failure is NOT_SENT
    assert retry_policy.decide(call, answered(401)) == GiveUp(StopReason.NOT_RETRYABLE)  # renewed once already
    assert call.attempts == 4 and call.waited == 11.0


def test_backoff_grows_with_jitter_within_its_bounds():
    retry_policy = RetryPolicy(20, 3600, rng=random.Random(7))
    for attempt in range(1, 12):
        draws = [retry_policy.backoff(attempt) for _ in range(200)]
        assert all(0.5 <= d <= min(60.0, 2.0 ** attempt) for d in draws)
        assert len(set(draws)) > 100  # jittered: callers that failed together do not retry together
    assert policy().backoff(10) == 60.0  # capped


def inner(status: int, retry_after: str | None = None) -> dict:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return {"id": "1", "status": status, "headers": headers, "body": {}}


@pytest.mark.parametrize(("answer", "failed_before", "expected"), [
    (inner(429, "0.05"), 0, Retry(0.05)),
    (inner(429), 0, Retry(2.0)),
    (inner(503, "1"), 1, Retry(1.0)),
    (inner(504), 2, Retry(8.0)),
    (inner(500), 0, GiveUp(StopReason.NOT_RETRYABLE)),  # not retried inside a batch: returned to the caller
    (inner(404), 0, GiveUp(StopReason.NOT_RETRYABLE)),
    (inner(200), 0, GiveUp(StopReason.NOT_RETRYABLE)),  # final: an answer to keep
    (inner(429, "0.05"), MAX_ATTEMPTS - 1, GiveUp(StopReason.ATTEMPTS)),  # Graph's 429 is the answer
], ids=["429 Retry-After", "429 back-off", "503", "504", "500", "404", "200", "429 on the last attempt"])
def test_inner_batch_answer(answer, failed_before, expected):
    batch = state(failed_before=failed_before)
    assert policy().decide_inner(batch, answer) == expected
    assert batch.attempts == failed_before  # an inner answer is not an attempt


@pytest.mark.parametrize(("retries", "before", "expected"), [
    ([Retry(0.05), Retry(2.5), Retry(1.0)], state(), Retry(2.5, hold_seconds=2.5)),  # the longest Retry-After
    ([], state(failed_before=1), Retry(4.0, hold_seconds=4.0)),  # only requests left out: back-off
    ([Retry(20.0)], state(failed_before=1, waited=15.0), GiveUp(StopReason.WAIT_CAP)),
    ([Retry(5.0)], state(deadline=NOW + 3), GiveUp(StopReason.DEADLINE)),
    ([], state(failed_before=MAX_ATTEMPTS - 1), GiveUp(StopReason.ATTEMPTS)),  # left out of the last answer
], ids=["longest wait", "left out", "wait cap", "deadline", "attempts"])
def test_batch_retry(retries, before, expected):
    attempts = before.attempts
    assert policy().decide_batch(before, retries) == expected
    assert before.attempts == attempts + 1
