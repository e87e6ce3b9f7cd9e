"""The tenant list from a blob in the state container: onboarding without a redeploy, read by the timers and work
items, "export now", the status endpoint and the actions alike. The app served by the dev host, the real Azurite,
the Graph simulator; nothing of ours is mocked."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.storage.blob import ContainerClient

import function_app
from local.devhost import DevHost
from local.export_check import read_export
from local.graphsim import GraphSimulator
from shared.export.fanout import MarkerBoard, ScheduleBook, plan_tick
from shared.export.streams import EXPORT_FAMILIES, GRAPH_STREAMS, STREAMS
from shared.graph.families import RateFamily
from shared.process_cache import clear_all
from shared.settings import Settings, load_settings
from shared.storage.clients import blob_service
from shared.tenants import current_tenants

BLOB = "tenants.json"


@dataclass
class App:
    sim: GraphSimulator
    host: DevHost
    settings: Settings

    @property
    def state(self) -> ContainerClient:
        return blob_service(self.settings).get_container_client(self.settings.state_container)

    @property
    def exports(self) -> ContainerClient:
        return blob_service(self.settings).get_container_client(self.settings.export_container)

    def write_list(self, document: object) -> None:
        body = document if isinstance(document, bytes) else json.dumps(document).encode()
        self.state.upload_blob(BLOB, body, overwrite=True)

    def tick(self) -> None:
        for family in EXPORT_FAMILIES:
            self.host.run_timer(f"export_{family.value}_timer")
        assert self.host.drain(120), "the export workers did not finish"

    def get(self, path: str, **params: str) -> requests.Response:
        return requests.get(self.host.url(path), params=params, headers={"x-functions-key": self.host.key}, timeout=60)

    def post(self, path: str, **params: str) -> requests.Response:
        return requests.post(self.host.url(path), params=params, headers={"x-functions-key": self.host.key},
                             timeout=60)

    def exported(self, stream: str, tenant: str) -> set[str]:
        contents = read_export(self.exports, stream, tenant)
        assert contents.duplicates == []
        return {r[STREAMS[stream].id_field] for r in contents.records}

    def expected(self, stream: str, tenant: str) -> set[str]:
        return {item[STREAMS[stream].id_field] for item in self.sim.items(tenant, stream)}


@pytest.fixture
def app(make_sim, product_env) -> Iterator[App]:
    sim = make_sim(tenants=5, seed=7, alerts=6, risk_detections=4, risky_users=3, risky_service_principals=2,
                   service_principal_risk_detections=2)
    env = product_env(sim, GRAPH_TENANT_IDS="", GRAPH_TENANT_LIST_BLOB=BLOB, EXPORT_QUEUE="tenant-list-work",
                      EXPORT_INITIAL_LOOKBACK_DAYS="30")
    settings = load_settings(env)
    clear_all()
    blob_service(settings).get_container_client(settings.state_container).create_container()
    with DevHost(function_app.app, env, visibility_timeout_override=0) as host:
        yield App(sim, host, settings)
    clear_all()


def test_tenants_are_onboarded_from_the_blob_without_a_restart(app: App):
    first, narrow, bad, later, _ = app.sim.tenants
    app.write_list({"tenants": [
        {"id": first.upper(), "displayName": "Contoso"},
        {"id": narrow, "streams": ["alerts", "RiskyUsers"]},
        {"id": bad, "streams": ["alertz"]},
        {"id": "contoso.onmicrosoft.com"},
    ]})
    app.tick()

    for stream in GRAPH_STREAMS:
        assert app.exported(stream, first) == app.expected(stream, first), stream
        assert app.exported(stream, bad) == set(), stream
        assert app.exported(stream, later) == set(), stream
        wanted = app.expected(stream, narrow) if stream in ("alerts", "riskyUsers") else set()
        assert app.exported(stream, narrow) == wanted, stream

    # The status endpoint names the skipped entries, by position, tenant and field.
    document = app.get("export/status").json()
    problems = document["tenantList"]["problems"]
    assert document["tenantList"]["source"] == f"blob {app.settings.state_container}/{BLOB}"
    assert any(f"tenants[2] (tenant {bad})" in p and "'streams'" in p and "alertz" in p for p in problems)
    assert any("tenants[3]" in p and "'id'" in p for p in problems)
    assert document["summary"]["tenants"] == 2 and document["summary"]["healthy"] == 2
    assert {(r["tenant"], r["stream"]) for r in document["streams"] if r["tenant"] == narrow} == {
        (narrow, "alerts"), (narrow, "riskyUsers")}
    one = app.get("export/status", tenant=first).json()
    assert one["displayName"] == "Contoso" and one["state"] == "healthy"
    skipped = app.get("export/status", tenant=bad)
    assert skipped.status_code == 404 and "alertz" in skipped.json()["detail"]

    # "Export now" and the actions check the same list.
    assert app.post("export/alerts", tenant=bad).status_code == 400
    assert app.post("export/incidents", tenant=narrow).status_code == 409
    assert app.post("export/alerts", tenant=narrow).status_code == 200
    alert_id = app.sim.alerts(first)[0]["id"]
    assert app.get(f"alerts/{alert_id}", tenant=first).status_code == 200
    refused = app.get(f"alerts/{alert_id}", tenant=later)
    assert refused.status_code == 400 and BLOB in refused.json()["detail"]
    openapi = app.get("openapi.json").json()
    tenant_params = [p for path in openapi["paths"].values() for op in path.values()
                     for p in op.get("parameters", []) if p.get("name") == "tenant"]
    assert tenant_params and all(sorted(p["enum"]) == sorted([first, narrow]) for p in tenant_params)

    # The operator fixes an entry and adds a tenant: the next tick exports them, in the same running host.
    app.write_list({"tenants": [{"id": first}, {"id": narrow, "streams": ["alerts", "riskyUsers"]}, {"id": bad},
                                {"id": later, "displayName": "Fabrikam"}]})
    app.tick()
    for stream in GRAPH_STREAMS:
        assert app.exported(stream, bad) == app.expected(stream, bad), stream
        assert app.exported(stream, later) == app.expected(stream, later), stream
    assert app.get(f"alerts/{app.sim.alerts(later)[0]['id']}", tenant=later).status_code == 200
    assert app.get("export/status").json()["tenantList"]["problems"] == []


def test_an_unreadable_list_fails_the_timer_loudly_and_serves_no_tenant(app: App):
    app.write_list(b'{"tenants": [')
    with pytest.raises(RuntimeError, match="is not JSON"):
        app.host.run_timer("export_security_timer")
    assert list(app.state.list_blobs(name_starts_with="fanout/")) == []
    document = app.get("export/status").json()
    assert "is not JSON" in document["tenantList"]["error"] and document["streams"] == []
    # A missing list is a deployment before its first customer: nothing to do, not a failure.
    app.state.delete_blob(BLOB)
    app.host.run_timer("export_security_timer")
    assert "does not exist yet" in app.get("export/status").json()["tenantList"]["problems"][0]


def test_reads_are_etag_checked_and_the_worker_accepts_a_recent_copy(app: App):
    app.write_list({"tenants": [{"id": app.sim.tenants[0]}]})
    read = current_tenants(app.settings)
    # Unchanged: Storage answers 304 and the parsed list is reused, not parsed again.
    assert current_tenants(app.settings) is read
    app.write_list({"tenants": [{"id": app.sim.tenants[0]}, {"id": app.sim.tenants[1]}]})
    # A reader that accepts a copy up to a minute old (the queue worker) keeps its copy ...
    assert current_tenants(app.settings, max_age=60).ids == (app.sim.tenants[0],)
    # ... one that wants it fresh (a timer tick, an HTTP request) sees the change at once.
    assert current_tenants(app.settings).ids == app.sim.tenants[:2]


def test_a_tenant_with_its_own_schedule_is_queued_only_when_due(app: App):
    hourly, every_tick = app.sim.tenants[:2]
    app.write_list({"tenants": [{"id": hourly, "everyMinutes": 60}, {"id": every_tick}]})
    tenants = current_tenants(app.settings).tenants
    board = MarkerBoard(app.state)
    start = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)

    def tick(name: str, minutes: float) -> list[str]:
        result = plan_tick(app.settings, RateFamily.SECURITY, board, tick=name, tenants=tenants,
                           now=start + timedelta(minutes=minutes))
        for blob in list(app.state.list_blobs(name_starts_with="fanout/")):  # settle every item at once
            app.state.delete_blob(blob.name)
        return sorted(result.queued)

    assert tick("t0", 0) == sorted([hourly, every_tick])
    assert tick("t1", 5) == [every_tick]
    assert tick("t2", 55) == [every_tick]
    assert tick("t3", 59.9) == sorted([hourly, every_tick])  # a timer firing a few seconds early still counts
    assert tick("t4", 65) == [every_tick]
    assert ScheduleBook(app.state, RateFamily.SECURITY).load().last_queued == {hourly: "2026-11-30T10:59:54Z"}
