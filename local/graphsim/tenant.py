"""One simulated tenant: its collections, its clock, and every change Graph (or a test) can make to its data."""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from . import enums
from . import resources as R
from .config import SimConfig
from .data import TenantGenerator
from .errors import GraphError, bad_request, not_found
from .store import Collection, Record, encode
from .ticks import format_ticks, now_ticks

Item = dict[str, Any]

MAX_RISKY_IDS = 60  # riskyUsers dismiss (beta docs: "The maximum count of users to dismiss in one call is 60")
MAX_INCIDENT_COMMENT = 1000  # field report in docs/graph-notes.md

_STATUS = R.ALERTS.field_index("status")


@contextlib.contextmanager
def paused_gc() -> Iterator[None]:
    """Building 100k alerts (or decoding them back) allocates millions of containers; the cyclic GC would rescan
    the growing heap again and again and more than double the time. Nothing built here has reference cycles."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


class TenantState:
    """All data of one tenant. Every public method takes the tenant lock, so it is safe from any thread."""

    def __init__(self, tenant_id: str, index: int, config: SimConfig, anchor: int):
        self.id = tenant_id
        self.lock = threading.RLock()
        self.config = config
        self.gen = TenantGenerator(
            config.seed,
            index,
            tenant_id,
            anchor=anchor,
            history_days=config.history_days,
            evidence_kb=config.evidence_kb,
            extra_field_rate=config.extra_field_rate,
            alerts_per_incident=config.alerts_per_incident,
            users=config.directory_users,
            devices=config.directory_devices,
        )
        self.collections: dict[str, Collection] = {}
        self.incident_alerts: dict[str, list[str]] = {}
        with paused_gc():
            self._generate()
        self.clock = max(c.max_key() for c in self.collections.values())

    def _generate(self) -> None:
        cfg, gen = self.config, self.gen
        alerts: list[Record] = []
        incidents: list[Record] = []
        for incident, group in gen.security(cfg.alerts):
            alerts.extend(encode(R.ALERTS, a) for a in group)
            incidents.append(encode(R.INCIDENTS, incident))
            self.incident_alerts[incident["id"]] = [a["id"] for a in group]
        users = gen.risky_users(cfg.risky_users)
        detections = gen.risk_detections(cfg.risk_detections, users)
        # A risky user's riskLastUpdatedDateTime is never older than its newest detection.
        newest: dict[str, str] = {}
        for d in detections:
            newest[d["userId"]] = max(newest.get(d["userId"], ""), d["lastUpdatedDateTime"])
        for u in users:
            u["riskLastUpdatedDateTime"] = max(u["riskLastUpdatedDateTime"], newest.get(u["id"], ""))
        sps = gen.risky_service_principals(cfg.risky_service_principals)
        sp_detections = gen.service_principal_risk_detections(cfg.service_principal_risk_detections, sps)
        self.collections = {
            R.ALERTS.name: Collection(R.ALERTS, alerts),
            R.INCIDENTS.name: Collection(R.INCIDENTS, incidents),
            R.RISK_DETECTIONS.name: Collection(R.RISK_DETECTIONS, [encode(R.RISK_DETECTIONS, d) for d in detections]),
            R.RISKY_USERS.name: Collection(R.RISKY_USERS, [encode(R.RISKY_USERS, u) for u in users]),
            R.RISKY_SERVICE_PRINCIPALS.name: Collection(
                R.RISKY_SERVICE_PRINCIPALS, [encode(R.RISKY_SERVICE_PRINCIPALS, s) for s in sps]
            ),
            R.SERVICE_PRINCIPAL_RISK_DETECTIONS.name: Collection(
                R.SERVICE_PRINCIPAL_RISK_DETECTIONS,
                [encode(R.SERVICE_PRINCIPAL_RISK_DETECTIONS, d) for d in sp_detections],
            ),
        }

    # --- basics -----------------------------------------------------------------------------------------------------

    def collection(self, name: str) -> Collection:
        return self.collections[name]

    def next_ticks(self) -> int:
        """A fresh "now": the wall clock, but strictly later than every timestamp this tenant has handed out."""
        with self.lock:
            self.clock = max(now_ticks(), self.clock + 1)
            return self.clock

    def _load(self, name: str, item_id: str) -> Item:
        record = self.collections[name].get(item_id)
        if record is None:
            raise KeyError(item_id)
        return record.to_dict(full=True)

    def _store(self, spec: R.ResourceSpec, item: Item) -> Record:
        record = encode(spec, item)
        self.collections[spec.name].put(record)
        return record

    def items(self, name: str) -> list[Item]:
        with self.lock:
            records = self.collections[name].newest_first()
        with paused_gc():
            return [r.to_dict(full=True) for r in records]

    # --- test controls ----------------------------------------------------------------------------------------------

    def add_alerts(self, count: int, *, same_timestamp: bool = False) -> list[str]:
        """``count`` new alerts, newer than anything in the tenant, in new (or now and then existing) incidents."""
        if count <= 0:
            return []
        ids: list[str] = []
        with self.lock:
            rng = self.gen.rng
            shared = self.next_ticks() if same_timestamp else None
            remaining = count
            while remaining:
                size = min(remaining, max(1, round(rng.expovariate(1.0 / self.config.alerts_per_incident))))
                remaining -= size
                existing = list(self.incident_alerts)[-50:] if rng.random() < 0.25 and self.incident_alerts else []
                incident_id = rng.choice(existing) if existing else self.gen.next_incident_id()
                group = []
                for _ in range(size):
                    ts = shared if shared is not None else self.next_ticks()
                    alert = self.gen.alert(incident_id, ts, ts, "new")
                    self._store(R.ALERTS, alert)
                    group.append(alert)
                    ids.append(alert["id"])
                if existing:
                    self.incident_alerts[incident_id].extend(a["id"] for a in group)
                    self._touch_incident(incident_id, group[-1]["lastUpdateDateTime"])
                else:
                    self.incident_alerts[incident_id] = [a["id"] for a in group]
                    self._store(R.INCIDENTS, self.gen.incident(incident_id, group))
        return ids

    def update_alerts(
        self, ids: Iterable[str] | None = None, *, count: int | None = None, same_timestamp: bool = False
    ) -> list[str]:
        """Bump lastUpdateDateTime (and move the status on) of ``ids``, or of ``count`` random alerts."""
        with self.lock:
            alerts = self.collections[R.ALERTS.name]
            if ids is None:
                pool = list(alerts.records)
                chosen = self.gen.rng.sample(pool, min(count if count is not None else 1, len(pool)))
            else:
                chosen = list(ids)
                missing = [i for i in chosen if alerts.get(i) is None]
                if missing:
                    raise KeyError(f"unknown alert ids: {missing[:5]}")
            shared = self.next_ticks() if same_timestamp else None
            for alert_id in chosen:
                ts = shared if shared is not None else self.next_ticks()
                alert = self._load(R.ALERTS.name, alert_id)
                self._advance_status(alert, ts)
                self._write_alert(alert, ts)
        return chosen

    def _advance_status(self, alert: Item, ts: int) -> None:
        """new -> inProgress -> resolved -> inProgress (reopened), with the fields a SOC would set along the way."""
        rng = self.gen.rng
        if alert["status"] in ("new", "unknown"):
            alert["status"] = "inProgress"
            alert["assignedTo"] = alert["assignedTo"] or rng.choice(self.gen.users)["userPrincipalName"]
        elif alert["status"] == "inProgress":
            alert["status"] = "resolved"
            alert["classification"], alert["determination"] = self.gen._verdict()
        else:
            alert["status"] = "inProgress"
            alert["comments"].append(self.gen.comment("Reopened: new activity observed.", "SOC Automation", ts))

    def _write_alert(self, alert: Item, ts: int) -> Record:
        """Store an alert changed at ``ts`` and bring its incident along."""
        stamp = format_ticks(ts)
        alert["lastUpdateDateTime"] = stamp
        alert["resolvedDateTime"] = stamp if alert["status"] == "resolved" else None
        record = self._store(R.ALERTS, alert)
        self._touch_incident(alert["incidentId"], stamp)
        return record

    def _touch_incident(self, incident_id: str, stamp: str) -> None:
        try:
            incident = self._load(R.INCIDENTS.name, incident_id)
        except KeyError:
            return
        incident["lastUpdateDateTime"] = max(incident["lastUpdateDateTime"], stamp)
        if incident["status"] not in ("redirected", "awaitingAction"):
            alerts = self.collections[R.ALERTS.name]
            statuses = set()
            for a in self.incident_alerts.get(incident_id, ()):
                rec = alerts.get(a)
                if rec is not None and rec.fields[_STATUS] is not None:
                    statuses.add(enums.ALERT_STATUS.members[rec.fields[_STATUS]])
            if statuses == {"resolved"}:
                incident["status"] = "resolved"
            elif statuses & {"inProgress", "resolved"}:
                incident["status"] = "inProgress"
            else:
                incident["status"] = "active"
        self._store(R.INCIDENTS, incident)

    # --- Graph writes: security -------------------------------------------------------------------------------------

    def patch_alert(self, alert_id: str, body: object) -> Record:
        changes = _validated_changes(
            body,
            {
                "status": enums.ALERT_STATUS,
                "classification": enums.ALERT_CLASSIFICATION,
                "determination": enums.ALERT_DETERMINATION,
                "assignedTo": None,
            },
            nullable={"classification", "determination", "assignedTo"},
        )
        with self.lock:
            alert = self._get(R.ALERTS, alert_id, "alert")
            if not changes:  # only ignored properties (e.g. comments): Graph answers 200 and changes nothing
                return self.collections[R.ALERTS.name].records[alert_id]
            alert.update(changes)
            return self._write_alert(alert, self.next_ticks())

    def add_alert_comment(self, alert_id: str, body: object, author: str) -> list[Item]:
        text = _comment_text(body)
        with self.lock:
            alert = self._get(R.ALERTS, alert_id, "alert")
            ts = self.next_ticks()
            alert["comments"].append(self.gen.comment(text, author, ts))
            self._write_alert(alert, ts)
            return alert["comments"]

    def patch_incident(self, incident_id: str, body: object, author: str) -> Record:
        changes = _validated_changes(
            body,
            {
                "status": enums.INCIDENT_STATUS,
                "classification": enums.ALERT_CLASSIFICATION,
                "determination": enums.ALERT_DETERMINATION,
                "assignedTo": None,
                "customTags": list,
            },
            nullable={"classification", "determination", "assignedTo"},
        )
        with self.lock:
            incident = self._get(R.INCIDENTS, incident_id, "incident")
            if not changes:
                return self.collections[R.INCIDENTS.name].records[incident_id]
            incident.update(changes)
            incident["lastUpdateDateTime"] = format_ticks(self.next_ticks())
            incident["lastModifiedBy"] = author
            return self._store(R.INCIDENTS, incident)

    def add_incident_comment(self, incident_id: str, body: object, author: str) -> list[Item]:
        text = _comment_text(body)
        if len(text) > MAX_INCIDENT_COMMENT:
            raise bad_request(f"Maximum comment length is {MAX_INCIDENT_COMMENT} characters, received {len(text)}.")
        with self.lock:
            incident = self._get(R.INCIDENTS, incident_id, "incident")
            ts = self.next_ticks()
            incident["comments"].append(self.gen.comment(text, author, ts))
            incident["lastUpdateDateTime"] = format_ticks(ts)
            self._store(R.INCIDENTS, incident)
            return incident["comments"]

    def _get(self, spec: R.ResourceSpec, item_id: str, noun: str) -> Item:
        try:
            return self._load(spec.name, item_id)
        except KeyError:
            raise not_found(f"The {noun} with id '{item_id}' was not found.") from None

    # --- Graph writes: Identity Protection --------------------------------------------------------------------------

    def risky_users_action(self, action: str, body: object) -> None:
        ids = _id_list(body, "userIds", "users")
        with self.lock:
            ts = self.next_ticks()
            stamp = format_ticks(ts)
            users = self.collections[R.RISKY_USERS.name]
            for user_id in ids:
                if users.get(user_id) is None:
                    continue  # unknown ids are ignored, the call still succeeds
                user = self._load(R.RISKY_USERS.name, user_id)
                if action == "confirmCompromised":
                    user.update(
                        riskState="confirmedCompromised", riskLevel="high", riskDetail="adminConfirmedUserCompromised"
                    )
                    # Identity Protection records the admin's decision as a detection of its own.
                    detection = self.gen.risk_detection(user, event_type="adminConfirmedUserCompromised", at=ts)
                    self._store(R.RISK_DETECTIONS, detection)
                else:
                    user.update(riskState="dismissed", riskLevel="none", riskDetail="adminDismissedAllRiskForUser")
                    self._dismiss_detections(user_id, stamp)
                user["riskLastUpdatedDateTime"] = stamp
                self._store(R.RISKY_USERS, user)

    def _dismiss_detections(self, user_id: str, stamp: str) -> None:
        detections = self.collections[R.RISK_DETECTIONS.name]
        user_field = R.RISK_DETECTIONS.field_index("userId")
        state_field = R.RISK_DETECTIONS.field_index("riskState")
        at_risk = enums.RISK_STATE.index("atRisk")
        for record in list(detections.records.values()):
            if record.fields[user_field] == user_id and record.fields[state_field] == at_risk:
                d = record.to_dict()
                d.update(riskState="dismissed", riskDetail="adminDismissedAllRiskForUser", lastUpdatedDateTime=stamp)
                self._store(R.RISK_DETECTIONS, d)

    def risky_service_principals_action(self, action: str, body: object) -> None:
        ids = _id_list(body, "servicePrincipalIds", "service principals")
        with self.lock:
            stamp = format_ticks(self.next_ticks())
            sps = self.collections[R.RISKY_SERVICE_PRINCIPALS.name]
            for sp_id in ids:
                if sps.get(sp_id) is None:
                    continue
                sp = self._load(R.RISKY_SERVICE_PRINCIPALS.name, sp_id)
                if action == "confirmCompromised":
                    sp.update(
                        riskState="confirmedCompromised",
                        riskLevel="high",
                        riskDetail="adminConfirmedServicePrincipalCompromised",
                    )
                else:
                    sp.update(
                        riskState="dismissed", riskLevel="none", riskDetail="adminDismissedAllRiskForServicePrincipal"
                    )
                sp["riskLastUpdatedDateTime"] = stamp
                self._store(R.RISKY_SERVICE_PRINCIPALS, sp)


# --- request body validation ------------------------------------------------------------------------------------------


def _object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request("The request body must be a JSON object.")
    return body


def _validated_changes(body: object, writable: dict[str, Any], nullable: set[str]) -> Item:
    """The writable properties of a PATCH body, checked and canonicalized; other properties are ignored, as Graph
    does for alerts_v2 (docs/graph-notes.md)."""
    changes: Item = {}
    for name, value in _object(body).items():
        if name not in writable:
            continue
        kind = writable[name]
        if value is None:
            if name not in nullable:
                raise bad_request(f"Property '{name}' cannot be null.")
            changes[name] = None
        elif isinstance(kind, enums.GraphEnum):
            canonical = kind.canonical(value) if isinstance(value, str) else None
            if canonical is None or canonical == kind.sentinel:
                raise bad_request(
                    f"Invalid value '{value}' for property '{name}'. Allowed values: {', '.join(kind.settable())}."
                )
            changes[name] = canonical
        elif kind is list:
            if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                raise bad_request(f"Property '{name}' must be an array of strings.")
            changes[name] = value
        else:
            if not isinstance(value, str):
                raise bad_request(f"Property '{name}' must be a string.")
            changes[name] = value
    return changes


def _comment_text(body: object) -> str:
    text = _object(body).get("comment")
    if not isinstance(text, str) or not text.strip():
        raise bad_request("The property 'comment' is required and must be a non-empty string.")
    return text


def _id_list(body: object, key: str, noun: str) -> list[str]:
    ids = _object(body).get(key)
    if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
        raise bad_request(f"The property '{key}' is required and must be an array of strings.")
    if len(ids) > MAX_RISKY_IDS:
        raise GraphError(400, f"The maximum count of {noun} in one call is {MAX_RISKY_IDS}; received {len(ids)}.")
    return ids


class LazyTenants(Mapping[str, TenantState]):
    """Every tenant's state, each built on first use: a simulator of hundreds of tenants starts at once, and a
    tenant nobody asks for costs nothing (building one of the default size takes about 0.1 s)."""

    def __init__(self, tenant_ids: tuple[str, ...], config: SimConfig, anchor: int) -> None:
        self._index = {tenant: i for i, tenant in enumerate(tenant_ids)}
        self._config = config
        self._anchor = anchor
        self._built: dict[str, TenantState] = {}
        self._locks = {tenant: threading.Lock() for tenant in tenant_ids}

    def __getitem__(self, tenant: str) -> TenantState:
        state = self._built.get(tenant)
        if state is not None:
            return state
        lock = self._locks[tenant]  # KeyError for an unknown tenant, as a dict would raise
        with lock:  # one tenant is built once, while other tenants build (or answer) in parallel
            state = self._built.get(tenant)
            if state is None:
                state = self._built[tenant] = TenantState(tenant, self._index[tenant], self._config, self._anchor)
        return state

    def __iter__(self) -> Iterator[str]:
        return iter(self._index)

    def __len__(self) -> int:
        return len(self._index)

    def __contains__(self, tenant: object) -> bool:
        return tenant in self._index
