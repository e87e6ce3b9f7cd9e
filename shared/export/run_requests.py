"""Validation of "export now" requests (HTTP) into engine calls, and the HTTP status of their outcome."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from shared.export.engine import RunSummary
from shared.export.streams import STREAMS
from shared.problems import Problem
from shared.settings import Settings
from shared.storage.clients import Patience
from shared.tenants import current_tenants

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
    if any(s.status == "failed" for s in summaries):
        return 502
    if any(s.status == "skipped" for s in summaries):
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
