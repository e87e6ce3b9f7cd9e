"""Directory lookups in `$batch` calls: the one way the context code asks Graph about users, devices and apps.

Each lookup is one GET with `$select`; they go out in `$batch` calls of at most 20 (Graph's limit), every inner
request marked `x-ms-throttle-priority: low` so that Graph throttles this background work before interactive calls,
and paced on the identity-and-access budget (RateFamily.DIRECTORY), never on the security budget of the alert export.
A batch refused as a whole (403, throttled past the retries) is the answer of each of its requests: the caller
decides, per lookup, what a failure means.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from shared.graph.families import RateFamily

if TYPE_CHECKING:
    from shared.graph.client import GraphClient

BATCH_SIZE = 20  # Graph's $batch limit
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
    """The lookups in as few batches as BATCH_SIZE allows, the partial one first: the pacer spaces a batch's start
    by the slots of the batch before it, so a small batch first makes the full one wait a little, and the full one's
    spacing then elapses while the caller works on the answers rather than before the next call."""
    first = len(lookups) % BATCH_SIZE or BATCH_SIZE
    starts = [0, *range(first, len(lookups), BATCH_SIZE)] if lookups else []
    return [lookups[start:start + (first if start == 0 else BATCH_SIZE)] for start in starts]


def run_lookups(client: GraphClient, lookups: Sequence[Lookup], stats: LookupStats) -> dict[Hashable, dict[str, Any]]:
    """The inner answer (`status`, `body`, `headers`) of every lookup, by key, in batches of BATCH_SIZE."""
    from shared.graph.client import GraphError

    answers: dict[Hashable, dict[str, Any]] = {}
    for chunk in batches(lookups):
        requests = [{"id": str(i), "method": "GET", "url": lookup.url,
                     "headers": {**LOW_PRIORITY, **dict(lookup.headers)}} for i, lookup in enumerate(chunk)]
        stats.batches += 1
        stats.lookups += len(chunk)
        try:
            inner = client.batch(requests, family=RateFamily.DIRECTORY)
        except GraphError as exc:  # the whole batch failed: each lookup gets that failure as its answer
            stats.note_error(f"$batch: {exc}")
            inner = [failure_answer(exc.status or 504, exc.code, exc.message)] * len(chunk)
        except Exception as exc:  # never into the caller's export: report, and treat as failed
            stats.note_error(f"$batch: {type(exc).__name__}: {exc}")
            inner = [failure_answer(504, type(exc).__name__, str(exc))] * len(chunk)
        for lookup, answer in zip(chunk, inner, strict=True):
            answers[lookup.key] = answer
    return answers


def error_code(answer: dict[str, Any]) -> str:
    body = answer.get("body")
    error = body.get("error") if isinstance(body, dict) else None
    return str(error.get("code", "")) if isinstance(error, dict) else ""
