"""The dev host: routes, auth levels, requests and responses as the Functions host and the Python worker shape them,
output bindings (a queue on real Azurite), failures, the app's own routes and the command line (non-HTTP triggers:
test_devhost_triggers.py)."""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import azure.functions as func
import pytest
import requests
from azure.storage.queue import QueueClient

import function_app
from local.devhost import DevHost, RouteTemplate, http_routes, overlapping_routes
from shared import runtime
from shared.actions.operations import OPERATIONS

REPO = Path(__file__).resolve().parents[2]


# --- route templates


@pytest.mark.parametrize(("template", "path", "expected"), [
    ("alerts/{id}", "alerts/a1", {"id": "a1"}),
    ("alerts/{id}", "ALERTS/a1", {"id": "a1"}),
    ("alerts/{id}", "alerts", None),
    ("alerts/{id}", "alerts/a1/x", None),
    ("alerts/{id}/comments", "alerts/a1/comments", {"id": "a1"}),
    ("items/{id?}", "items", {}),
    ("items/{id?}", "items/7", {"id": "7"}),
    ("items/{id=first}", "items", {"id": "first"}),
    ("files/{*path}", "files/a/b/c", {"path": "a/b/c"}),
    ("files/{*path}", "files", {}),
    ("n/{id:int}", "n/42", {"id": "42"}),
    ("n/{id:int}", "n/x", None),
    ("n/{id:int}", "n/99999999999", None),
    ("g/{id:guid}", "g/29f270bb-4d23-4f68-8a57-dc73dc0d4caf", {"id": "29f270bb-4d23-4f68-8a57-dc73dc0d4caf"}),
    ("g/{id:guid}", "g/nope", None),
    ("a/{name:alpha:maxlength(3)}", "a/abc", {"name": "abc"}),
    ("a/{name:alpha:maxlength(3)}", "a/abcd", None),
    ("r/{code:regex(^[a-z]{{2}}:\\d+$)}", "r/ab:12", {"code": "ab:12"}),
    ("r/{code:regex(^[a-z]{{2}}:\\d+$)}", "r/ab12", None),
])
def test_route_templates(template, path, expected):
    assert RouteTemplate(template).match(path.split("/")) == expected


def test_unsupported_templates_fail_loudly():
    for template in ("a/{x:unknown}", "a/pre{x}", "a/{*rest}/b", "{}"):
        with pytest.raises(ValueError):
            RouteTemplate(template)


def test_literal_routes_win_over_parameters_in_the_app():
    routes = [r.template.template for r in http_routes(function_app.app)]
    assert routes.index("export/status") < routes.index("export/{stream}")
    assert routes.index("alerts/bulk-update") < routes.index("alerts/{alertId}")


def test_no_two_routes_of_the_app_can_serve_one_request():
    """So the host's route order (precedence, or registration order) cannot change which function answers."""
    assert overlapping_routes(http_routes(function_app.app)) == []


def test_overlapping_routes_are_found():
    pairs = {(a.function_name, b.function_name) for a, b in overlapping_routes(http_routes(demo))}
    assert pairs == {("fixed", "echo")} or pairs == {("echo", "fixed")}


def test_the_app_is_served_as_registered():
    names = {r.function_name for r in http_routes(function_app.app)}
    assert {op.function_name for op in OPERATIONS} <= names


# --- a small app exercising the host's behaviour

demo = func.FunctionApp(http_auth_level=func.AuthLevel.FUNCTION)


@demo.route(route="echo/{name}/{rest?}", methods=["GET", "POST"])
def echo(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse(json.dumps({
        "method": req.method, "url": req.url, "route": dict(req.route_params), "params": dict(req.params),
        "body": req.get_body().decode(), "header": req.headers.get("X-Custom"),
        "setting": runtime.current().app_settings.get("DEMO_SETTING"),  # how the app reads its settings
    }), mimetype="application/json", headers={"X-Served-By": "echo"})


@demo.route(route="echo/fixed", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def fixed(req: func.HttpRequest) -> str:
    return "literal wins"


@demo.route(route="admin-only", methods=["GET"], auth_level=func.AuthLevel.ADMIN)
def admin_only(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("admin", status_code=202)


@demo.route(route="boom", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
def boom(req: func.HttpRequest) -> func.HttpResponse:
    raise RuntimeError("kaboom")


@demo.route(route="ctx", methods=["GET"], auth_level=func.AuthLevel.ANONYMOUS)
async def with_context(req: func.HttpRequest, context: func.Context) -> func.HttpResponse:
    return func.HttpResponse(context.function_name)


@demo.route(route="enqueue", methods=["POST"], auth_level=func.AuthLevel.ANONYMOUS)
@demo.queue_output(arg_name="msg", queue_name="%DEMO_QUEUE%", connection="DEMO_STORAGE")
def enqueue(req: func.HttpRequest, msg: func.Out[str]) -> func.HttpResponse:
    msg.set(req.get_body().decode())
    return func.HttpResponse(status_code=202)


@pytest.fixture(scope="module")
def host(azurite):
    env = {"DEMO_SETTING": "from-env", "DEMO_QUEUE": "demo-out", "DEMO_STORAGE": azurite.connection_string}
    before = runtime.current()
    with DevHost(demo, env, {"default": "k1", "second": "k2"}, master_key="master") as running:
        assert runtime.current().app_settings["DEMO_SETTING"] == "from-env"
        yield running
    assert "DEMO_SETTING" not in os.environ  # the process environment is never edited
    assert runtime.current() is before  # the runtime the host replaced is back


def get(host, path, **kwargs):
    return requests.get(f"{host.root_url}{path}", timeout=10, **kwargs)


def test_request_and_response_shapes(host):
    response = requests.post(f"{host.base_url}/echo/bob/x%20y?a=1&a=2&code=k2", data=b"payload",
                             headers={"X-Custom": "yes"}, timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/json" and response.headers["X-Served-By"] == "echo"
    body = response.json()
    assert body["method"] == "POST" and body["route"] == {"name": "bob", "rest": "x y"}
    assert body["params"] == {"a": "1,2", "code": "k2"} and body["body"] == "payload" and body["header"] == "yes"
    assert body["url"] == f"{host.root_url}/api/echo/bob/x%20y?a=1&a=2&code=k2"
    assert body["setting"] == "from-env"
    optional = get(host, "/api/echo/bob/", headers={"x-functions-key": "k1"}).json()
    assert optional["route"] == {"name": "bob"}


def test_encoded_slash_stays_in_the_route_value(host):
    body = get(host, "/api/echo/a%2Fb", headers={"x-functions-key": "k1"}).json()
    assert body["route"] == {"name": "a%2Fb"}


def test_literal_route_beats_parameter_and_str_return(host):
    response = get(host, "/api/echo/fixed")
    assert response.status_code == 200 and response.text == "literal wins"
    assert response.headers["Content-Type"] == "text/plain; charset=utf-8"


def test_auth_levels(host):
    assert get(host, "/api/echo/bob").status_code == 401
    assert get(host, "/api/echo/bob?code=wrong").status_code == 401
    assert get(host, "/api/echo/bob", headers={"x-functions-key": "master"}).status_code == 200
    assert get(host, "/api/admin-only", headers={"x-functions-key": "k1"}).status_code == 401
    assert get(host, "/api/admin-only?code=master").status_code == 202
    assert get(host, "/api/echo/bob").content == b""


def test_unknown_routes_and_methods_get_an_empty_404(host):
    for method, path in (("GET", "/api/nothing"), ("DELETE", "/api/echo/bob"), ("GET", "/echo/bob"),
                         ("GET", "/api/echo/bob/x/y")):
        response = requests.request(method, f"{host.root_url}{path}", headers={"x-functions-key": "k1"}, timeout=10)
        assert response.status_code == 404 and response.content == b""


def test_exceptions_are_500_and_recorded(host):
    before = len(host.errors)
    response = get(host, "/api/boom")
    assert response.status_code == 500 and response.content == b""
    assert len(host.errors) == before + 1 and "kaboom" in host.errors[-1].traceback
    del host.errors[before:]


def test_async_functions_and_context(host):
    response = get(host, "/api/ctx")
    assert response.status_code == 200 and response.text == "with_context"


def test_queue_output_binding(host, azurite):
    response = requests.post(f"{host.base_url}/enqueue", data=b'{"n": 1}', timeout=10)
    assert response.status_code == 202
    queue = QueueClient.from_connection_string(azurite.connection_string, "demo-out")
    messages = list(queue.receive_messages())
    assert [base64.b64decode(m.content) for m in messages] == [b'{"n": 1}']


def test_keep_alive_and_chunked_bodies(host):
    """As on the host, a chunked body does not reach the function (azure-functions-host issue 7930); the
    connection stays usable and a body with Content-Length on it arrives whole."""
    with requests.Session() as session:
        for _ in range(3):
            response = session.post(f"{host.base_url}/echo/x?code=k1", data=iter([b"ab", b"cd"]), timeout=10)
            assert response.json()["body"] == ""
            response = session.post(f"{host.base_url}/echo/x?code=k1", data=b"abcd", timeout=10)
            assert response.json()["body"] == "abcd"


def test_empty_query_values_are_dropped_and_repeated_headers_joined(host):
    response = requests.get(f"{host.base_url}/echo/x?code=k1&empty=&a=1", headers={"X-Custom": "a"}, timeout=10)
    assert "empty" not in response.json()["params"] and response.json()["params"]["a"] == "1"
    answer = host.dispatch("GET", "/api/echo/x?code=k1", [("X-Custom", "a"), ("x-custom", "b")], b"")
    assert json.loads(answer.body)["header"] == "a,b"


def test_route_prefix_from_host_json(tmp_path):
    (tmp_path / "host.json").write_text(json.dumps({"version": "2.0", "extensions": {"http": {"routePrefix": ""}}}))
    with DevHost(demo, {}, host_json=tmp_path / "host.json") as bare:
        assert bare.base_url == bare.root_url
        assert requests.get(f"{bare.root_url}/echo/fixed", timeout=10).text == "literal wins"


# --- the command line


def test_command_line_serves_the_app():
    process = subprocess.Popen(
        [sys.executable, "-m", "local.devhost", "--port", "0", "--key", "cli-key", "--master-key", "cli-master",
         "--alerts", "20"],
        cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True,
    )
    try:
        lines = []
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("Try:"):
                break
        base = next(line.split(" at ")[1].strip() for line in lines if line.startswith("Serving"))
        assert "Function key: cli-key\n" in lines
        response = requests.get(f"{base}/openapi.json", headers={"x-functions-key": "cli-key"}, timeout=30)
        assert response.status_code == 200 and response.json()["swagger"] == "2.0"
        assert "Master key: cli-master\n" in lines
        assert any(line.startswith("Queue triggers run as messages arrive:") for line in lines)
        # The printed admin API call fires a timer (the real export, in the background; stopping waits for it).
        fire = next(line for line in lines if line.startswith("Fire a timer:"))
        admin_url = fire.split()[-1]
        assert admin_url.startswith(f"{base.removesuffix('/api')}/admin/functions/")
        for key, status in (("cli-key", 401), ("cli-master", 202)):
            response = requests.post(admin_url, json={"input": ""}, headers={"x-functions-key": key}, timeout=30)
            assert response.status_code == status
    finally:
        os.killpg(process.pid, signal.SIGTERM)
        assert process.wait(timeout=30) == 0
