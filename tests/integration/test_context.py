"""The context streams (userContext, deviceContext, servicePrincipalContext) against the simulator's directory over
loopback and the real Azurite: the entities the exported records name, each version once, joinable to the alerts;
a missing permission degrades the records; a directory that fails leaves the alert export alone; a crash at any
step, or a run stalled past its lease (a real process, SIGSTOP), loses and duplicates nothing."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime

import pytest

from local.export_check import read_export
from local.graphsim.directory import directory_of
from shared.context.entities import PRIVILEGED_ROLE_TEMPLATES
from shared.context.streams import SOURCES, STEP_ENTITIES, referenced
from shared.export.engine import ExportEngine, RunSummary, StepHook
from shared.export.streams import CONTEXT_STREAMS, GRAPH_STREAMS, STREAMS
from shared.process_cache import clear_all
from shared.settings import load_settings
from tests.integration.test_export import SimulatedCrash, assert_exactly_once
from tests.integration.test_export_stall import LEASE_SECONDS, REPOSITORY, wait_until_stopped

ALL_STREAMS = ",".join(GRAPH_STREAMS + CONTEXT_STREAMS)
CONTEXT_ON = {"EXPORT_STREAMS": ALL_STREAMS, "EXPORT_INITIAL_LOOKBACK_DAYS": 30}
KIND_OF = {name: STREAMS[name].context for name in CONTEXT_STREAMS}


@pytest.fixture(autouse=True)
def _empty_caches():
    clear_all()
    yield
    clear_all()


def named_entities(engine: ExportEngine, tenant: str, kind: str) -> set[str]:
    """Every entity key of `kind` that the exported source records name (what the context stream must cover)."""
    keys: set[str] = set()
    for source in SOURCES[kind]:
        for record in read_export(engine.exports, source, tenant).records:
            keys.update(referenced(source, record).get(kind, ()))
    return keys


def directory_lookups(sim) -> list:
    roots = ("users", "devices", "deviceManagement", "roleManagement", "reports")
    return [r for r in sim.request_log if r.in_batch and (r.path.split("/")[2] in roots
                                                          or r.path.split("/")[2].startswith("servicePrincipals"))]


def run_context_until_settled(engine: ExportEngine, tenant: str, limit: int = 6) -> list[RunSummary]:
    runs = []
    for _ in range(limit):
        summaries = [engine.run(stream, tenant) for stream in CONTEXT_STREAMS]
        runs += summaries
        assert all(s.status in ("ok", "partial") for s in summaries), [s.error for s in summaries]
        if all(s.status == "ok" and s.items == 0 for s in summaries):
            return runs
    raise AssertionError(f"the context streams did not settle in {limit} runs")


def assert_context_exactly_once(engine: ExportEngine, sim, tenant: str) -> None:
    """Each entity version once; every named entity the directory has is there; nothing the directory lacks."""
    directory = directory_of(sim._tenant(tenant))
    truth = {"user": directory.users, "device": directory.devices, "servicePrincipal": directory.by_app_id}
    for stream, kind in KIND_OF.items():
        contents = read_export(engine.exports, stream, tenant)
        assert contents.duplicates == [], (stream, contents.duplicates[:5])
        exported = {str(r[STREAMS[stream].id_field]).lower() for r in contents.records}
        named = named_entities(engine, tenant, kind)
        assert exported == {k for k in named if k in truth[kind]}, stream
        # The directory is static here: one version per entity.
        assert len(contents.records) == len(exported), stream


def test_context_streams_export_the_named_entities_once_and_join_to_the_alerts(make_sim, app_settings):
    sim = make_sim(alerts=900, seed=23, alerts_per_incident=3.0)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, **CONTEXT_ON))
    summaries = {s.stream: s for s in engine.run_all()}
    assert all(s.status == "ok" for s in summaries.values()), {n: s.error for n, s in summaries.items()}
    for stream in GRAPH_STREAMS:
        assert_exactly_once(engine, sim, stream, tenant)  # the Graph streams are what they were
    assert_context_exactly_once(engine, sim, tenant)

    directory = directory_of(sim._tenant(tenant))
    risk = {u["id"]: (u["riskLevel"], u["riskState"]) for u in sim.items(tenant, "riskyUsers")}
    users = read_export(engine.exports, "userContext", tenant).records
    assert len(users) > 60
    for user in users:
        extras = directory.user_extras[user["id"]]
        truth = directory.users[user["id"]]
        assert (user["department"], user["jobTitle"], user["accountEnabled"], user["userType"]) == (
            truth["department"], truth["jobTitle"], truth["accountEnabled"], truth["userType"])
        assert user["manager"] == (None if extras["manager"] is None else {
            k: extras["manager"][k] for k in ("id", "userPrincipalName", "displayName")})
        assert user["groupCount"] == len(extras["groupIds"])
        assert sorted(r["templateId"] for r in user["directoryRoles"]) == sorted(t for _, t, _ in extras["roles"])
        assert user["isPrivileged"] == any(t in PRIVILEGED_ROLE_TEMPLATES for _, t, _ in extras["roles"])
        registration = extras["registration"]
        assert user["isMfaRegistered"] == (registration["isMfaRegistered"] if registration else None)
        assert (user["riskLevel"], user["riskState"]) == risk.get(user["id"], ("none", "none"))
        assert user["tenantId"] == tenant and len(user["contextVersion"]) == 16 and "unavailable" not in user
    assert any(u["isPrivileged"] for u in users) and any(u["manager"] for u in users)
    assert any(u["riskLevel"] != "none" for u in users)

    devices = read_export(engine.exports, "deviceContext", tenant).records
    assert devices and all(d["trustType"] == directory.devices[d["deviceId"]]["trustType"] for d in devices)
    for device in devices:
        managed = directory.managed.get(device["deviceId"])
        assert device["intune"] == (None if managed is None else {
            k: managed[k] for k in ("id", "complianceState", "managedDeviceOwnerType", "managementAgent",
                                    "isEncrypted", "lastSyncDateTime")})
    assert any(d["intune"] for d in devices) and any(d["intune"] is None for d in devices)

    principals = read_export(engine.exports, "servicePrincipalContext", tenant).records
    assert principals
    for principal in principals:
        truth = directory.by_app_id[principal["appId"]]
        assert principal["id"] == truth["id"] and principal["verifiedPublisher"] == truth["verifiedPublisher"]
        assert {g["appRoleId"] for g in principal["appRolesGranted"]} == {
            a["appRoleId"] for a in truth["appRoleAssignments"]}
    # Joinable: alerts name users by Entra object id, devices by Entra device id, apps by app id.
    alert_users = set().union(*(referenced("alerts", a)["user"]
                                for a in read_export(engine.exports, "alerts", tenant).records))
    assert alert_users & {u["id"] for u in users}

    # Every lookup went out in a low-priority $batch of at most 20; no entity was looked up twice.
    lookups = directory_lookups(sim)
    assert lookups and all(r.headers.get("x-ms-throttle-priority") == "low" for r in lookups)
    assert len({(r.path, r.query) for r in lookups}) == len(lookups), "an entity was looked up twice"
    context = {name: summaries[name].context for name in CONTEXT_STREAMS}
    assert all(c["denied"] == {} and c["retry"] == 0 for c in context.values()), context
    entities = sum(c["looked_up"] for c in context.values())
    calls = 4 * context["userContext"]["looked_up"] + 2 * (entities - context["userContext"]["looked_up"])
    assert sum(c["lookups"] for c in context.values()) == len(lookups) == calls
    steps = sum(-(-c["looked_up"] // STEP_ENTITIES) for c in context.values())
    assert sum(c["batches"] for c in context.values()) <= -(-calls // 20) + steps

    # Nothing changed: the next run writes nothing and asks the directory nothing (TTL cache), even for the entities
    # that new alerts name again.
    sim.update_alerts(tenant, count=30)
    again = {s.stream: s for s in engine.run_all()}
    assert all(again[name].status == "ok" and again[name].items == 0 for name in CONTEXT_STREAMS)
    assert again["userContext"].context["cache_hits"] > 0
    assert len(directory_lookups(sim)) == len(lookups)
    # A process that lost its cache looks the entities up again and still writes no second version.
    clear_all()
    assert all(engine.run(name, tenant).items == 0 for name in CONTEXT_STREAMS)
    assert_context_exactly_once(engine, sim, tenant)


def test_a_missing_permission_degrades_the_records_and_is_reported(make_sim, app_settings):
    denied = ("RoleManagement.Read.Directory", "AuditLog.Read.All", "DeviceManagementManagedDevices.Read.All")
    sim = make_sim(alerts=300, seed=29, denied_permissions=denied)
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, **CONTEXT_ON))
    summaries = {s.stream: s for s in engine.run_all()}
    assert all(s.status == "ok" for s in summaries.values()), {n: s.error for n, s in summaries.items()}
    users = read_export(engine.exports, "userContext", tenant).records
    devices = read_export(engine.exports, "deviceContext", tenant).records
    assert users and devices
    for user in users:
        assert "directoryRoles" not in user and "isPrivileged" not in user and "isMfaRegistered" not in user
        assert user["unavailable"] == {"AuditLog.Read.All": ["isMfaCapable", "isMfaRegistered", "methodsRegistered"],
                                       "RoleManagement.Read.Directory": ["directoryRoles", "isPrivileged"]}
        assert "department" in user and "groupCount" in user  # what User.Read.All gives is there
    assert all("intune" not in d and d["unavailable"] == {"DeviceManagementManagedDevices.Read.All": ["intune"]}
               for d in devices)
    assert summaries["userContext"].context["denied"] == {"AuditLog.Read.All": len(users),
                                                          "RoleManagement.Read.Directory": len(users)}
    assert any("RoleManagement.Read.Directory is not granted" in note for note in summaries["userContext"].notes)
    status = {row["stream"]: row for row in engine.status()}
    assert status["userContext"]["lastError"] is None
    assert status["userContext"]["lastRun"]["context"]["denied"]["AuditLog.Read.All"] == len(users)
    assert_context_exactly_once(engine, sim, tenant)


def test_without_the_base_permission_nothing_is_written_the_stream_still_succeeds(make_sim, app_settings):
    sim = make_sim(alerts=200, seed=31, denied_permissions=("Device.Read.All",))
    tenant = sim.tenants[0]
    engine = ExportEngine(app_settings(sim, **CONTEXT_ON))
    summary = engine.run("alerts", tenant)
    assert summary.status == "ok" and summary.items == 200
    devices = engine.run("deviceContext", tenant)
    assert devices.status == "ok" and devices.items == 0
    assert devices.context["retry"] > 0 and "grant Device.Read.All" in " ".join(devices.context["errors"])


def test_a_failing_directory_leaves_the_alert_export_alone_and_catches_up_later(make_sim, app_settings):
    sim = make_sim(alerts=700, seed=37)
    tenant = sim.tenants[0]
    sim.set_faults(path="$batch", error_rate={503: 1.0})  # every $batch fails: the directory is unreachable
    engine = ExportEngine(app_settings(sim, **CONTEXT_ON, GRAPH_MAX_ATTEMPTS=2, GRAPH_MAX_RETRY_WAIT_SECONDS=1))
    summaries = {s.stream: s for s in engine.run_all()}
    assert summaries["alerts"].status == "ok" and summaries["alerts"].items == 700
    for stream in GRAPH_STREAMS:
        assert_exactly_once(engine, sim, stream, tenant)
    for name in CONTEXT_STREAMS:
        assert summaries[name].status == "ok" and summaries[name].items == 0
        assert summaries[name].context["retry"] > 0 and summaries[name].context["errors"], summaries[name].context
    # The directory comes back: the entities kept for retry are looked up, nothing is lost.
    sim.clear_faults()
    run_context_until_settled(engine, tenant)
    assert_context_exactly_once(engine, sim, tenant)


@pytest.mark.parametrize(("step", "page"), list(itertools.product(StepHook.STEPS, (1, 2))))
def test_a_crash_at_any_step_of_a_context_run_loses_and_duplicates_nothing(make_sim, app_settings, step, page,
                                                                           monkeypatch):
    monkeypatch.setattr("shared.context.streams.STEP_ENTITIES", 25)  # several steps per run
    sim = make_sim(alerts=400, seed=41)
    tenant = sim.tenants[0]
    settings = app_settings(sim, **CONTEXT_ON)
    engine = ExportEngine(settings)
    for stream in GRAPH_STREAMS:
        assert engine.run(stream, tenant).status == "ok"

    class CrashAt(StepHook):
        def __call__(self, at: str, summary: RunSummary) -> None:
            if at == step and summary.pages == page:
                sim.add_alerts(tenant, 20)  # the world moves on while the worker is dead
                raise SimulatedCrash(f"{at} on step {page}")

    with pytest.raises(SimulatedCrash):
        ExportEngine(settings, hook=CrashAt()).run("userContext", tenant)
    clear_all()  # a new process
    assert engine.run("alerts", tenant).status == "ok"
    run_context_until_settled(engine, tenant)
    assert_context_exactly_once(engine, sim, tenant)


@pytest.mark.parametrize("step", ["before_blob_write", "after_blob_write"])
def test_a_context_run_stalled_past_its_lease_is_fenced_off(make_sim, product_env, step):
    sim = make_sim(alerts=400, seed=43)
    tenant = sim.tenants[0]
    env = product_env(sim, **CONTEXT_ON)
    settings = load_settings(env)
    engine = ExportEngine(settings)
    for stream in GRAPH_STREAMS:
        assert engine.run(stream, tenant).status == "ok"

    worker = subprocess.Popen(
        [sys.executable, "-m", "tests.integration.stall_worker", json.dumps(env), "userContext", tenant, step, "1",
         datetime.now(UTC).isoformat(), str(LEASE_SECONDS)],
        cwd=REPOSITORY, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=os.environ.copy(),
    )
    try:
        wait_until_stopped(worker)
        # The world moves on while the worker is frozen, and its lease runs out.
        sim.add_alerts(tenant, 30)
        assert engine.run("alerts", tenant).status == "ok"
        time.sleep(LEASE_SECONDS + 2)
        taker = ExportEngine(settings, lease_seconds=LEASE_SECONDS)
        first = taker.run("userContext", tenant)
        assert first.status == "ok", first.error  # it got the lease: the stalled run's ran out
    finally:
        worker.send_signal(signal.SIGCONT)
    out, err = worker.communicate(timeout=120)
    assert worker.returncode == 0, err
    stale = json.loads(out.strip().splitlines()[-1])
    assert stale["status"] == "failed" and "lost its lease" in stale["error"], stale

    run_context_until_settled(taker, tenant)
    assert_context_exactly_once(taker, sim, tenant)


def test_a_run_out_of_time_resumes_where_it_stopped(make_sim, app_settings, monkeypatch):
    monkeypatch.setattr("shared.context.streams.STEP_ENTITIES", 20)
    sim = make_sim(alerts=300, seed=47)
    tenant = sim.tenants[0]
    settings = app_settings(sim, **CONTEXT_ON)
    engine = ExportEngine(settings)
    for stream in GRAPH_STREAMS:
        assert engine.run(stream, tenant).status == "ok"
    ticks = itertools.count()
    hurried = ExportEngine(settings, monotonic=lambda: 100.0 * next(ticks))  # each look at the clock: 100 s later
    first = hurried.run("userContext", tenant, time_budget_seconds=250)
    assert first.status == "partial" and 1 <= first.pages < first.context["entities"] // 20, first
    assert first.items > 0
    run_context_until_settled(engine, tenant)
    assert_context_exactly_once(engine, sim, tenant)
