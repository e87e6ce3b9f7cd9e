"""Inline enrichment (EXPORT_ENRICH=true): a compact `bridgeContext` on each exported alert, with the essentials of
the users and devices its evidence names, for SIEMs that cannot join the alert to directory data themselves.

How it stays cheap and harmless:
- keys: the Entra object id of each user (`userAccount.azureAdUserId`) and the Entra device id of each device
  (`deviceEvidence.azureAdDeviceId`) in the page's alerts;
- deduplicated: each entity is looked up at most once per run, and what bridgeContext keeps of it is cached per
  tenant with a TTL (users 24 h, devices 6 h), so later runs ask only for entities they have not seen lately;
- batched twice: up to 15 entities of a kind per request (`id in (…)`, `deviceId eq … or …`, with `$select`:
  shared/context/bulk_lookups.py), up to 20 requests per `$batch`, each marked `x-ms-throttle-priority: low` so that
  Graph throttles this background work before interactive calls; paced on the identity-and-access budget, never on
  the security budget the alert export uses. A directory that refuses the multi-value filter (400) gets one request
  per entity for that chunk, and the run's stats say so once;
- harmless: a lookup that fails (throttled past the retries, 403 for a missing permission, an answer too incomplete
  to prove anything) leaves that entity in `bridgeContext.missing`, uncached, and is counted in the run summary; the
  alerts are exported all the same, and nothing here raises into the export.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from shared.context.bulk_lookups import (
    KINDS,
    EntityKind,
    ListAnswer,
    bulk_url,
    chunks,
    compact,
    read_list,
    single_url,
)
from shared.context.lookups import BATCH_SIZE as BATCH_SIZE  # re-exported: the tests size batches with it
from shared.context.lookups import Lookup, LookupStats, error_code, run_lookups
from shared.process_cache import register

if TYPE_CHECKING:
    from shared.graph.client import GraphClient

log = logging.getLogger("graph_security_bridge.enrichment")

TTL_SECONDS = {"user": 24 * 3600.0, "device": 6 * 3600.0, "servicePrincipal": 24 * 3600.0}
NOT_FOUND = object()  # cached answer for an entity the directory does not have


def entity_keys(alert: dict[str, Any]) -> tuple[list[str], list[str]]:
    """(user object ids, Entra device ids) named by an alert's evidence, in order, without repeats."""
    users: dict[str, None] = {}
    devices: dict[str, None] = {}
    # Once per exported alert: the cheap tests first (most evidence names neither a user nor a device).
    for ev in alert.get("evidence") or ():
        if not isinstance(ev, dict):
            continue
        account = ev.get("userAccount")
        if account and isinstance(account, dict):
            user_id = account.get("azureAdUserId")
            if user_id and isinstance(user_id, str):
                users[user_id.lower()] = None
        device_id = ev.get("azureAdDeviceId")
        if device_id and isinstance(device_id, str) and str(ev.get("@odata.type", "")).endswith("deviceEvidence"):
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
    users: int = 0  # of which users
    devices: int = 0  # of which devices
    cache_hits: int = 0
    not_found: int = 0
    failed: int = 0  # entities that got no usable answer (throttled, forbidden, incomplete answer, ...)
    one_by_one: int = 0  # entities looked up alone because the directory refused the multi-value filter


_process_cache = register(ContextCache())  # emptied with the other process caches (shared.runtime)


class Enricher:
    """The enrichment of one run of the alerts stream for one tenant."""

    def __init__(self, client: GraphClient, tenant: str, cache: ContextCache | None = None) -> None:
        self._client = client
        self._tenant = tenant
        self._cache = cache or _process_cache  # (kind, key) -> compact dict or NOT_FOUND, across runs
        # What this run knows of each entity it looked at: its compact dict, or None (not found or failed). Each
        # entity is looked at once per run, and an alert's context is read from here, without the cache's lock.
        self._known: dict[tuple[str, str], dict[str, Any] | None] = {}
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
        todo: dict[str, list[str]] = {name: [] for name in KINDS}
        for entity in dict.fromkeys(wanted):
            if entity in self._known:
                continue
            self._known[entity] = None  # missing until an answer says otherwise
            self.stats.entities += 1
            if entity[0] == "user":
                self.stats.users += 1
            else:
                self.stats.devices += 1
            cached = self._cache.get(self._tenant, *entity)
            if cached is None:
                todo[entity[0]].append(entity[1])
                continue
            self.stats.cache_hits += 1
            if isinstance(cached, dict):
                self._known[entity] = cached
        requests = [(KINDS[name], chunk) for name, keys in todo.items() for chunk in chunks(keys)]
        answers = run_lookups(self._client, [Lookup(index, bulk_url(kind, chunk))
                                             for index, (kind, chunk) in enumerate(requests)], self.stats)
        refused: list[tuple[EntityKind, str]] = []
        refusal: dict[str, Any] | None = None
        for index, (kind, chunk) in enumerate(requests):
            answer = answers[index]
            listing = read_list(kind, answer.get("body")) if answer.get("status") == 200 else None
            if listing is not None:
                self._take_list(kind, chunk, listing)
            elif answer.get("status") == 400:
                refused.extend((kind, key) for key in chunk)
                refusal = refusal or answer
            else:
                for _ in chunk:
                    self._fail_answer(kind, answer)
        if refusal is not None:  # said once per run (the same message is kept once); one_by_one counts them
            self.stats.note_error(f"directory refused the multi-value filter (400 {error_code(refusal)}): "
                                  "its entities were looked up one by one")
            self._one_by_one(refused)

    def _take_list(self, kind: EntityKind, keys: list[str], listing: ListAnswer) -> None:
        for key in keys:
            if key in listing.found:
                self._remember(kind, key, compact(kind, listing.found[key]))
            elif listing.complete:
                self._remember(kind, key, NOT_FOUND)
            else:  # perhaps on a page not read: not proven absent, so not cached
                self._fail(f"{kind.name} lookup: a paged answer (@odata.nextLink) proves no absence")

    def _one_by_one(self, refused: list[tuple[EntityKind, str]]) -> None:
        """One request per entity, for the chunks whose multi-value filter the directory refused."""
        self.stats.one_by_one += len(refused)
        answers = run_lookups(self._client, [Lookup((kind.name, key), single_url(kind, key))
                                             for kind, key in refused], self.stats)
        for kind, key in refused:
            answer = answers[(kind.name, key)]
            status, body = answer.get("status"), answer.get("body")
            if status == 200 and kind.name == "user" and isinstance(body, dict):  # GET /users/{id}
                self._remember(kind, key, compact(kind, body))
            elif status == 404:
                self._remember(kind, key, NOT_FOUND)
            elif status == 200 and (listing := read_list(kind, body)) is not None:  # a one-value filter
                self._take_list(kind, [key], listing)
            else:
                self._fail_answer(kind, answer)

    def _remember(self, kind: EntityKind, key: str, value: Any) -> None:
        self._cache.put(self._tenant, kind.name, key, value)
        if isinstance(value, dict):
            self._known[(kind.name, key)] = value
        else:
            self.stats.not_found += 1

    def _fail(self, message: str) -> None:
        self.stats.failed += 1
        self.stats.note_error(message)

    def _fail_answer(self, kind: EntityKind, answer: dict[str, Any]) -> None:
        status = answer.get("status")
        hint = " (grant User.Read.All / Device.Read.All to turn it on)" if status == 403 else ""
        self._fail(f"{kind.name} lookup: {status} {error_code(answer)}{hint}".strip())

    def _context(self, users: list[str], devices: list[str]) -> dict[str, Any]:
        """An alert's bridgeContext, from what the run knows (once per exported alert: kept lean)."""
        known = self._known
        found_users, missing_users = self._split(known, "user", users)
        found_devices, missing_devices = self._split(known, "device", devices)
        context: dict[str, Any] = {"users": found_users, "devices": found_devices}
        if missing_users or missing_devices:
            context["missing"] = {"users": missing_users, "devices": missing_devices}
        return context

    @staticmethod
    def _split(known: dict[tuple[str, str], dict[str, Any] | None], kind: str,
               keys: list[str]) -> tuple[list[dict[str, Any]], list[str]]:
        """(copies of the entities known, keys of those missing): each alert its own dicts, the cache's untouched."""
        found: list[dict[str, Any]] = []
        missing: list[str] = []
        for key in keys:
            value = known.get((kind, key))
            if value is None:
                missing.append(key)
            else:
                found.append(value.copy())
        return found, missing
