"""The polling triggers, driven exactly as Logic Apps drives them (first call without state, then always the
Location of the last answer), against the app in the dev host, real Azurite and the Graph simulator, while the
export writes new versions: every version reaches each trigger once, filters apply, the state survives a restart of
the app, and a poll costs no Graph call.
"""

from __future__ import annotations

import base64
import re
import socket
import uuid
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

import function_app
from local.devhost import DevHost
from local.export_check import read_export
from local.graphsim import SimConfig
from local.stack import LocalStack
from shared.actions.triggers import MAX_ITEMS, POLL_SECONDS
from shared.export.engine import ExportEngine


@dataclass
class Stack:
    stack: LocalStack
    env: dict[str, str]
    host: DevHost
    tenant: str
    engine: ExportEngine

    def export(self, stream: str) -> None:
        for _ in range(10):
            summary = self.engine.run(stream, self.tenant)
            assert summary.status in ("ok", "partial"), summary.error
            if summary.status == "ok":
                return
        raise AssertionError("the export did not finish")


@pytest.fixture(scope="module")
def running() -> Iterator[Stack]:
    with LocalStack(SimConfig(alerts=300, throttle=False, seed=23)) as stack:
        assert stack.sim is not None
        env = stack.env(EXPORT_INITIAL_LOOKBACK_DAYS="30", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000")
        engine = ExportEngine(stack.settings(EXPORT_INITIAL_LOOKBACK_DAYS="30",
                                             GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000"))
        host = DevHost(function_app.app, env).start()
        running = Stack(stack, env, host, stack.sim.tenants[0], engine)
        try:
            yield running
        finally:
            running.host.stop()
        assert running.host.errors == [], [e.traceback for e in running.host.errors]


@dataclass
class LogicApp:
    """A polling trigger as Logic Apps runs it: it keeps only the Location of the last answer."""

    host: DevHost
    path: str
    params: dict[str, str] = field(default_factory=dict)
    location: str | None = None
    fired: list[dict] = field(default_factory=list)
    waits: list[int] = field(default_factory=list)

    def poll(self) -> requests.Response:
        headers = {"x-functions-key": self.host.key}
        if self.location is None:
            response = requests.get(self.host.url(self.path), params=self.params, headers=headers, timeout=60)
        else:
            response = requests.get(self.location, headers=headers, timeout=60)
        assert response.status_code in (200, 202), response.text
        assert response.headers["Location"].startswith(self.host.url(self.path) + "?")
        self.location = response.headers["Location"]
        self.waits.append(int(response.headers["Retry-After"]))
        if response.status_code == 200:
            self.fired += response.json()["value"]
        else:
            assert response.content == b""
        return response

    def drain(self) -> int:
        """Poll until the trigger answers 202 (nothing new); the number of polls that answered 200."""
        for fired in range(100):
            if self.poll().status_code == 202:
                assert self.waits[-1] == POLL_SECONDS
                return fired
            # Retry-After says whether more is waiting: 1 s then, the poll interval otherwise.
            assert self.waits[-1] in (1, POLL_SECONDS)
        raise AssertionError("the trigger never ran dry")

    def moved_to(self, host: DevHost) -> None:
        """The same Location against the app served again (a new port after the restart)."""
        assert self.location is not None
        self.host = host
        self.location = host.url(self.path) + "?" + urlsplit(self.location).query


def versions(items: list[dict]) -> Counter:
    return Counter((item["id"], item["lastUpdateDateTime"]) for item in items)


def test_triggers_deliver_each_version_once_with_filters_across_a_restart(running: Stack):
    sim = running.stack.sim
    assert sim is not None
    tenant = running.tenant
    running.export("alerts")
    running.export("incidents")

    every_alert = LogicApp(running.host, "triggers/alerts")
    high = LogicApp(running.host, "triggers/alerts", {"severity": "High", "status": "new,inProgress"})
    incidents = LogicApp(running.host, "triggers/incidents")
    triggers = (every_alert, high, incidents)
    for trigger in triggers:  # the first poll carries no state: 202, "from now on"
        assert trigger.poll().status_code == 202 and trigger.fired == []
    assert every_alert.drain() == 0  # what was exported before the workflow was saved does not fire

    exported_before = len(read_export(running.engine.exports, "alerts", tenant).records)
    sim.add_alerts(tenant, 150)
    sim.update_alerts(tenant, count=40)
    running.export("alerts")
    running.export("incidents")
    graph_calls_before = len(sim.request_log)
    assert every_alert.drain() >= 2 and high.drain() >= 1 and incidents.drain() >= 1
    assert len(sim.request_log) == graph_calls_before  # polls read Blob Storage only

    # Restart: a new host (new port, new process state, the signing key read back from storage).
    running.host.stop()  # a new host starts with empty process caches, the signing key among them
    running.host = DevHost(function_app.app, running.env).start()
    for trigger in triggers:
        trigger.moved_to(running.host)
    sim.add_alerts(tenant, 30)
    sim.update_alerts(tenant, count=20, same_timestamp=True)
    running.export("alerts")
    graph_calls_before = len(sim.request_log)
    for trigger in triggers:
        trigger.drain()
    assert len(sim.request_log) == graph_calls_before

    export = read_export(running.engine.exports, "alerts", tenant)
    new_versions = versions(export.records[exported_before:])
    assert len(new_versions) >= 150 + 30  # the new alerts at least, plus the updates
    delivered = versions(every_alert.fired)
    assert delivered == new_versions, "every new version exactly once"
    assert max(delivered.values()) == 1
    assert {item["severity"] for item in high.fired} == {"high"}
    assert {item["status"] for item in high.fired} <= {"new", "inProgress"}
    expected_high = [r for r in export.records[exported_before:]
                     if r["severity"] == "high" and r["status"] in ("new", "inProgress")]
    assert high.fired and versions(high.fired) == versions(expected_high)
    incident_export = read_export(running.engine.exports, "incidents", tenant)
    assert versions(incidents.fired) <= versions(incident_export.records)
    assert max(versions(incidents.fired).values()) == 1


def test_a_large_backlog_comes_in_bounded_answers(running: Stack):
    sim = running.stack.sim
    assert sim is not None
    trigger = LogicApp(running.host, "triggers/alerts")
    trigger.poll()
    sim.add_alerts(running.tenant, MAX_ITEMS * 2 + 17)
    running.export("alerts")
    answers = [trigger.poll() for _ in range(3)]
    assert [len(a.json()["value"]) for a in answers] == [MAX_ITEMS, MAX_ITEMS, 17]
    assert [a.headers["Retry-After"] for a in answers] == ["1", "1", str(POLL_SECONDS)]
    assert trigger.poll().status_code == 202
    assert max(versions(trigger.fired).values()) == 1


def _tampered(location: str) -> str:
    state = parse_qs(urlsplit(location).query)["triggerState"][0]
    payload, _, mac = state.partition(".")
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    data = data.replace(b'"p":{', b'"p":{"x":[0,0,"2026-01-01"],')  # a tenant the caller made up
    forged = base64.urlsafe_b64encode(data).rstrip(b"=").decode() + "." + mac
    return location.replace(state, forged)


@pytest.mark.parametrize("mutate", [
    lambda loc: loc + "x",
    _tampered,
    lambda loc: loc.split("?")[0] + "?triggerState=not-a-state",
    lambda loc: loc.split("?")[0] + "?triggerState=" + "A" * 9000,
])
def test_a_forged_or_damaged_state_is_refused(running: Stack, mutate):
    trigger = LogicApp(running.host, "triggers/alerts")
    trigger.poll()
    assert trigger.location is not None
    response = requests.get(mutate(trigger.location), headers={"x-functions-key": running.host.key}, timeout=60)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["title"] == "Invalid trigger state"


def test_an_alert_state_is_refused_by_the_incident_trigger(running: Stack):
    alerts = LogicApp(running.host, "triggers/alerts")
    alerts.poll()
    assert alerts.location is not None
    query = urlsplit(alerts.location).query
    response = requests.get(running.host.url("triggers/incidents") + "?" + query,
                            headers={"x-functions-key": running.host.key}, timeout=60)
    assert response.status_code == 400 and response.json()["title"] == "Invalid trigger state"


@pytest.mark.parametrize(("params", "field"), [
    ({"severity": "critical"}, "severity"),
    ({"status": "new'); drop"}, "status"),
    ({"serviceSource": "microsoftSentinel,nope"}, "serviceSource"),
    ({"classification": ",".join(["truePositive"] * 21)}, "classification"),
])
def test_bad_filters_are_refused_with_the_allowed_values(running: Stack, params, field):
    response = requests.get(running.host.url("triggers/alerts"), params=params,
                            headers={"x-functions-key": running.host.key}, timeout=60)
    assert response.status_code == 400 and response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["errors"][0]["field"] == field


def test_one_trigger_covers_every_tenant_or_the_one_asked_for():
    with LocalStack(SimConfig(alerts=50, tenants=2, throttle=False, seed=29)) as stack:
        sim = stack.sim
        assert sim is not None
        first, second = sim.tenants
        env = stack.env(EXPORT_STREAMS="alerts", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000")
        engine = ExportEngine(stack.settings(EXPORT_STREAMS="alerts", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000"))
        assert {s.status for s in engine.run_all()} == {"ok"}
        with DevHost(function_app.app, env) as host:
            both = LogicApp(host, "triggers/alerts")
            only_second = LogicApp(host, "triggers/alerts", {"tenant": second})
            for trigger in (both, only_second):
                assert trigger.poll().status_code == 202
            added = {first: set(sim.add_alerts(first, 7)), second: set(sim.add_alerts(second, 9))}
            assert {s.status for s in engine.run_all()} == {"ok"}
            both.drain()
            only_second.drain()
            incidents = LogicApp(host, "triggers/incidents")  # incidents are not exported here
            response = requests.get(host.url(incidents.path), headers={"x-functions-key": host.key}, timeout=60)
            assert response.status_code == 400 and "EXPORT_STREAMS" in response.json()["detail"]
        assert host.errors == []
    by_tenant = Counter((item["tenantId"], item["id"]) for item in both.fired)
    assert max(by_tenant.values()) == 1
    assert {i for t, i in by_tenant if t == first} == added[first]
    assert {i for t, i in by_tenant if t == second} == added[second]
    assert {item["id"] for item in only_second.fired} == added[second]


def test_a_storage_outage_is_a_503_to_retry_not_a_500(running: Stack):
    with socket.socket() as probe:  # a port nobody listens on: the storage account is unreachable
        probe.bind(("127.0.0.1", 0))
        dead = probe.getsockname()[1]
    storage = re.sub(r"(Endpoint=https?://127\.0\.0\.1:)\d+", rf"\g<1>{dead}", running.env["BRIDGE_STORAGE"])
    assert storage != running.env["BRIDGE_STORAGE"]
    with DevHost(function_app.app, {**running.env, "BRIDGE_STORAGE": storage}, run_queue_triggers=False) as host:
        key = {"x-functions-key": host.key}
        calls = [
            lambda: requests.get(host.url("triggers/alerts"), headers=key, timeout=60),
            lambda: requests.get(host.url("alerts"), headers=key, timeout=60),
            lambda: requests.get(host.url("jobs/" + "0" * 32), headers=key, timeout=60),
            lambda: requests.post(host.url("risky-users/dismiss"), headers={**key, "Prefer": "respond-async"},
                                  json={"userIds": [str(uuid.UUID(int=i)) for i in range(61)]}, timeout=60),
        ]
        with ThreadPoolExecutor(len(calls)) as pool:  # each waits out the storage client's quick retries
            answers = list(pool.map(lambda call: call(), calls))
        assert host.errors == [], [e.traceback for e in host.errors]
    for response in answers:
        assert response.status_code == 503, response.text
        assert response.headers["Content-Type"] == "application/problem+json"
        assert response.json()["title"] == "Storage unavailable" and response.headers["Retry-After"] == "30"
