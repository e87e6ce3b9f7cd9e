"""The export fanned out over the queue, end to end: the app served by the dev host (timers, output binding, queue
trigger with retries and the poison queue), the Graph simulator with 20 tenants, the real Azurite. Nothing of ours
is mocked."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
import requests
from azure.storage.queue import QueueClient

import function_app
from local.devhost import DevHost
from local.export_check import read_export
from local.graphsim import GraphSimulator, SimConfig
from local.stack import LocalStack
from shared.export.fanout import MarkerBoard, WorkItem, marker_name, plan_tick
from shared.export.streams import EXPORT_FAMILIES, GRAPH_STREAMS, STREAMS
from shared.graph.families import RateFamily
from shared.storage.clients import blob_service, ensure_container
from shared.tenants import current_tenants

EXPORT_QUEUE = "export-work-fanout"
ENV = {
    "EXPORT_CONTAINER": "exp-fanout", "STATE_CONTAINER": "state-fanout", "AUDIT_CONTAINER": "audit-fanout",
    "EXPORT_QUEUE": EXPORT_QUEUE, "EXPORT_INITIAL_LOOKBACK_DAYS": "30",
    "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "100000", "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "1000",
    # The hard-throttled tenant gives up quickly: two attempts per request, half a second apart.
    "GRAPH_MAX_ATTEMPTS": "2", "GRAPH_MAX_RETRY_WAIT_SECONDS": "2",
}

# The families of the default EXPORT_STREAMS (the directory's context streams are off: its timer queues nothing).
ENABLED_FAMILIES = tuple(f for f in EXPORT_FAMILIES if any(STREAMS[s].family is f for s in GRAPH_STREAMS))


@dataclass
class Fleet:
    stack: LocalStack
    sim: GraphSimulator
    host: DevHost
    unconsented: str
    throttled: str

    def tick(self) -> None:
        for family in EXPORT_FAMILIES:
            self.host.run_timer(f"export_{family.value}_timer")

    def status(self, **params: str) -> requests.Response:
        return requests.get(self.host.url("export/status"), params={"code": self.host.key, **params}, timeout=30)

    def queue(self, name: str) -> QueueClient:
        return QueueClient.from_connection_string(self.stack.env()["BRIDGE_STORAGE"], name)

    def poisoned(self) -> list[WorkItem]:
        messages = self.queue(f"{EXPORT_QUEUE}-poison").peek_messages(max_messages=32)
        return [WorkItem.from_message(base64.b64decode(m.content).decode()) for m in messages]

    def state(self):
        # Created as the timer does before it plans a tick (a test may run first in its worker process).
        state = blob_service(self.stack.settings(**ENV)).get_container_client("state-fanout")
        ensure_container(state)
        return state

    def exports(self):
        return blob_service(self.stack.settings(**ENV)).get_container_client("exp-fanout")


@pytest.fixture(scope="module")
def fleet() -> Iterator[Fleet]:
    config = SimConfig(tenants=20, seed=13, alerts=30, risk_detections=12, risky_users=6, risky_service_principals=3,
                       service_principal_risk_detections=4, throttle=False)
    with LocalStack(config) as stack:
        sim = stack.sim
        assert sim is not None
        unconsented, throttled = sim.tenants[3], sim.tenants[11]
        sim.withdraw_consent(unconsented)
        sim.add_faults(error_rate={429: 1.0}, retry_after=0.5, tenant=throttled)
        # Retries at once (the host waits visibilityTimeout, 30 s): the poison queue is reached within the test.
        with DevHost(function_app.app, stack.env(**ENV), visibility_timeout_override=0) as host:
            yield Fleet(stack, sim, host, unconsented, throttled)


def test_twenty_tenants_complete_while_two_fail_alone(fleet: Fleet):
    fleet.tick()
    assert fleet.host.drain(180), "the export workers did not finish"

    healthy = [t for t in fleet.sim.tenants if t not in (fleet.unconsented, fleet.throttled)]
    exports = fleet.exports()
    for tenant in healthy:
        for stream in GRAPH_STREAMS:
            contents = read_export(exports, stream, tenant)
            expected = {item[STREAMS[stream].id_field] for item in fleet.sim.items(tenant, stream)}
            assert contents.duplicates == [], (stream, tenant)
            assert {r[STREAMS[stream].id_field] for r in contents.records} == expected, (stream, tenant)
    for tenant in (fleet.unconsented, fleet.throttled):
        assert all(read_export(exports, stream, tenant).records == [] for stream in GRAPH_STREAMS)

    # Reported: each stream of the two shows its error, and their work items are in the poison queue after the
    # host's five attempts; nobody else's.
    document = fleet.status().json()
    rows = {(row["tenant"], row["stream"]): row for row in document["streams"]}
    assert document["summary"] == {"healthy": 18, "lagging": 0, "failing": 2, "tenants": 20,
                                   "failingTenants": sorted([fleet.unconsented, fleet.throttled]),
                                   "laggingTenants": []}
    one = fleet.status(tenant=fleet.unconsented.upper()).json()
    assert one["tenant"] == fleet.unconsented and one["state"] == "failing"
    assert len(one["streams"]) == len(GRAPH_STREAMS)
    assert fleet.status(tenant=healthy[0]).json()["state"] == "healthy"
    assert fleet.status(tenant="not-a-tenant").status_code == 400
    unknown = fleet.status(tenant="00000000-0000-4000-8000-000000000abc")
    assert unknown.status_code == 404 and unknown.headers["Content-Type"] == "application/problem+json"
    for stream in GRAPH_STREAMS:
        assert "AADSTS700016" in rows[(fleet.unconsented, stream)]["lastError"]["message"]
        assert "429" in rows[(fleet.throttled, stream)]["lastError"]["message"]
        assert all(rows[(t, stream)]["lastError"] is None and rows[(t, stream)]["lastSuccess"] for t in healthy)
    poisoned = fleet.poisoned()
    assert sorted((i.tenant, i.family) for i in poisoned) == sorted(
        (t, f) for t in (fleet.unconsented, fleet.throttled) for f in ENABLED_FAMILIES)
    attempts = [i for i in list(fleet.host.invocations) if i.function_name == "export_worker" and not i.ok]
    assert len(attempts) == 2 * len(ENABLED_FAMILIES) * 5  # two tenants, each family's item five times
    # Every item settled: no marker is left, so the next tick queues every tenant again.
    assert list(fleet.state().list_blobs(name_starts_with="fanout/")) == []

    # A second pass with new data: the healthy tenants get exactly the new versions, nothing twice.
    fleet.sim.clear_faults()
    for tenant in healthy[:5]:
        fleet.sim.update_alerts(tenant, count=3)
    fleet.tick()
    assert fleet.host.drain(180)
    for tenant in healthy:
        contents = read_export(exports, "alerts", tenant)
        assert contents.duplicates == []
        latest = {a["id"]: a["lastUpdateDateTime"] for a in fleet.sim.alerts(tenant)}
        assert {r["id"] for r in contents.records if r["lastUpdateDateTime"] == latest[r["id"]]} == set(latest)
    # Throttling is over for that tenant: it completes now; the unconsented one keeps failing alone.
    assert read_export(exports, "alerts", fleet.throttled).records


def test_a_tenant_whose_item_is_unsettled_is_skipped_not_queued_twice(fleet: Fleet):
    settings = fleet.stack.settings(**ENV)
    tenants = current_tenants(settings).tenants
    # The timers create the state container; this test may run before any timer of the module (pytest-xdist).
    ensure_container(fleet.state())
    board = MarkerBoard(fleet.state())
    first = plan_tick(settings, RateFamily.SECURITY, board, tick="t1", tenants=tenants)
    assert sorted(first.queued) == sorted(fleet.sim.tenants) and first.skipped == {}
    (item,) = [WorkItem.from_message(m) for m in first.messages if fleet.sim.tenants[0] in m]
    assert item.streams == ("alerts", "incidents") and "secret" not in first.messages[0].lower()

    second = plan_tick(settings, RateFamily.SECURITY, board, tick="t2", tenants=tenants)
    assert second.queued == [] and sorted(second.skipped) == sorted(fleet.sim.tenants)

    # Settling one tenant's item frees that tenant only; a settle by an older item does not free a newer claim.
    board.settle(item)
    third = plan_tick(settings, RateFamily.SECURITY, board, tick="t3", tenants=tenants)
    assert third.queued == [fleet.sim.tenants[0]]
    board.settle(item)  # item is of tick t1; the marker is t3's now
    assert fleet.state().get_blob_client(marker_name(RateFamily.SECURITY, fleet.sim.tenants[0])).exists()

    # A marker older than the TTL belongs to a lost item: the next tick takes it over.
    later = MarkerBoard(fleet.state(), now=lambda: datetime.now(UTC) + timedelta(hours=1))
    fourth = plan_tick(settings, RateFamily.SECURITY, later, tick="t4", tenants=tenants)
    assert sorted(fourth.queued) == sorted(fleet.sim.tenants)
    for blob in list(fleet.state().list_blobs(name_starts_with="fanout/")):
        fleet.state().delete_blob(blob.name)


def test_a_malformed_work_item_goes_to_the_poison_queue(fleet: Fleet):
    queue = fleet.queue(EXPORT_QUEUE)
    bad = {"v": 1, "tenant": fleet.sim.tenants[0], "family": "security", "streams": ["riskyUsers"], "tick": "x"}
    queue.send_message(base64.b64encode(json.dumps(bad).encode()).decode())
    assert fleet.host.drain(60)
    poison = fleet.queue(f"{EXPORT_QUEUE}-poison").peek_messages(max_messages=32)
    assert any(json.loads(base64.b64decode(m.content)) == bad for m in poison)
