"""The app under Microsoft's real Python worker (`azure-functions-runtime`, pinned in requirements.txt), as in Azure.

The dev host never checks what the worker checks (binding annotations, names, the metadata it reports to the
host), so 533 green tests once hid an app that the worker refused to index: in Azure no function would have run.
Here the worker's own indexing, loading and invocation code loads function_app.py from this repository, in the
separate Python 3.13 environment that `./dev` sets up (.venv-worker), and runs one function of each trigger kind
against the real Azurite and the Graph simulator. The only stand-in is the gRPC message classes (see
local/realworker/messages.py for why).
"""

from __future__ import annotations

import json
import os
import re
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

import function_app
from local.devhost import http_routes, trigger_functions
from local.export_check import read_export
from local.graphsim import SimConfig
from local.realworker.launch import WorkerEnvironmentMissing, run_in_worker
from local.stack import BINDING_SETTINGS, LocalStack
from shared.app_logging import APP_LOGGER
from shared.storage.clients import blob_service
from shared.webhooks.state import SubscriptionRecord, SubscriptionStore

REPO = Path(__file__).resolve().parents[2]
WORKER_TIMEOUT_S = 240


def run_worker(scenario: dict[str, Any], app_dir: Path = REPO) -> dict[str, Any]:
    """Run a scenario in the real worker (a fresh Python 3.13 process); fail loudly where it cannot run."""
    try:
        return run_in_worker(scenario, app_dir, timeout=WORKER_TIMEOUT_S)
    except WorkerEnvironmentMissing as exc:
        pytest.fail(f"{exc} These tests are what proves that Azure can load the app; they never skip.",
                    pytrace=False)


@pytest.fixture(scope="module")
def indexed() -> dict[str, Any]:
    answer = run_worker({"env": {}, "steps": []})
    assert answer["refused"] is None, answer["refused"]
    return answer


def test_the_worker_is_the_one_azure_runs(indexed):
    pinned = re.search(r"^azure-functions-runtime==([\w.]+)", (REPO / "requirements.txt").read_text(), re.M)
    assert pinned, "requirements.txt pins the worker for Python 3.13+"
    assert indexed["runtime"] == pinned.group(1)
    bicep = (REPO / "infra" / "main.bicep").read_text()
    python = re.search(r"param pythonVersion string = '([\d.]+)'", bicep)
    assert python, "infra/main.bicep has a pythonVersion default"
    assert indexed["python"].rsplit(".", 1)[0] == python.group(1), "the worker runs on the Python Azure runs"


def test_the_worker_indexes_and_loads_every_function(indexed):
    names = sorted(f["name"] for f in indexed["functions"])
    expected = sorted([r.function_name for r in http_routes(function_app.app)]
                      + [t.function_name for t in trigger_functions(function_app.app)])
    assert names == expected
    assert len(names) == len(set(names))


def _worker_bindings(indexed: dict[str, Any]) -> dict[str, list[dict[str, Any]]]:
    return {f["name"]: f["bindings"] for f in indexed["functions"]}


def test_http_functions_match_what_the_dev_host_serves(indexed):
    """Route, methods and auth level of every HTTP function as the worker reports them to the host, against
    the dev host's routing table (which tests and `./dev` use)."""
    bindings = _worker_bindings(indexed)
    for route in http_routes(function_app.app):
        (trigger,) = [b for b in bindings[route.function_name] if b["type"] == "httpTrigger"]
        assert trigger["route"] == route.template.template, route.function_name
        assert sorted(m.upper() for m in trigger["methods"]) == sorted(route.methods or []), route.function_name
        assert trigger["authLevel"].lower() == route.auth_level, route.function_name
        assert route.auth_level == "function", f"{route.function_name} must need a key"
        outputs = [b for b in bindings[route.function_name] if b["direction"] == "OUT" and b["type"] != "http"]
        assert [(b["type"], b["name"], b.get("queueName"), b.get("connection")) for b in outputs] == [
            (b["type"], b["name"], b.get("queueName"), b.get("connection")) for b in route.outputs]


def test_other_triggers_match_what_the_dev_host_runs(indexed):
    bindings = _worker_bindings(indexed)
    for function in trigger_functions(function_app.app):
        (trigger,) = [b for b in bindings[function.function_name] if b["type"].endswith("Trigger")]
        assert trigger["type"] == function.trigger_type
        for key in ("queueName", "connection", "schedule", "runOnStartup", "useMonitor"):
            assert trigger.get(key) == function.trigger.get(key), (function.function_name, key)


def test_binding_settings_are_named_settings_the_deployment_sets(indexed):
    """Every %SETTING% a binding names and every connection prefix: the host resolves them from app settings only
    (never from the code's defaults), so each must be one the local stack and the Bicep set."""
    bicep = (REPO / "infra" / "modules" / "functionapp.bicep").read_text()
    for name, bindings in _worker_bindings(indexed).items():
        for binding in bindings:
            for value in binding.values():
                for setting in re.findall(r"%([^%]+)%", value if isinstance(value, str) else ""):
                    assert setting in BINDING_SETTINGS, (name, setting)
                    assert re.search(rf"^\s*{setting}:", bicep, re.M), f"{setting} ({name}) is not set by the Bicep"
            if "connection" in binding:
                prefix = binding["connection"]
                for service in ("queueServiceUri", "blobServiceUri", "credential", "clientId"):
                    assert re.search(rf"^\s*{prefix}__{service}:", bicep, re.M), f"{prefix}__{service} missing"


def test_the_worker_refuses_a_builtin_generic_binding_annotation(tmp_path):
    """The guard can fail: the annotation that once kept the whole app from loading is refused by this worker."""
    (tmp_path / "function_app.py").write_text(textwrap.dedent("""
        import azure.functions as func

        app = func.FunctionApp()

        @app.route(route="hook", methods=["POST"])
        @app.queue_output(arg_name="messages", queue_name="q", connection="BRIDGE_STORAGE")
        def hook(req: func.HttpRequest, messages: func.Out[list[str]]) -> func.HttpResponse:
            return func.HttpResponse(status_code=202)
    """))
    answer = run_worker({"env": {}, "steps": []}, app_dir=tmp_path)
    assert answer["refused"] and "invalid non-type annotation" in answer["refused"]


@pytest.fixture
def stack(tmp_path):
    with LocalStack(SimConfig(alerts=120, risk_detections=5, risky_users=5, history_days=1.0, throttle=False),
                    azurite_dir=tmp_path / "azurite") as running:
        yield running


def test_each_trigger_kind_runs_under_the_worker(stack):
    """HTTP (sync and async), timer and queue with the output binding, against Azurite and the simulator; an export
    under the worker's logging set-up forwards only the app's own lines."""
    tenant = stack.sim.tenants[0]
    env = stack.env(EXPORT_CONTAINER="exp-worker", STATE_CONTAINER="state-worker", AUDIT_CONTAINER="audit-worker",
                    GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000", GRAPH_IDENTITY_REQUESTS_PER_SECOND="1000",
                    REQUESTS_CA_BUNDLE=os.environ["REQUESTS_CA_BUNDLE"])
    settings = stack.settings(**env)
    client_state = "client-state-for-the-worker-test"
    record = SubscriptionRecord(key="alerts", tenant=tenant, resource="security/alerts_v2", change_type="updated",
                                streams=["alerts"], client_state=client_state, subscription_id="sub-1")
    SubscriptionStore.for_settings(settings).update(lambda state: state.records.__setitem__("alerts", record))
    notification = {"value": [{"subscriptionId": "sub-1", "tenantId": tenant, "clientState": client_state,
                               "changeType": "updated", "resource": "security/alerts_v2/a1"}]}

    answer = run_worker({"env": env, "steps": [
        {"kind": "http", "function": "webhook_notifications", "method": "POST", "path": "webhooks/notifications",
         "query": {"validationToken": "token-123"}},
        {"kind": "http", "function": "webhook_notifications", "method": "POST", "path": "webhooks/notifications",
         "body": json.dumps(notification), "headers": {"Content-Type": "application/json"}},
        {"kind": "timer", "function": "export_security_timer"},
    ]})
    assert answer["refused"] is None, answer["refused"]
    handshake, notified, timer = answer["outcomes"]
    assert handshake["ok"] and handshake["http"]["status"] == 200 and handshake["http"]["body"] == "token-123"
    assert notified["ok"] and notified["http"]["status"] == 202, notified
    (message,) = notified["outputs"]["messages"]  # the queue output binding, as the worker encodes it for the host
    assert json.loads(message)["streams"] == ["alerts"] and json.loads(message)["tenant"] == tenant
    assert timer["ok"], timer["error"]
    (work_item,) = timer["outputs"]["work"]  # the timer only enqueues: one item for the tenant's security family
    assert json.loads(work_item)["tenant"] == tenant and json.loads(work_item)["family"] == "security"

    worked = run_worker({"env": env, "steps": [
        {"kind": "queue", "function": "export_worker", "body": work_item, "dequeue_count": 1},
        {"kind": "http", "function": "export_status", "method": "GET", "path": "export/status"},
    ]})
    assert worked["refused"] is None, worked["refused"]
    export_run, status = worked["outcomes"]
    assert export_run["ok"], export_run["error"]
    assert status["ok"] and status["http"]["status"] == 200, status
    rows = json.loads(status["http"]["body"])
    assert any(row.get("stream") == "alerts" and row.get("lastSuccess") for row in _status_rows(rows)), rows

    container = blob_service(settings).get_container_client("exp-worker")
    exported = read_export(container, "alerts", tenant)
    assert exported.duplicates == [] and len({r["id"] for r in exported.records}) == 120

    # The queue trigger, with the message the notification produced: a catch-up export of the alerts stream.
    changed = set(stack.sim.update_alerts(tenant, count=7))
    processed = run_worker({"env": env, "steps": [
        {"kind": "queue", "function": "webhook_processor", "body": message, "dequeue_count": 1}]})
    assert processed["refused"] is None and processed["outcomes"][0]["ok"], processed["outcomes"]
    latest = {a["id"]: a["lastUpdateDateTime"] for a in stack.sim.alerts(tenant)}
    exported = read_export(container, "alerts", tenant)
    assert exported.duplicates == []
    assert {r["id"] for r in exported.records if r["lastUpdateDateTime"] == latest[r["id"]]} >= changed

    foreign = [line for line in answer["user_logs"] + worked["user_logs"] + processed["user_logs"]
               if not line["logger"].startswith(APP_LOGGER)]
    assert foreign == [], f"lines from libraries would reach Application Insights: {foreign[:5]}"
    assert any(line["logger"].startswith(APP_LOGGER) for line in worked["user_logs"]), "the app logs its runs"


def test_an_asynchronous_export_runs_under_the_worker(stack):
    """POST export/{stream} with Prefer: respond-async (HTTP with the queue output), the job worker (queue trigger
    with its continuation output) and GET jobs/{jobId}, each loaded and run by Microsoft's worker."""
    tenant = stack.sim.tenants[0]
    env = stack.env(EXPORT_CONTAINER="exp-worker-jobs", STATE_CONTAINER="state-worker-jobs",
                    GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000", REQUESTS_CA_BUNDLE=os.environ["REQUESTS_CA_BUNDLE"])
    accepted = run_worker({"env": env, "steps": [
        {"kind": "http", "function": "export_run", "method": "POST", "path": "export/alerts",
         "params": {"stream": "alerts"}, "headers": {"Prefer": "respond-async"}}]})
    assert accepted["refused"] is None, accepted["refused"]
    (answer,) = accepted["outcomes"]
    assert answer["ok"] and answer["http"]["status"] == 202, answer
    message = answer["outputs"]["jobs"]  # the job's message, through the queue output binding
    job_id = json.loads(message)["job"]
    done = run_worker({"env": env, "steps": [
        {"kind": "queue", "function": "actions_job_worker", "body": message, "dequeue_count": 1},
        {"kind": "http", "function": "actions_get_job", "method": "GET", "path": f"jobs/{job_id}",
         "params": {"jobId": job_id}},
    ]})
    assert done["refused"] is None, done["refused"]
    worked, status = done["outcomes"]
    assert worked["ok"], worked["error"]
    assert status["ok"] and status["http"]["status"] == 200, status
    (run,) = json.loads(status["http"]["body"])["runs"]
    assert run["status"] == "ok" and run["tenant"] == tenant and run["items"] == 120


def _status_rows(body: Any) -> list[dict[str, Any]]:
    """The status document's per-tenant-and-stream rows, wherever the document nests them."""
    if isinstance(body, list):
        return [row for item in body for row in _status_rows(item)]
    if isinstance(body, dict):
        if "stream" in body:
            return [body]
        return [row for value in body.values() for row in _status_rows(value)]
    return []


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))
