"""The audit trail of actions: one JSON line per change, appended to one append blob per tenant and UTC day.

    <AUDIT_CONTAINER>/audit/tenant=<tenant>/YYYY/MM/DD.ndjson      (then DD.1.ndjson, ... past 50,000 appends)

A line is written only after Graph accepted the change, and holds when (UTC), who (see caller.py), what (operation,
target, the values sent) and the values before and after where they are known. A request that changes several
items (bulk, risky users) appends its lines in one block, so they land together.

If storage refuses the append, the change has already happened in Graph: the answer still reports success (a retry
would change nothing and so write nothing), and the lines are logged at ERROR level with the marker
"AUDIT-NOT-WRITTEN" so that they survive in Application Insights.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.process_cache import ProcessCache

if TYPE_CHECKING:
    from azure.storage.blob import ContainerClient

    from shared.settings import Settings

log = logging.getLogger("graph_security_bridge.audit")

MAX_APPEND_BYTES = 4 * 1024 * 1024  # an append block holds at most 4 MiB

# (container url, day blob) -> current roll-over suffix
_suffixes: ProcessCache[tuple[str, str], int] = ProcessCache("audit blob roll-over suffixes")


def _after(full: int) -> Callable[[int | None], int]:
    """The change of a roll-over suffix once blob `full` is full (another writer may have moved it further)."""
    return lambda current: max(current or 0, full + 1)


def now_utc() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def blob_name(tenant: str, moment: datetime, suffix: int = 0) -> str:
    day = moment.astimezone(UTC)
    return f"audit/tenant={tenant}/{day:%Y/%m/%d}" + (f".{suffix}" if suffix else "") + ".ndjson"


def record(
    *,
    operation: str,
    tenant: str,
    target_type: str,
    target_id: str,
    caller: dict[str, Any],
    sent: dict[str, Any] | None,
    before: dict[str, Any] | None,
    after: dict[str, Any] | None,
    graph_request_id: str = "",
    idempotency_key: str | None = None,
    moment: datetime | None = None,
    note: str | None = None,
) -> dict[str, Any]:
    """One audit line. `before` is None where the value was not read (bulk and risky-user actions)."""
    line: dict[str, Any] = {
        "time": iso(moment or now_utc()),
        "auditId": str(uuid.uuid4()),
        "tenant": tenant,
        "operation": operation,
        "target": {"type": target_type, "id": target_id},
        "caller": caller,
        "sent": sent,
        "before": before,
        "after": after,
    }
    if graph_request_id:
        line["graphRequestId"] = graph_request_id
    if idempotency_key:
        line["idempotencyKey"] = idempotency_key
    if note:
        line["note"] = note
    return line


class AuditTrail:
    def __init__(self, settings: Settings, *, clock: Callable[[], datetime] = now_utc) -> None:
        self.settings = settings
        self._clock = clock

    def _container(self) -> ContainerClient:
        from shared.storage.clients import Patience, blob_service, ensure_container

        container = blob_service(self.settings, patience=Patience.INTERACTIVE).get_container_client(
            self.settings.audit_container)
        ensure_container(container)
        return container

    def append(self, tenant: str, lines: list[dict[str, Any]]) -> bool:
        """Append the lines; True when stored. Never raises: see the module docstring."""
        if not lines:
            return True
        try:
            self._append(tenant, lines)
            return True
        except Exception:
            for line in lines:
                log.error("AUDIT-NOT-WRITTEN %s", json.dumps(line, separators=(",", ":"), ensure_ascii=False))
            log.exception("Could not append %d audit line(s) for tenant %s", len(lines), tenant)
            return False

    def _append(self, tenant: str, lines: list[dict[str, Any]]) -> None:
        from azure.core import MatchConditions
        from azure.core.exceptions import HttpResponseError, ResourceExistsError, ResourceNotFoundError

        chunks: list[bytes] = []
        current = b""
        for line in lines:
            data = (json.dumps(line, separators=(",", ":"), ensure_ascii=False) + "\n").encode()
            if current and len(current) + len(data) > MAX_APPEND_BYTES:
                chunks.append(current)
                current = b""
            current += data
        chunks.append(current)

        container = self._container()
        moment = self._clock()
        day_blob = blob_name(tenant, moment)
        key = (container.url, day_blob)
        for data in chunks:
            for _ in range(100):
                suffix = _suffixes.get(key) or 0
                blob = container.get_blob_client(blob_name(tenant, moment, suffix))
                try:
                    blob.append_block(data)
                    break
                except ResourceNotFoundError:
                    try:
                        blob.create_append_blob(match_condition=MatchConditions.IfMissing)
                    except ResourceExistsError:
                        pass  # another writer created it first
                    blob.append_block(data)
                    break
                except HttpResponseError as exc:
                    if getattr(exc, "error_code", None) != "BlockCountExceedsLimit":  # set by the storage SDK
                        raise
                    _suffixes.update(key, _after(suffix))  # this day's blob is full: roll over to the next one
            else:
                raise RuntimeError(f"no audit blob of {day_blob} accepted the append")
