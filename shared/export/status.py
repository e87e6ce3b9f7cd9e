"""The export status per tenant and a summary across tenants, for operators with many tenants.

A tenant is
- failing: a stream's last run failed (its `lastError` is kept until the next success);
- lagging: no failure, but a stream has not succeeded for LAGGING_AFTER (or never): its work items are not running,
  or not finishing;
- healthy: otherwise.
The cursor's age is not used: a quiet tenant with nothing new has an old cursor and is healthy.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.problems import Problem
from shared.settings import GUID_RE

if TYPE_CHECKING:
    from shared.export.engine import ExportEngine

LAGGING_AFTER = timedelta(minutes=30)  # six missed 5-minute ticks


def tenant_state(rows: list[dict[str, Any]], now: datetime) -> str:
    if any(row.get("lastError") for row in rows):
        return "failing"
    for row in rows:
        last = row.get("lastSuccess")
        if not last or now - datetime.strptime(last, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) > LAGGING_AFTER:
            return "lagging"
    return "healthy"


def summary(rows: list[dict[str, Any]], now: datetime) -> dict[str, Any]:
    by_tenant: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        by_tenant.setdefault(row["tenant"], []).append(row)
    states = {tenant: tenant_state(tenant_rows, now) for tenant, tenant_rows in by_tenant.items()}
    counts = {state: sum(1 for s in states.values() if s == state) for state in ("healthy", "lagging", "failing")}
    return {**counts, "tenants": len(states),
            "failingTenants": sorted(t for t, s in states.items() if s == "failing"),
            "laggingTenants": sorted(t for t, s in states.items() if s == "lagging")}


def status_document(engine: ExportEngine, tenant: str | None, now: datetime | None = None) -> dict[str, Any]:
    """`{"streams": [...], "summary": {...}, "tenantList": {...}}` for every tenant, or
    `{"tenant", "displayName", "state", "streams"}` for one."""
    from shared.storage.clients import Patience
    from shared.tenants import current_tenants

    moment = now or datetime.now(UTC)
    wanted = tenant.strip().lower() if tenant else ""
    if tenant and not GUID_RE.fullmatch(wanted):
        raise Problem(400, "Invalid tenant", f"tenant={tenant[:100]!r} is not a tenant id (a GUID).")
    listed = current_tenants(engine.settings, patience=Patience.INTERACTIVE)
    if not tenant:
        rows = engine.status(listed.tenants)
        return {"streams": rows, "summary": summary(rows, moment), "tenantList": listed.report()}
    entry = listed.get(wanted)
    if entry is None:
        skipped = listed.problem_of(wanted)
        raise Problem(404, "Unknown tenant", f"Tenant {wanted} is not in the tenant list of this app ({listed.source})"
                      + (f": its entry was skipped: {skipped}" if skipped else "."))
    rows = engine.status((entry,))
    return {"tenant": wanted, "displayName": entry.display_name or None, "state": tenant_state(rows, moment),
            "streams": rows}
