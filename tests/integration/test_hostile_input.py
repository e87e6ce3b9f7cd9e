"""Hostile input to every HTTP function the app registers (the actions, the export and the webhooks), beyond what
the OpenAPI document describes and schemathesis generates (test_actions_fuzz.py): JSON nested deeper than Python's
parser goes, NaN and Infinity, dates outside what UTC can hold, control characters and odd Unicode in ids (in the path,
the body and the query), bodies that are not UTF-8. Each request must get an answer below 500, and no function may
raise (the dev host records every unhandled exception). About 250 requests against the dev host, the Graph
simulator and Azurite.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import requests

import function_app
from local.devhost import DevHost, app_functions
from local.graphsim import SimConfig
from local.stack import LocalStack


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[DevHost, dict[str, list[str]]]]:
    with LocalStack(SimConfig(alerts=20, throttle=False, seed=7)) as stack:
        assert stack.sim is not None
        tenant = stack.sim.tenants[0]
        known = {name: [item["id"] for item in stack.sim.items(tenant, name)] for name in ("alerts", "incidents")}
        env = stack.env(AUDIT_CONTAINER="audit-hostile", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000",
                        GRAPH_IDENTITY_REQUESTS_PER_SECOND="1000", GRAPH_MAX_RETRY_WAIT_SECONDS="1",
                        EXPORT_INITIAL_LOOKBACK_DAYS="1")
        with DevHost(function_app.app, env) as host:
            yield host, known


GUID = "29f270bb-4d23-4f68-8a57-dc73dc0d4caf"
HOSTILE_IDS = ("a%0A", "%00", "a%0D%0ASet-Cookie:%20x", "%E2%80%AE" + "b" * 8, "x" * 5000, "%2E%2E", "%F0%9F%92%A5")
HOSTILE_BODIES = (
    b"[" * 2048 + b"]" * 2048,  # deeper than Python's parser stack
    b'{"value": ' + b"[" * 5000 + b"]" * 5000 + b"}",
    b'{"a":' * 3000 + b"1" + b"}" * 3000,
    b"[" * 100_000,
    b'{"value": [NaN], "x": Infinity}',
    b'{"x": -Infinity, "from": NaN}',
    b'{"x": 1e999}',
    b'{"from": "0001-01-01T00:00:00+14:00", "to": "9999-12-31T23:59:59-14:00"}',
    b'{"from": "9999-12-31T23:59:59-14:00", "to": "0001-01-01T00:00:00+14:00"}',
    b'{"from": "0001-01-01T00:00:00Z", "to": "0001-01-02T00:00:00Z"}',
    b'{"from": "2026-02-30T25:61:61Z", "to": "+275760-09-13T00:00:00Z"}',
    b'{"status": "resolved", "comment": "\\ud800", "assignedTo": "\\u0000\\n"}',
    b'{"ids": ["a\\u0000b", "x\\n", "\\u202eab"], "changes": {"status": "resolved"}}',
    b'{"userIds": ["' + GUID.encode() + b'\\n"]}',
    b'{"servicePrincipalIds": ["\\u202e' + GUID.encode() + b'"]}',
    b'{"value": [{"subscriptionId": "a\\nb", "clientState": "\\u0000", "tenantId": "x\\r\\n", '
    b'"resource": "../../x", "changeType": "updated", "subscriptionExpirationDateTime": "0001-01-01T00:00:00+14:00"}]}',
    b"\xff\xfe{\x00}",
    b'{"comment": "' + b"x" * 20_000 + b'"}',
)
HOSTILE_QUERIES = (
    {"tenant": "\x00"}, {"tenant": GUID + "\n"}, {"validationToken": "t" * 5000}, {"validationToken": "\x00\r\n"},
)


def http_functions() -> list[tuple[str, str, str]]:
    """(function name, method, route template) of every HTTP function the app registers."""
    found = []
    for function in app_functions(function_app.app):
        trigger = function.get_trigger()
        if trigger.get_binding_name() != "httpTrigger":
            continue
        for method in trigger.methods:
            found.append((function.get_function_name(), str(getattr(method, "value", method)), trigger.route))
    return found


def paths_for(route: str, known: dict[str, list[str]]) -> list[str]:
    """The route with ordinary ids, then with each hostile id in every parameter."""
    ordinary = {"alertId": known["alerts"][0], "incidentId": known["incidents"][0], "stream": "alerts",
                "jobId": "0" * 32}  # a well-formed id of no job
    names = [part[1:-1].split(":")[0] for part in route.split("/") if part.startswith("{")]

    def fill(values: dict[str, str]) -> str:
        path = route
        for name in names:
            path = re.sub(r"\{" + name + r"(:[^}]*)?\}", values[name], path)
        return path

    paths = [fill(ordinary)]
    for name in names:
        paths += [fill({**ordinary, name: hostile}) for hostile in HOSTILE_IDS]
    return paths


def test_hostile_input_to_every_http_function_gets_no_server_error(served):
    host, known = served
    functions = http_functions()
    assert len({name for name, _, _ in functions}) >= 17  # every HTTP function of the app, export and webhooks too
    failures, sent = [], 0
    with requests.Session() as session:
        for name, method, route in functions:
            paths = paths_for(route, known)
            attempts = [(path, b"", {}) for path in paths[1:]]
            attempts += [(paths[0], body, {}) for body in HOSTILE_BODIES] if method in ("POST", "PATCH") else []
            attempts += [(paths[0], b"", query) for query in HOSTILE_QUERIES]
            for path, body, query in attempts:
                response = session.request(method, host.url(path), data=body, params=query, timeout=120,
                                           headers={"x-functions-key": host.key,
                                                    "Content-Type": "application/json"})
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{name} {method} {path[:80]} {body[:60]!r} {query}: {response.status_code} "
                                    f"{response.text[:200]}")
    print(f"\nhostile input: {sent} requests to {len(functions)} HTTP functions")
    assert failures == [], "\n".join(failures[:20])
    assert not host.errors, host.errors[-1].traceback
