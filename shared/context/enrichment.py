"""Inline enrichment (EXPORT_ENRICH=true): a compact `bridgeContext` on each exported alert, with the essentials of
the users and devices its evidence names, for SIEMs that cannot join the alert to directory data themselves.

How it stays cheap and harmless:
- keys: the Entra object id of each user (`userAccount.azureAdUserId`) and the Entra device id of each device
  (`deviceEvidence.azureAdDeviceId`) in the page's alerts;
- deduplicated: each entity is looked up at most once per run, and the answers are cached per tenant with a TTL
  (users 24 h, devices 6 h), so later runs ask only for entities they have not seen lately;
- batched: `$batch` of at most 20 GETs with `$select`, each marked `x-ms-throttle-priority: low` so that Graph
  throttles this background work before interactive calls; paced on the identity-and-access budget, never on the
  security budget the alert export uses;
- harmless: a lookup that fails (throttled past the retries, 403 for a missing permission, 404 for a deleted object)
  leaves that entity out of `bridgeContext.missing` and is counted in the run summary; the alerts are exported all
  the same, and nothing here raises into the export.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from shared.context.lookups import BATCH_SIZE as BATCH_SIZE  # re-exported: the tests size batches with it
from shared.context.lookups import Lookup, LookupStats, run_lookups
from shared.process_cache import register

if TYPE_CHECKING:
    from shared.graph.client import GraphClient

log = logging.getLogger("graph_security_bridge.enrichment")

USER_FIELDS = ("id", "userPrincipalName", "displayName", "accountEnabled", "userType", "department", "jobTitle",
               "createdDateTime", "onPremisesSyncEnabled")
DEVICE_FIELDS = ("id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType",
                 "isCompliant", "isManaged", "approximateLastSignInDateTime")
TTL_SECONDS = {"user": 24 * 3600.0, "device": 6 * 3600.0, "servicePrincipal": 24 * 3600.0}
NOT_FOUND = object()  # cached answer for an entity the directory does not have


def lookup_url(kind: str, key: str) -> str:
    if kind == "user":
        return f"/users/{quote(key, safe='')}?$select={','.join(USER_FIELDS)}"
    return f"/devices?$filter={quote(f'deviceId eq {key!r}', safe='')}&$select={','.join(DEVICE_FIELDS)}"


def entity_keys(alert: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(user object ids, Entra device ids) named by an alert's evidence, in order, without repeats."""
    users: dict[str, None] = {}
    devices: dict[str, None] = {}
    for ev in alert.get("evidence") or ():
        if not isinstance(ev, dict):
            continue
        account = ev.get("userAccount")
        if isinstance(account, dict) and isinstance(account.get("azureAdUserId"), str) and account["azureAdUserId"]:
            users[account["azureAdUserId"].lower()] = None
        device_id = ev.get("azureAdDeviceId")
        if str(ev.get("@odata.type", "")).endswith("deviceEvidence") and isinstance(device_id, str) and device_id:
            devices[device_id.lower()] = None
    return list(users), list(devices)


class ContextCache:
    """Directory answers per (tenant, kind, key) with a TTL per kind; shared by the runs of one process."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._entries: dict[tuple[str, str, str], tuple[float, Any]] = {}
        self._lock = threading.Lock()

    def get(self, tenant: str, kind: str, key: str) -> Any:
        """The cached answer (a dict or NOT_FOUND), or None when there is none or it expired."""
        with self._lock:
            entry = self._entries.get((tenant, kind, key))
            if entry is None or entry[0] <= self._clock():
                return None
            return entry[1]

    def put(self, tenant: str, kind: str, key: str, value: Any) -> None:
        with self._lock:
            self._entries[(tenant, kind, key)] = (self._clock() + TTL_SECONDS[kind], value)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


@dataclass
class EnrichmentStats(LookupStats):
    entities: int = 0  # distinct users and devices the run's alerts named
    cache_hits: int = 0
    not_found: int = 0
    failed: int = 0  # lookups that got no usable answer (throttled, forbidden, ...)


_process_cache = register(ContextCache())  # emptied with the other process caches (shared.runtime)


class Enricher:
    """The enrichment of one run of the alerts stream for one tenant."""

    def __init__(self, client: GraphClient, tenant: str, cache: ContextCache | None = None) -> None:
        self._client = client
        self._tenant = tenant
        self._cache = cache or _process_cache
        self._seen: set[tuple[str, str]] = set()  # looked at in this run (per-run dedupe, failures included)
        self._failed: set[tuple[str, str]] = set()
        self.stats = EnrichmentStats()

    def enrich(self, alerts: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The alerts, each with `bridgeContext` (new dicts; the input is left as it was)."""
        keys = [entity_keys(alert) for alert in alerts]
        wanted = [("user", k) for users, _ in keys for k in users] + [("device", k) for _, ds in keys for k in ds]
        try:
            self._fetch(wanted)
        except Exception as exc:  # enrichment must never fail the export: report and go on
            log.warning("Enrichment of %s failed: %s", self._tenant, exc)
            self.stats.note_error(f"{type(exc).__name__}: {exc}")
        return [{**alert, "bridgeContext": self._context(users, devices)}
                for alert, (users, devices) in zip(alerts, keys, strict=True)]

    def _fetch(self, wanted: Iterable[tuple[str, str]]) -> None:
        todo: list[tuple[str, str]] = []
        for entity in dict.fromkeys(wanted):
            if entity in self._seen:
                continue
            self._seen.add(entity)
            self.stats.entities += 1
            if self._cache.get(self._tenant, *entity) is not None:
                self.stats.cache_hits += 1
            else:
                todo.append(entity)
        answers = run_lookups(self._client, [Lookup((kind, key), lookup_url(kind, key)) for kind, key in todo],
                              self.stats)
        for kind, key in todo:
            self._take(kind, key, answers[(kind, key)])

    def _take(self, kind: str, key: str, answer: dict[str, Any]) -> None:
        status, body = answer.get("status"), answer.get("body")
        if status == 200 and isinstance(body, dict):
            found = body if kind == "user" else next(iter(body.get("value") or []), None)
            if isinstance(found, dict):
                self._cache.put(self._tenant, kind, key, found)
            else:
                self._cache.put(self._tenant, kind, key, NOT_FOUND)
                self.stats.not_found += 1
        elif status == 404:
            self._cache.put(self._tenant, kind, key, NOT_FOUND)
            self.stats.not_found += 1
        else:
            self.stats.failed += 1
            self._failed.add((kind, key))
            error = body.get("error", {}) if isinstance(body, dict) else {}
            hint = " (grant User.Read.All / Device.Read.All to turn it on)" if status == 403 else ""
            self.stats.note_error(f"{kind} lookup: {status} {error.get('code', '')}{hint}".strip())

    def _context(self, users: list[str], devices: list[str]) -> dict[str, Any]:
        found_users: list[dict[str, Any]] = []
        found_devices: list[dict[str, Any]] = []
        missing: dict[str, list[str]] = {"users": [], "devices": []}
        for kind, keys, found, fields in (("user", users, found_users, USER_FIELDS),
                                          ("device", devices, found_devices, DEVICE_FIELDS)):
            for key in keys:
                value = self._cache.get(self._tenant, kind, key)
                if isinstance(value, dict):
                    found.append({f: value.get(f) for f in fields if value.get(f) is not None})
                else:
                    missing[f"{kind}s"].append(key)
        context: dict[str, Any] = {"users": found_users, "devices": found_devices}
        if missing["users"] or missing["devices"]:
            context["missing"] = missing
        return context
