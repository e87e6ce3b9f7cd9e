"""Directory lookups in `$batch` calls: the one way the context code asks Graph about users, devices and apps.

Each lookup is one GET with `$select`; they go out in `$batch` calls of at most 20 (Graph's limit), every inner
request marked `x-ms-throttle-priority: low` so that Graph throttles this background work before interactive calls,
and paced on the identity-and-access budget (RateFamily.DIRECTORY), never on the security budget of the alert export.
A batch refused as a whole (403, throttled past the retries) is the answer of each of its requests: the caller
decides, per lookup, what a failure means.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shared.graph.families import RateFamily

if TYPE_CHECKING:
    from shared.graph.client import GraphClient

BATCH_SIZE = 20  # Graph's $batch limit
# $batch calls of one caller in flight at once. Graph takes a few hundred milliseconds per $batch: sent one after the
# other, a page's lookups would wait that long per 20 requests. The identity-and-access budget counts resource units
# per 10 s (the pacer bounds them), not calls in flight.
CONCURRENT_BATCHES = 4
LOW_PRIORITY = {"x-ms-throttle-priority": "low"}


@dataclass(frozen=True)
class Lookup:
    key: Hashable  # the caller's name for this answer, e.g. ("user", id, "profile")
    url: str  # relative to the version root, e.g. /users/{id}?$select=...
    headers: tuple[tuple[str, str], ...] = ()  # extra headers (e.g. ConsistencyLevel: eventual)


@dataclass
class LookupStats:
    """What a job's lookups cost and what went wrong; the jobs' run statistics extend it."""

    lookups: int = 0  # inner requests sent
    batches: int = 0  # $batch calls
    errors: list[str] = field(default_factory=list)  # the first few failures, for the operator

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)

    def note_error(self, message: str) -> None:
        if message and len(self.errors) < 5 and message not in self.errors:
            self.errors.append(message)


def failure_answer(status: int, code: str, message: str) -> dict[str, Any]:
    return {"status": status, "body": {"error": {"code": code, "message": message}}}


def batches(lookups: Sequence[Lookup]) -> list[Sequence[Lookup]]:
    """The lookups, in order, in as few batches as BATCH_SIZE allows."""
    return [lookups[start:start + BATCH_SIZE] for start in range(0, len(lookups), BATCH_SIZE)]


def run_lookups(client: GraphClient, lookups: Sequence[Lookup], stats: LookupStats) -> dict[Hashable, dict[str, Any]]:
    """The inner answer (`status`, `body`, `headers`) of every lookup, by key, in batches of BATCH_SIZE, up to
    CONCURRENT_BATCHES of them in flight at once."""
    chunks = batches(lookups)
    stats.batches += len(chunks)
    stats.lookups += len(lookups)
    if len(chunks) <= 1:
        sent = [_send(client, chunk) for chunk in chunks]
    else:
        with ThreadPoolExecutor(max_workers=min(CONCURRENT_BATCHES, len(chunks))) as pool:
            sent = list(pool.map(lambda chunk: _send(client, chunk), chunks))
    answers: dict[Hashable, dict[str, Any]] = {}
    for chunk, (inner, error) in zip(chunks, sent, strict=True):
        if error:
            stats.note_error(error)
        for lookup, answer in zip(chunk, inner, strict=True):
            answers[lookup.key] = answer
    return answers


def _send(client: GraphClient, chunk: Sequence[Lookup]) -> tuple[list[dict[str, Any]], str | None]:
    """One $batch call: its inner answers, and what went wrong with the call as a whole (each lookup then gets that
    failure as its answer). Never raises into the caller's export."""
    from shared.graph.client import GraphError

    requests = [{"id": str(i), "method": "GET", "url": lookup.url,
                 "headers": {**LOW_PRIORITY, **dict(lookup.headers)}} for i, lookup in enumerate(chunk)]
    try:
        return client.batch(requests, family=RateFamily.DIRECTORY), None
    except GraphError as exc:
        return [failure_answer(exc.status or 504, exc.code, exc.message)] * len(chunk), f"$batch: {exc}"
    except Exception as exc:
        return [failure_answer(504, type(exc).__name__, str(exc))] * len(chunk), f"$batch: {type(exc).__name__}: {exc}"


def error_code(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""
