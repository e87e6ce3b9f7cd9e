"""The list actions over HTTP, end to end (dev host, real Graph simulator, real Azurite): filters reach Graph as
the OData the app means and nothing else, pages are read to the end with nextLink and without it (Graph's alerts_v2
has answered full pages with no nextLink), bad input is refused before any Graph call.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import parse_qs, unquote, urlsplit

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import function_app
from local.devhost import DevHost
from local.graphsim import GraphSimulator, SimConfig
from local.stack import LocalStack
from shared.graph.versions import normalize_version


@dataclass
class Api:
    host: DevHost
    sim: GraphSimulator
    config: SimConfig
    tenant: str

    def get(self, path: str, params: dict | None = None) -> requests.Response:
        return requests.get(self.host.url(path), params=params, headers={"x-functions-key": self.host.key},
                            timeout=60)

    def follow(self, path: str, params: dict | None = None) -> tuple[list[dict], int]:
        """Every page, following nextLink as Logic Apps' pagination does; (items, pages)."""
        items, pages = [], 0
        response = self.get(path, params)
        while True:
            assert response.status_code == 200, response.text
            pages += 1
            body = response.json()
            items += body["value"]
            if "nextLink" not in body:
                return items, pages
            assert body["continuationToken"] in unquote(body["nextLink"])
            response = requests.get(body["nextLink"], headers={"x-functions-key": self.host.key}, timeout=60)

    def graph_filters(self, since: int, expect: int = 0) -> list[str]:
        """The $filter of each alerts_v2/incidents list request Graph received since `since`, decoded. The simulator
        logs a request after answering it, so this waits (up to 5 s) for `expect` of them."""
        deadline = time.monotonic() + 5
        while True:
            out = [parse_qs(record.query).get("$filter", [""])[0] for record in self.sim.request_log[since:]
                   if record.method == "GET" and record.path.endswith(("/alerts_v2", "/incidents"))]
            if len(out) >= expect or time.monotonic() > deadline:
                return out
            time.sleep(0.01)


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    config = SimConfig(alerts=700, throttle=False, seed=31)
    with LocalStack(config) as stack:
        assert stack.sim is not None
        env = stack.env(GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000", GRAPH_MAX_RETRY_WAIT_SECONDS="2")
        with DevHost(function_app.app, env) as host:
            yield Api(host, stack.sim, config, stack.sim.tenants[0])
            assert host.errors == [], [e.traceback for e in host.errors]


def ids(items: list[dict]) -> Counter:
    return Counter(item["id"] for item in items)


@pytest.mark.parametrize("profile", ["documented", "observed"])
def test_list_alerts_reads_every_page_once(api: Api, profile: str):
    next_link = profile == "documented"  # the observed Graph sends no nextLink on alerts_v2
    api.config.profile = profile
    try:
        since = len(api.sim.request_log)
        items, pages = api.follow("alerts", {"severity": "high,Medium", "top": "37"})
    finally:
        api.config.profile = "documented"
    expected = [a for a in api.sim.alerts(api.tenant) if a["severity"] in ("high", "medium")]
    assert len(expected) > 3 * 37
    assert ids(items) == ids(expected), "every matching alert exactly once"
    assert pages >= len(expected) // 37
    filters = api.graph_filters(since, expect=pages)
    assert filters[0] == "(severity eq 'medium' or severity eq 'high')"
    if next_link:
        assert all(f == "" for f in filters[1:])  # the nextLink carries the query
    else:  # the time cursor narrows the window instead
        assert all(f.startswith(filters[0] + " and lastUpdateDateTime lt ") for f in filters[1:])
    prefer = [r.headers.get("prefer") for r in api.sim.request_log[since:] if r.path.endswith("/alerts_v2")]
    assert set(prefer) == {"include-unknown-enum-members"}


def test_list_incidents_with_status_and_time_window(api: Api):
    incidents = api.sim.items(api.tenant, "incidents")
    times = sorted(normalize_version(i["lastUpdateDateTime"]) for i in incidents)
    low, high = times[len(times) // 4], times[3 * len(times) // 4]
    params = {"status": "active,inProgress", "updatedAfter": low, "updatedBefore": high, "top": "10"}
    items, _ = api.follow("incidents", params)
    expected = [i for i in incidents if i["status"] in ("active", "inProgress")
                and low <= normalize_version(i["lastUpdateDateTime"]) < high]
    assert expected and ids(items) == ids(expected)


def test_caller_text_reaches_graph_only_as_an_escaped_literal(api: Api):
    owner = next(a["assignedTo"] for a in api.sim.alerts(api.tenant) if a["assignedTo"])
    since = len(api.sim.request_log)
    response = api.get("alerts", {"assignedTo": owner, "top": "1000"})
    assert response.status_code == 200
    assert ids(response.json()["value"]) == ids([a for a in api.sim.alerts(api.tenant) if a["assignedTo"] == owner])
    hostile = "x' or severity eq 'high') or ('a&b#c$d=€"
    response = api.get("alerts", {"assignedTo": hostile})
    assert response.status_code == 200 and response.json()["value"] == []
    sent = api.graph_filters(since, expect=2)
    assert sent == [f"assignedTo eq '{owner}'", "assignedTo eq 'x'' or severity eq ''high'') or (''a&b#c$d=€'"]


def test_alerts_of_an_incident_in_one_call(api: Api):
    state = api.sim._tenant(api.tenant)
    incident, members = next((i, a) for i, a in state.incident_alerts.items() if len(a) >= 2)
    since = len(api.sim.request_log)
    by_route = api.get(f"incidents/{incident}/alerts")
    by_filter = api.get("alerts", {"incidentId": incident})
    assert by_route.status_code == by_filter.status_code == 200
    assert ids(by_route.json()["value"]) == ids(by_filter.json()["value"]) == Counter(set(members))
    assert "nextLink" not in by_route.json()
    assert len(api.sim.request_log) - since == 2
    assert api.get("incidents/999999999/alerts").status_code == 404


@pytest.mark.parametrize(("params", "field"), [
    ({"severity": "critical"}, "severity"),
    ({"status": "active"}, "status"),  # an incident status, not an alert status
    ({"detectionSource": "' or 1 eq 1"}, "detectionSource"),
    ({"top": "0"}, "top"),
    ({"top": "1001"}, "top"),
    ({"top": "١٢"}, "top"),
    ({"createdAfter": "yesterday"}, "createdAfter"),
    ({"createdAfter": "2026-02-31T00:00:00Z"}, "createdAfter"),
    ({"updatedAfter": "2026-11-02T00:00:00Z", "updatedBefore": "2026-11-01T00:00:00Z"}, "updatedBefore"),
    ({"assignedTo": "a\u0000b"}, "assignedTo"),
    ({"assignedTo": "x" * 257}, "assignedTo"),
    ({"incidentId": "1' or '1"}, "incidentId"),
    ({"continuationToken": "forged.token"}, "continuationToken"),
])
def test_bad_filters_are_refused_before_graph(api: Api, params, field):
    since = len(api.sim.request_log)
    response = api.get("alerts", params)
    assert response.status_code == 400, response.text
    assert response.headers["Content-Type"] == "application/problem+json"
    assert field in [e["field"] for e in response.json()["errors"]]
    assert len(api.sim.request_log) == since


def test_a_continuation_only_serves_its_own_query(api: Api):
    first = api.get("alerts", {"severity": "low", "top": "5"}).json()
    token = first["continuationToken"]
    again = api.get("alerts", {"severity": "low", "top": "5", "continuationToken": token})
    assert again.status_code == 200
    other = api.get("alerts", {"severity": "high", "top": "5", "continuationToken": token})
    assert other.status_code == 400 and other.json()["title"] == "Invalid continuation token"
    incidents = api.get("incidents", {"top": "5", "continuationToken": token})
    assert incidents.status_code == 400  # sealed for alerts only
    next_query = parse_qs(urlsplit(first["nextLink"]).query)
    assert next_query["severity"] == ["low"] and next_query["top"] == ["5"]


@settings(max_examples=60, deadline=None, database=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
@given(text=st.text(alphabet=st.characters(codec="utf-8"), min_size=1, max_size=40)
       | st.sampled_from(["'", "''", "$filter=x", "a&b=c", "#frag", "%27", "O'Brien", "é'\u202e"]))
def test_any_owner_text_reaches_graph_as_one_literal_or_is_refused(api: Api, text: str):
    since = len(api.sim.request_log)
    response = api.get("alerts", {"assignedTo": text, "top": "1"})
    sent = api.graph_filters(since, expect=1 if response.status_code == 200 else 0)
    if response.status_code == 400:
        assert sent == [] and response.json()["errors"][0]["field"] == "assignedTo"
        return
    assert response.status_code == 200, response.text
    assert sent == ["assignedTo eq '" + text.strip().replace("'", "''") + "'"]
