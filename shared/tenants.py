"""The tenants this app serves: from GRAPH_TENANT_IDS, or from a small JSON blob in the state container.

The blob lets a managed security service provider add or change a customer tenant without a redeploy (and without
the app restart that changing an app setting costs). Every reader asks the same source through `current_tenants`:
the export timers and work items, "export now", the status endpoint, the actions and the webhooks.

The document (docs/multi-tenant.md, "The tenant list"):

    {"tenants": [{"id": "<GUID>", "displayName": "Contoso", "streams": ["alerts", "incidents"], "everyMinutes": 60}]}

`id` is required; `displayName` is for people; `streams` (default: every stream of EXPORT_STREAMS) narrows the export
of that tenant, an empty list exports nothing (the tenant is served by the actions only); `everyMinutes` (default:
every timer tick) queues the tenant's export at most that often. An entry that is wrong is reported (naming the
entry, the tenant and the field) and skipped; the other tenants go on. A document that cannot be read as a whole
(not JSON, not of this shape, too large) serves no tenant and is reported as an error.

Caching: each process keeps the last document it read with its ETag. A reader that wants it fresh (a timer tick,
an HTTP request) asks Storage with If-None-Match: when nothing changed, Storage answers 304 without a body, a
round trip of a few milliseconds per tick or request, and a change is seen by the very next tick or request on any
instance. The queue worker, which runs hundreds of items a minute and only rechecks what the timer already
decided, accepts a copy up to WORKER_MAX_AGE seconds old. If Storage fails, a process that has read the list before
keeps using its copy (and logs it); one that never has fails the call.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.process_cache import ProcessCache
from shared.settings import GUID_RE

if TYPE_CHECKING:
    from shared.settings import Settings
    from shared.storage.clients import Patience

log = logging.getLogger("graph_security_bridge.tenants")

MAX_DOCUMENT_BYTES = 1024 * 1024  # about 5,000 tenants with names and streams: "small", and read on every tick
MAX_DISPLAY_NAME = 256
MAX_EVERY_MINUTES = 7 * 24 * 60
WORKER_MAX_AGE = 60.0
ENTRY_FIELDS = ("id", "displayName", "streams", "everyMinutes")


@dataclass(frozen=True)
class Tenant:
    id: str
    display_name: str = ""
    streams: tuple[str, ...] | None = None  # None: every stream of EXPORT_STREAMS
    every_minutes: int | None = None  # None: every timer tick

    def export_streams(self, settings: Settings) -> tuple[str, ...]:
        """The streams to export for this tenant: its own choice, within EXPORT_STREAMS, in that order."""
        if self.streams is None:
            return settings.export_streams
        return tuple(s for s in settings.export_streams if s in self.streams)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.display_name or None,
                "streams": list(self.streams) if self.streams is not None else None,
                "everyMinutes": self.every_minutes}


@dataclass(frozen=True)
class TenantList:
    tenants: tuple[Tenant, ...]
    source: str  # for messages: "GRAPH_TENANT_IDS" or "blob graph-state/tenants.json"
    problems: tuple[str, ...] = ()  # entries that were skipped, each naming the entry, tenant and field
    error: str | None = None  # the document as a whole could not be used: no tenant is served

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(t.id for t in self.tenants)

    def get(self, tenant_id: str) -> Tenant | None:
        wanted = tenant_id.strip().lower()
        return next((t for t in self.tenants if t.id == wanted), None)

    def problem_of(self, tenant_id: str) -> str | None:
        """Why an entry naming this tenant was skipped, if one was."""
        wanted = tenant_id.strip().lower()
        return next((p for p in self.problems if wanted in p.lower()), None)

    def report(self) -> dict[str, Any]:
        """For the status endpoint: where the list comes from and what is wrong with it."""
        return {"source": self.source, "tenants": len(self.tenants), "problems": list(self.problems),
                "error": self.error}


# --- parsing


def from_setting(settings: Settings) -> TenantList:
    return TenantList(tuple(Tenant(t) for t in settings.tenant_ids), "GRAPH_TENANT_IDS")


def parse_document(body: bytes, source: str, *, auth_mode: str) -> TenantList:
    """Validate a tenant-list document. Never raises: what is wrong is in `problems` or `error`."""
    from shared.export.streams import STREAMS

    def unusable(why: str) -> TenantList:
        return TenantList((), source, error=f"The tenant list ({source}) {why}")

    if len(body) > MAX_DOCUMENT_BYTES:
        return unusable(f"is {len(body)} bytes; at most {MAX_DOCUMENT_BYTES} are read.")
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        return unusable(f"is not JSON: {str(exc)[:200]}")
    if not isinstance(document, dict) or not isinstance(document.get("tenants"), list):
        return unusable('is not a JSON object with a "tenants" list: {"tenants": [{"id": "<tenant id>"}]}')
    problems = [f'unknown top-level field {k!r} (ignored); expected "tenants"' for k in document if k != "tenants"]
    streams_by_lower = {name.lower(): name for name in STREAMS}
    tenants: list[Tenant] = []
    seen: set[str] = set()
    for index, entry in enumerate(document["tenants"]):
        where = f"tenants[{index}]"
        if not isinstance(entry, dict):
            problems.append(f"{where} is not an object; skipped")
            continue
        raw_id = entry.get("id")
        if not isinstance(raw_id, str) or not GUID_RE.fullmatch(raw_id.strip()):
            problems.append(f"{where}: field 'id' must be a tenant id (a GUID), got {str(raw_id)[:60]!r}; skipped")
            continue
        tenant_id = raw_id.strip().lower()
        where = f"{where} (tenant {tenant_id})"
        wrong = []
        unknown = [k for k in entry if k not in ENTRY_FIELDS]
        if unknown:
            wrong.append(f"unknown field(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(ENTRY_FIELDS)}")
        name = entry.get("displayName", "")
        if not isinstance(name, str) or len(name) > MAX_DISPLAY_NAME:
            wrong.append(f"field 'displayName' must be a string of at most {MAX_DISPLAY_NAME} characters")
        streams: tuple[str, ...] | None = None
        if "streams" in entry:
            listed = entry["streams"]
            if not isinstance(listed, list) or not all(isinstance(s, str) for s in listed):
                wrong.append("field 'streams' must be a list of stream names")
            else:
                unknown_streams = [s for s in listed if s.lower() not in streams_by_lower]
                if unknown_streams:
                    wrong.append(f"field 'streams' names unknown stream(s) {', '.join(unknown_streams)}; known: "
                                 f"{', '.join(STREAMS)}")
                streams = tuple(dict.fromkeys(streams_by_lower[s.lower()] for s in listed
                                              if s.lower() in streams_by_lower))
        every = entry.get("everyMinutes")
        if every is not None and (isinstance(every, bool) or not isinstance(every, int)
                                  or not 1 <= every <= MAX_EVERY_MINUTES):
            wrong.append(f"field 'everyMinutes' must be a whole number of minutes from 1 to {MAX_EVERY_MINUTES}")
        if tenant_id in seen:
            wrong.append("the tenant is listed twice (the first entry is used)")
        if wrong:
            problems.append(f"{where}: {'; '.join(wrong)}; skipped")
            continue
        seen.add(tenant_id)
        tenants.append(Tenant(tenant_id, name.strip() if isinstance(name, str) else "", streams, every))
    if auth_mode == "managed_identity" and len(tenants) > 1:
        # A managed identity gets tokens for its own tenant whatever tenant is asked for: exporting a second tenant
        # would file the home tenant's data under another tenant's name.
        return unusable(f"lists {len(tenants)} tenants, but GRAPH_AUTH_MODE=managed_identity serves only the "
                        "identity's own tenant: use managed_identity_federation (docs/multi-tenant.md).")
    return TenantList(tuple(tenants), source, tuple(problems))


# --- reading, with the per-process cache


@dataclass
class _Cached:
    etag: str | None
    tenants: TenantList
    checked_at: float


_cache: ProcessCache[tuple[str, ...], _Cached] = ProcessCache("tenant lists")


def current_tenants(settings: Settings, *, max_age: float = 0.0, patience: Patience | None = None,
                    clock: Callable[[], float] = time.monotonic) -> TenantList:
    """The tenant list now. From GRAPH_TENANT_IDS at no cost; from the blob with an ETag-checked read unless this
    process checked it less than `max_age` seconds ago."""
    if not settings.tenant_list_blob:
        return from_setting(settings)
    from azure.core import MatchConditions
    from azure.core.exceptions import AzureError, ResourceNotFoundError, ResourceNotModifiedError

    from shared.storage.clients import Patience, blob_service

    source = f"blob {settings.state_container}/{settings.tenant_list_blob}"
    key = (settings.storage_connection_string, settings.blob_service_uri, settings.state_container,
           settings.tenant_list_blob, settings.auth_mode)
    cached = _cache.get(key)
    now = clock()
    if cached is not None and now - cached.checked_at < max_age:
        return cached.tenants
    blob = blob_service(settings, patience=patience or Patience.BACKGROUND).get_blob_client(
        settings.state_container, settings.tenant_list_blob)
    try:
        if cached is not None and cached.etag:
            download = blob.download_blob(etag=cached.etag, match_condition=MatchConditions.IfModified)
        else:
            download = blob.download_blob()
        body = download.readall()
        fresh = _Cached(download.properties.etag,
                        parse_document(body, source, auth_mode=settings.auth_mode), now)
        _log_problems(fresh.tenants)
    except ResourceNotModifiedError:
        assert cached is not None
        fresh = _Cached(cached.etag, cached.tenants, now)
    except ResourceNotFoundError:
        # A new deployment before its first customer: no tenant yet, said once per check.
        fresh = _Cached(None, TenantList((), source, (f"The tenant list ({source}) does not exist yet: no tenant "
                                                      "is served until it is written.",)), now)
    except AzureError as exc:
        if cached is None:
            raise
        if getattr(exc, "status_code", None) != 412:
            log.warning("Could not read the tenant list (%s): %s; using the copy read %.0f s ago", source, exc,
                        now - cached.checked_at)
            return cached.tenants
        # Azure answers an unchanged blob's If-None-Match read with 304; Azurite with 412 ConditionNotMet. Either
        # way the ETag still matches: the copy is current.
        fresh = _Cached(cached.etag, cached.tenants, now)
    _cache.put(key, fresh)
    return fresh.tenants


def _log_problems(tenants: TenantList) -> None:
    if tenants.error:
        log.error(tenants.error)
    for problem in tenants.problems:
        log.warning("Tenant list (%s): %s", tenants.source, problem)
