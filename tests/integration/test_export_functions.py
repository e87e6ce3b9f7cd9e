"""The export's Functions surfaces (timer, "export now", status) called as the host calls them, against the real
simulator and Azurite."""

from __future__ import annotations

import json
import threading
import time

import azure.functions as func
import pytest
from azure.functions.queue import QueueMessage
from azure.functions.timer import TimerRequest

from functions import export as export_functions
from functions import fanout as fanout_functions
from shared.graph.families import RateFamily
from shared.runtime import running


@pytest.fixture
def app_env(make_sim, app_settings):
    sim = make_sim(alerts=700, seed=21)
    settings = app_settings(sim, EXPORT_INITIAL_LOOKBACK_DAYS=30, EXPORT_STREAMS="alerts,riskyUsers")
    env = {
        "GRAPH_TENANT_IDS": ",".join(settings.tenant_ids), "GRAPH_AUTH_MODE": "client_secret",
        "GRAPH_CLIENT_ID": sim.client_id, "GRAPH_CLIENT_SECRET": sim.client_secret,
        "GRAPH_ENDPOINT": sim.base_url, "GRAPH_AUTHORITY_HOST": sim.base_url,
        "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true", "BRIDGE_STORAGE": settings.storage_connection_string,
        "EXPORT_CONTAINER": settings.export_container, "STATE_CONTAINER": settings.state_container,
        "EXPORT_INITIAL_LOOKBACK_DAYS": "30", "EXPORT_STREAMS": "alerts,riskyUsers",
        "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "100000", "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "1000",
    }
    with running(env):
        yield sim


def call(function, req):
    from local.devhost.bindings import Out

    if function is export_functions.export_run:  # its queue output (asynchronous runs) is given as the host would
        return function.build().get_user_function()(req, Out())
    return function.build().get_user_function()(req)


def http(method, url, route_params=None, body=b"", params=None):
    return func.HttpRequest(method=method, url=url, route_params=route_params or {}, params=params or {}, body=body)


def test_export_now_then_status(app_env):
    response = call(export_functions.export_run, http("POST", "/api/export/alerts", {"stream": "alerts"}))
    assert response.status_code == 200
    (run,) = json.loads(response.get_body())["runs"]
    assert run["status"] == "ok" and run["items"] == 700
    status = call(export_functions.export_status, http("GET", "/api/export/status"))
    rows = {row["stream"]: row for row in json.loads(status.get_body())["streams"]}
    assert rows["alerts"]["cursor"] and rows["alerts"]["lastSuccess"] and rows["alerts"]["lagSeconds"] >= 0
    assert rows["riskyUsers"]["cursor"] is None  # not run yet


def test_export_now_rejects_bad_input_with_problem_json(app_env):
    response = call(export_functions.export_run, http("POST", "/api/export/nope", {"stream": "nope"}))
    assert response.status_code == 404
    assert response.headers["Content-Type"] == "application/problem+json"
    assert "not a stream" in json.loads(response.get_body())["detail"]
    response = call(export_functions.export_run, http("POST", "/api/export/incidents", {"stream": "incidents"}))
    assert response.status_code == 409


def test_export_now_reports_a_graph_failure_as_502(app_env):
    app_env.set_faults(fail_next=[403], path="alerts_v2")
    response = call(export_functions.export_run, http("POST", "/api/export/alerts", {"stream": "alerts"}))
    assert response.status_code == 502
    (run,) = json.loads(response.get_body())["runs"]
    assert run["status"] == "failed" and "SecurityAlert.Read.All" in run["error"]


def test_timer_queues_a_work_item_that_the_worker_runs(app_env):
    """The timer only enqueues (through its output binding); the queue worker runs the family's streams."""
    from local.devhost.bindings import Out

    timer = fanout_functions.export_timer_functions[RateFamily.IDENTITY_PROTECTION]
    work = Out()
    timer.build().get_user_function()(TimerRequest(past_due=False), work)
    (message,) = work.get()
    assert json.loads(message)["streams"] == ["riskyUsers"]
    call(fanout_functions.export_worker, QueueMessage(id="m1", body=message.encode(), dequeue_count=1))
    status = call(export_functions.export_status, http("GET", "/api/export/status"))
    rows = {row["stream"]: row for row in json.loads(status.get_body())["streams"]}
    assert rows["riskyUsers"]["lastRun"]["items"] == 40


def test_export_now_keeps_its_time_budget_when_storage_fails(app_env, azurite):
    # Storage goes away while the first page is on its way: the blob write, the failure record and the lease release
    # all fail. With the SDK's default retries that took 248 s (past the front end's 230 s); the caller waits, so
    # every storage call of "export now" retries briefly.
    app_env.set_faults(latency_ms=2000, path="alerts_v2")
    stopped = threading.Event()

    def stop_storage_when_the_export_asks_graph() -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if any("alerts_v2" in r.path for r in app_env.request_log):
                azurite.stop()
                stopped.set()
                return
            time.sleep(0.01)

    watcher = threading.Thread(target=stop_storage_when_the_export_asks_graph)
    watcher.start()
    started = time.monotonic()
    try:
        response = call(export_functions.export_run, http("POST", "/api/export/alerts", {"stream": "alerts"}))
    finally:
        watcher.join(35)
        azurite.start()
    elapsed = time.monotonic() - started
    print(f"\nexport now with storage gone: {response.status_code} after {elapsed:.1f} s")
    assert stopped.is_set()
    assert response.status_code == 502
    (run,) = json.loads(response.get_body())["runs"]
    assert run["status"] == "failed"
    assert elapsed < 60, f"export now answered after {elapsed:.0f} s with storage down"
