"""Fixtures for integration tests: the real Azurite and the real Graph simulator over loopback, on free ports,
stopped at the end. Each test gets its own containers (and usually its own simulator) so tests run in any order and
in parallel workers."""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import requests

from local.azurite import Azurite
from local.devhost import DevHost
from local.graphsim import GraphSimulator, SimConfig
from local.tls import ensure_local_tls
from shared.process_cache import clear_all
from shared.settings import Settings, load_settings

ASYNC_POLL_SECONDS = 0.2  # Logic Apps honour Retry-After; the tests poll faster to stay quick


@contextmanager
def serving(app: Any, env: dict[str, str]) -> Iterator[DevHost]:
    """A dev host serving `app` with `env`, stopped at the end; a function that raised on it fails the test."""
    host = DevHost(app, env).start()
    try:
        yield host
    finally:
        host.stop()
    assert host.errors == [], [e.traceback for e in host.errors]


def follow_async(response: requests.Response, key: str, *, timeout: float, retry_after: int) -> requests.Response:
    """Poll an asynchronous request's Location as a Logic App does, until the answer is not 202 (each 202 must say
    `retry_after` seconds)."""
    deadline = time.monotonic() + timeout
    while response.status_code == 202:
        assert int(response.headers["Retry-After"]) == retry_after
        assert time.monotonic() < deadline, "the job did not finish"
        time.sleep(ASYNC_POLL_SECONDS)
        response = requests.get(response.headers["Location"], headers={"x-functions-key": key}, timeout=60)
    return response


FAST_BUDGETS = {"GRAPH_SECURITY_REQUESTS_PER_MINUTE": "100000", "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "1000"}


@pytest.fixture(scope="session")
def tls():
    material = ensure_local_tls()
    saved = {name: os.environ.get(name) for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")}
    for name in saved:
        os.environ[name] = str(material.ca_bundle_path)
    yield material
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


@pytest.fixture(autouse=True)
def _trust_local_ca(tls, monkeypatch):
    """Every test sees the local CA bundle, even after a module fixture (a LocalStack) restored the environment
    it found when it started, which may predate the session's `tls` fixture."""
    for name in ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE"):
        monkeypatch.setenv(name, str(tls.ca_bundle_path))


@pytest.fixture(scope="session")
def azurite():
    with Azurite() as instance:
        yield instance


@pytest.fixture
def make_sim(tls):
    started: list[GraphSimulator] = []

    def make(**config) -> GraphSimulator:
        config.setdefault("throttle", False)
        sim = GraphSimulator(SimConfig(**config), tls=tls).start()
        started.append(sim)
        return sim

    yield make
    for sim in started:
        sim.stop()
    clear_all()  # credentials made against the stopped simulators


@pytest.fixture
def product_env(request, azurite):
    """The app settings (as environment variables) against a simulator and the session's Azurite, with containers
    of this test: for a test that runs the product in a process of its own."""
    tag = hashlib.sha256(request.node.nodeid.encode()).hexdigest()[:10]

    def build(sim: GraphSimulator, **overrides) -> dict[str, str]:
        env = {
            "GRAPH_TENANT_IDS": ",".join(sim.tenants),
            "GRAPH_AUTH_MODE": "client_secret",
            "GRAPH_CLIENT_ID": sim.client_id,
            "GRAPH_CLIENT_SECRET": sim.client_secret,
            "GRAPH_ENDPOINT": sim.base_url,
            "GRAPH_AUTHORITY_HOST": sim.base_url,
            "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true",
            "BRIDGE_STORAGE": azurite.connection_string,
            "EXPORT_CONTAINER": f"exp-{tag}",
            "STATE_CONTAINER": f"state-{tag}",
            "AUDIT_CONTAINER": f"audit-{tag}",
            "GRAPH_MAX_RETRY_WAIT_SECONDS": "60",
            **FAST_BUDGETS,
        }
        env.update({key: str(value) for key, value in overrides.items()})
        return env

    return build


@pytest.fixture
def app_settings(product_env):
    """Settings of the product against a simulator and the session's Azurite, with containers of this test."""

    def build(sim: GraphSimulator, **overrides) -> Settings:
        return load_settings(product_env(sim, **overrides))

    return build
