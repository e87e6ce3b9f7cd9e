"""Fuzzing: schemathesis drives the served OpenAPI document against the app in the dev host, with the real Graph
simulator and Azurite behind it. Valid and invalid requests (schemathesis' positive and negative modes) must never
get a 5xx, and no function may raise: the dev host records every unhandled exception.

Bounded: EXAMPLES generated cases per operation, for every operation of the document (the actions, the list actions,
the triggers, the job status and the webhook endpoints: 20 operations), with schemathesis' explicit examples and both
modes. Fuzzing the export endpoints would run
exports; their validation has its own tests, and test_hostile_input.py sends every HTTP function (export included)
input beyond the document: deep JSON, NaN, extreme dates, control characters in ids.
"""

from __future__ import annotations

import time
import zlib
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.checks import not_a_server_error

import function_app
from local.devhost import DevHost
from local.graphsim import SimConfig
from local.stack import LocalStack
from shared.actions.operations import OPERATIONS

EXAMPLES = 20
MIN_REQUESTS = 300
calls: list[int] = []
operations_run: set[str] = set()
# The operations a whole run reaches. schemathesis makes no case of its own for GetOpenApiDocument; the run fetches
# that document itself (api_schema) before anything else.
FUZZED = {op.operation_id for op in OPERATIONS if op.tag != "Export"} - {"GetOpenApiDocument"}


@dataclass
class Known:
    """Ids that exist in the simulator: half of the generated ids are swapped for one of these (chosen from the
    generated value, so runs repeat), so that valid requests also reach Graph and change things."""

    pools: dict[str, list[str]]

    def pick(self, pool: str, value: object) -> object:
        if not isinstance(value, str):
            return value
        digest = zlib.crc32(value.encode())
        return self.pools[pool][digest // 2 % len(self.pools[pool])] if digest % 2 else value

    def apply(self, case) -> None:
        for name, pool in (("alertId", "alerts"), ("incidentId", "incidents")):
            if case.path_parameters and name in case.path_parameters:
                case.path_parameters[name] = self.pick(pool, case.path_parameters[name])
        body = case.body if isinstance(case.body, dict) else {}
        for name, pool in (("ids", "alerts"), ("userIds", "riskyUsers"),
                           ("servicePrincipalIds", "riskyServicePrincipals")):
            if isinstance(body.get(name), list):
                body[name] = [self.pick(pool, item) for item in body[name]]


@pytest.fixture(scope="module")
def stack() -> Iterator[LocalStack]:
    with LocalStack(SimConfig(alerts=150, throttle=False, seed=5)) as running:
        yield running


@pytest.fixture(scope="module")
def known(stack: LocalStack) -> Known:
    assert stack.sim is not None
    tenant = stack.sim.tenants[0]
    return Known({name: [item["id"] for item in stack.sim.items(tenant, name)]
                  for name in ("alerts", "incidents", "riskyUsers", "riskyServicePrincipals")})


@pytest.fixture(scope="module")
def served(stack: LocalStack) -> Iterator[DevHost]:
    env = stack.env(
        AUDIT_CONTAINER="audit-fuzz", GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000",
        GRAPH_IDENTITY_REQUESTS_PER_SECOND="1000", GRAPH_MAX_RETRY_WAIT_SECONDS="1", ACTIONS_MAX_BULK_IDS="100",
    )
    with DevHost(function_app.app, env) as host:
        started = time.monotonic()
        yield host
        seconds = time.monotonic() - started
        print(f"\nfuzz: {len(operations_run)} of {len(FUZZED)} operations, {len(calls)} requests in {seconds:.1f} s, "
              f"{len(host.errors)} unhandled exceptions; "
              f"statuses {dict(sorted(Counter(calls).items()))}")
        assert host.errors == [], "\n".join(e.traceback for e in host.errors)
        assert operations_run == FUZZED, f"operations never fuzzed: {sorted(FUZZED - operations_run)}"
        assert len(calls) >= MIN_REQUESTS, f"the fuzz run made only {len(calls)} requests"


@pytest.fixture(scope="module")
def api_schema(served: DevHost):
    return schemathesis.openapi.from_url(served.url("openapi.json"), headers={"x-functions-key": served.key})


schema = schemathesis.pytest.from_fixture("api_schema").exclude(tag="Export")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=True,
          phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
def test_no_server_errors(case, served: DevHost, known: Known):
    known.apply(case)
    with requests.Session() as session:
        response = case.call(session=session, headers={"x-functions-key": served.key}, timeout=60)
    calls.append(response.status_code)
    operations_run.add(case.operation.definition.raw["operationId"])
    case.validate_response(response, checks=[not_a_server_error])
    assert not served.errors, served.errors[-1].traceback
