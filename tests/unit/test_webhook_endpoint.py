"""The notification endpoint's answers that need no subscription: the handshake, bad bodies, and 503 when the
subscription records cannot be read (quickly, since Graph gives a delivery 3 s). Also the export status endpoint
with storage unreachable."""

import asyncio
import json
import socket
import time

import azure.functions as func
import pytest

import function_app
from local.devhost import app_functions
from shared.runtime import running


def handler(name: str):
    """The endpoint, called as the worker calls an async function (on an event loop)."""
    function = next(f for f in app_functions(function_app.app) if f.get_function_name() == name).get_user_function()
    return lambda request, out: asyncio.run(function(request, out))


class Out:
    def __init__(self):
        self.value = None

    def set(self, value):
        self.value = value


@pytest.fixture
def unreachable_storage():
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with running({
        "GRAPH_TENANT_IDS": "5b1c4a4e-7d6b-4f0e-9f3c-2a7e8d9c0b1a",
        "GRAPH_AUTH_MODE": "client_secret",
        "GRAPH_CLIENT_ID": "00000000-0000-4000-8000-00000000c11e",
        "GRAPH_CLIENT_SECRET": "x",
        "STATE_CONTAINER": "state-unreachable",
        "BRIDGE_STORAGE": "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey="
                          "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;"
                          f"BlobEndpoint=http://127.0.0.1:{port}/devstoreaccount1;",
    }):
        yield


@pytest.mark.parametrize("name", ["webhook_notifications", "webhook_lifecycle"])
def test_the_handshake_needs_nothing_but_the_token(name):
    token = "Validation: <b>reachability</b> & more"
    request = func.HttpRequest("POST", "https://app/api/x", params={"validationToken": token}, body=b"")
    answer = handler(name)(request, Out())
    assert answer.status_code == 200 and answer.get_body().decode() == token
    assert answer.mimetype == "text/plain" and answer.headers["X-Content-Type-Options"] == "nosniff"


def test_unreadable_subscription_records_answer_503_within_graphs_three_seconds(unreachable_storage):
    body = json.dumps({"value": [{"subscriptionId": "a", "clientState": "b",
                                  "tenantId": "5b1c4a4e-7d6b-4f0e-9f3c-2a7e8d9c0b1a"}]}).encode()
    out = Out()
    started = time.monotonic()
    answer = handler("webhook_notifications")(func.HttpRequest("POST", "https://app/api/x", body=body), out)
    assert time.monotonic() - started < 3.0
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "60"
    assert json.loads(answer.get_body())["status"] == 503 and out.value is None


@pytest.mark.parametrize("name", ["webhook_notifications", "webhook_lifecycle"])
def test_a_validation_token_longer_than_4096_characters_is_refused_not_echoed(name):
    request = func.HttpRequest("POST", "https://app/api/x", params={"validationToken": "t" * 4097}, body=b"")
    answer = handler(name)(request, Out())
    assert answer.status_code == 400 and b"t" * 4097 not in answer.get_body()
    assert json.loads(answer.get_body())["title"] == "Invalid validation token"
    longest = func.HttpRequest("POST", "https://app/api/x", params={"validationToken": "t" * 4096}, body=b"")
    assert handler(name)(longest, Out()).get_body() == b"t" * 4096


@pytest.mark.parametrize("body", [
    b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b"}",  # deeper than the parser's stack
    b'{"value": [{"subscriptionId": "a", "clientState": "b", "x": NaN}]}',
    b'{"value": [{"subscriptionId": "a", "clientState": "b", "x": -Infinity}]}',
])
@pytest.mark.parametrize("name", ["webhook_notifications", "webhook_lifecycle"])
def test_bodies_that_are_not_json_are_a_400_before_anything_is_read(name, body, unreachable_storage):
    out = Out()
    answer = handler(name)(func.HttpRequest("POST", "https://app/api/x", body=body), out)
    assert answer.status_code == 400 and json.loads(answer.get_body())["title"] == "Malformed notification"
    assert out.value is None


def test_export_status_with_storage_down_is_a_quick_503(unreachable_storage):
    started = time.monotonic()
    from functions import export as export_functions

    status = export_functions.export_status.build().get_user_function()
    answer = status(func.HttpRequest("GET", "https://app/api/export/status", body=b""))
    assert time.monotonic() - started < 20.0  # three quick attempts, not the SDK's 80 s
    assert answer.status_code == 503 and answer.headers["Retry-After"] == "30"
    assert json.loads(answer.get_body())["title"] == "Storage unavailable"
