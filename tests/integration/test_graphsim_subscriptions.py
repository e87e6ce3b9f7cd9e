"""Subscriptions and change notifications of the Graph simulator, against a real loopback webhook receiver.

The receiver is a small http.server in a thread that records every POST and answers as a test tells it to. Graph
calls go through requests with a token from the simulator's token endpoint, as tests/integration/test_graphsim.py
does.
"""

from __future__ import annotations

import json
import re
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from local.graphsim import GraphSimulator

TOKEN_PREFIX = "Validation: Testing client application reachability for subscription Request-Id: "
GUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")


# --- the webhook receiver ---------------------------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    query: str  # raw
    headers: dict[str, str]  # lower-case names
    body: bytes

    @property
    def params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def token(self) -> str | None:
        values = self.params.get("validationToken")
        return values[0] if values else None

    def json(self) -> Any:
        return json.loads(self.body)


class Receiver:
    """Answers validation requests per path (``validation[path]``: echo, wrong-token, wrong-type, raw, error, slow)
    and notifications with the next status of ``statuses`` (202 once they run out), after ``delay`` seconds."""

    def __init__(self, tls_context: Any = None):
        self.validation: dict[str, str] = {}
        self.statuses: list[int] = []
        self.delay = 0.0
        self.received: list[Received] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                pass

            def do_POST(self):
                url = urlsplit(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                got = Received(url.path, url.query, {k.lower(): v for k, v in self.headers.items()}, body)
                with receiver.lock:
                    receiver.received.append(got)
                    status = receiver.statuses.pop(0) if receiver.statuses else 202
                if got.token is not None:
                    self._validate(got, receiver.validation.get(url.path, "echo"))
                else:
                    time.sleep(receiver.delay)
                    self._answer(status, "text/plain", b"")

            def _validate(self, got: Received, mode: str):
                token = got.token or ""
                if mode == "slow":
                    time.sleep(1.0)
                if mode == "error":
                    self._answer(500, "text/plain", b"boom")
                elif mode == "wrong-token":
                    self._answer(200, "text/plain", (token + " ").encode())
                elif mode == "wrong-type":
                    self._answer(200, "text/html; charset=utf-8", token.encode())
                elif mode == "raw":  # echoes the still-encoded value: a classic bug
                    raw = got.query.split("validationToken=", 1)[1].split("&", 1)[0]
                    self._answer(200, "text/plain", raw.encode())
                else:
                    self._answer(200, "text/plain; charset=utf-8", token.encode())

            def _answer(self, status: int, content_type: str, body: bytes):
                try:
                    self.send_response(status)
                    self.send_header("Content-Type", content_type)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:
                    pass  # the simulator gave up waiting

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.scheme = "http"
        if tls_context is not None:
            self.server.socket = tls_context.wrap_socket(self.server.socket, server_side=True)
            self.scheme = "https"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path: str = "/hook", query: str = "") -> str:
        return f"{self.scheme}://127.0.0.1:{self.server.server_port}{path}" + (f"?{query}" if query else "")

    def posts(self, path: str = "/hook", *, validation: bool | None = False) -> list[Received]:
        with self.lock:
            items = [r for r in self.received if r.path == path]
        if validation is None:
            return items
        return [r for r in items if (r.token is not None) == validation]

    def notifications(self, path: str = "/hook") -> list[dict[str, Any]]:
        return [item for r in self.posts(path) for item in r.json()["value"]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    instance = Receiver()
    yield instance
    instance.close()


# --- Graph client -----------------------------------------------------------------------------------------------------


class Graph:
    def __init__(self, sim: GraphSimulator, tenant: str | None = None):
        self.sim = sim
        self.tenant = tenant or sim.tenants[0]
        self.session = requests.Session()
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "scope": f"{sim.base_url}/.default",
        }
        token = self.session.post(f"{sim.base_url}/{self.tenant}/oauth2/v2.0/token", data=form, timeout=10).json()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"

    def call(self, method: str, path: str, body: object = None) -> requests.Response:
        return self.session.request(method, f"{self.sim.base_url}/v1.0/{path}", json=body, timeout=30)

    def subscribe(self, url: str, resource: str = "security/alerts?$filter=severity eq 'high'", **extra: Any):
        body = {
            "changeType": "created,updated",
            "notificationUrl": url,
            "resource": resource,
            "expirationDateTime": expires(minutes=60),
            "clientState": "secret-state",
            **extra,
        }
        return self.call("POST", "subscriptions", {k: v for k, v in body.items() if v is not None})

    def created(self, url: str, resource: str = "security/alerts?$filter=severity eq 'high'", **extra: Any) -> dict:
        resp = self.subscribe(url, resource, **extra)
        assert resp.status_code == 201, resp.text
        return resp.json()


def expires(minutes: float = 60, seconds: float = 0) -> str:
    moment = datetime.now(UTC) + timedelta(minutes=minutes, seconds=seconds)
    return moment.isoformat().replace("+00:00", "Z")


def error_of(resp: requests.Response, status: int, code: str | None = None) -> str:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    if code is not None:
        assert error["code"] == code, error
    return error["message"]


def request_log(sim: GraphSimulator, count: int) -> list[tuple[str, str, int, str | None]]:
    """The request log once it holds ``count`` records: the server logs a request just after answering it."""
    deadline = time.monotonic() + 2
    while len(sim.request_log) < count and time.monotonic() < deadline:
        time.sleep(0.01)
    return [(r.method, r.path, r.status, r.fault) for r in sim.request_log]


@pytest.fixture
def sim(make_sim) -> GraphSimulator:
    return make_sim(alerts=20, notification_retry_delay=0.05)


# --- creation and the validation handshake ----------------------------------------------------------------------------


def test_create_validates_the_endpoint_and_answers_the_subscription(sim, receiver):
    graph = Graph(sim)
    url = receiver.url("/hook", "code=abc%2B1%3D%3D&x=y")
    before = datetime.now(UTC)
    sub = graph.created(url, clientState="s" * 128)

    [check] = receiver.posts(validation=True)
    assert check.query.startswith("code=abc%2B1%3D%3D&x=y&validationToken=")  # the app's parameters are echoed
    assert check.params["code"] == ["abc+1=="]
    assert check.headers["content-type"] == "text/plain; charset=utf-8"
    assert check.token.startswith(TOKEN_PREFIX) and GUID_RE.match(check.token[len(TOKEN_PREFIX) :])
    assert check.body == b""

    assert GUID_RE.match(sub["id"])
    assert sub["@odata.context"] == f"{sim.base_url}/v1.0/$metadata#subscriptions/$entity"
    assert sub["resource"] == "security/alerts?$filter=severity eq 'high'"
    assert sub["changeType"] == "created,updated"
    assert sub["clientState"] == "s" * 128
    assert sub["notificationUrl"] == url
    assert sub["lifecycleNotificationUrl"] is None
    assert sub["applicationId"] == sim.client_id
    assert GUID_RE.match(sub["creatorId"])
    assert sub["latestSupportedTlsVersion"] == "v1_2"
    assert sub["includeResourceData"] is False
    assert sub["notificationContentType"] == "application/json"
    assert TS_RE.match(sub["expirationDateTime"])
    lifetime = datetime.fromisoformat(sub["expirationDateTime"][:26] + "+00:00") - before
    assert timedelta(minutes=59) < lifetime < timedelta(minutes=61)

    [record] = sim.deliveries
    assert (record.kind, record.url, record.subscription_ids, record.status, record.ok, record.attempt) == (
        "validation",
        receiver.url("/hook"),
        (sub["id"],),
        200,
        True,
        1,
    )
    assert request_log(sim, 1) == [("POST", "/v1.0/subscriptions", 201, None)]

    listed = graph.call("GET", "subscriptions").json()
    assert listed["@odata.context"] == f"{sim.base_url}/v1.0/$metadata#subscriptions"
    assert [s["id"] for s in listed["value"]] == [sub["id"]]
    one = graph.call("GET", f"subscriptions/{sub['id']}")
    assert one.status_code == 200 and one.json() == sub
    [snapshot] = sim.subscriptions()
    assert snapshot["clientState"] == "s" * 128 and snapshot["tenantId"] == graph.tenant
    assert (snapshot["needsReauthorization"], snapshot["reauthorizations"], snapshot["renewals"]) == (False, 0, 0)


@pytest.mark.parametrize(
    ("mode", "detail"),
    [
        ("wrong-token", "must exactly match"),
        ("wrong-type", "text/plain"),
        ("raw", "must exactly match"),
        ("error", "200 OK"),
        ("slow", "did not answer within 0.3 seconds"),
    ],
)
def test_a_failed_handshake_creates_nothing(make_sim, receiver, mode, detail):
    sim = make_sim(alerts=5, validation_timeout=0.3)
    receiver.validation["/hook"] = mode
    message = error_of(Graph(sim).subscribe(receiver.url()), 400, "ValidationError")
    assert message.startswith("Subscription validation request failed.") and detail in message
    assert sim.subscriptions() == []
    [record] = sim.deliveries
    assert record.kind == "validation" and not record.ok and record.error == message.split(": ", 1)[1]
    assert record.status == (0 if mode == "slow" else 500 if mode == "error" else 200)


def test_an_unreachable_endpoint_fails_the_handshake(sim):
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_port
    message = error_of(Graph(sim).subscribe(f"http://127.0.0.1:{port}/hook"), 400, "ValidationError")
    assert "could not be reached" in message
    assert sim.subscriptions() == [] and sim.deliveries[0].status == 0


def test_the_lifecycle_url_is_validated_too(sim, receiver):
    graph = Graph(sim)
    receiver.validation["/life"] = "wrong-token"
    message = error_of(graph.subscribe(receiver.url(), lifecycleNotificationUrl=receiver.url("/life")), 400)
    assert "lifecycleNotificationUrl" in message and sim.subscriptions() == []
    assert [(r.url.rsplit("/", 1)[1], r.ok) for r in sim.deliveries] == [("hook", True), ("life", False)]

    receiver.validation["/life"] = "echo"
    sub = graph.created(receiver.url(), lifecycleNotificationUrl=receiver.url("/life", "k=v"))
    assert sub["lifecycleNotificationUrl"] == receiver.url("/life", "k=v")
    assert receiver.posts("/life", validation=True)[-1].params["k"] == ["v"]
    assert len(receiver.posts("/hook", validation=True)) == 2


def test_https_receivers_are_verified_against_the_ca_bundle(make_sim, tls):
    sim = make_sim(alerts=5)
    secure = Receiver(tls.server_context())
    try:
        sub = Graph(sim).created(secure.url(), "security/alerts?$filter=status eq 'newAlert'")
        assert sub["notificationUrl"].startswith("https://")
        [alert_id] = sim.add_alerts(sim.tenants[0], 1)
        assert sim.wait_for_deliveries(5)
        assert [(r.kind, r.ok) for r in sim.deliveries] == [("validation", True), ("notification", True)]
        assert [n["resourceData"]["id"] for n in secure.notifications()] == [alert_id]
    finally:
        secure.close()


def test_html_in_the_token_is_echoed_as_plain_text(make_sim, receiver):
    suffix = "<script>alert(1)</script>&x=1"
    sim = make_sim(alerts=5, validation_token_suffix=suffix)
    graph = Graph(sim)
    graph.created(receiver.url())
    [check] = receiver.posts(validation=True)
    assert check.token.startswith(TOKEN_PREFIX) and check.token.endswith(suffix)
    assert "<" not in check.query and "%3Cscript%3E" in check.query and "x" not in check.params  # fully encoded
    receiver.validation["/hook"] = "raw"
    error_of(graph.subscribe(receiver.url()), 400, "ValidationError")
    assert len(sim.subscriptions()) == 1


# --- what Graph rejects -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("resource", "changes", "detail"),
    [
        ("security/alerts", "created", "too wide"),
        ("/security/alerts", "created", "too wide"),
        ("security/alerts_v2", "created", "not supported for the resource"),
        ("security/alerts_v2?$filter=severity eq 'high'", "created", "not supported for the resource"),
        ("security/incidents", "created", "not supported for the resource"),
        ("identityProtection/riskDetections", "created", "not supported for the resource"),
        ("identityProtection/riskyUsers", "updated", "not supported for the resource"),
        ("security/alerts?$filter=assignedTo eq 'x'", "created", "assignedTo"),
        ("security/alerts?$filter=severity ge 'high'", "created", "operator 'ge'"),
        ("security/alerts?$filter=not (severity eq 'high')", "created", "'not'"),
        ("security/alerts?$filter=status eq 'new'", "created", "not a valid enumeration"),
        ("security/alerts?$top=5", "created", "Only a $filter"),
        ("users", "created", "not supported for 'users'"),
        ("groups/abc", "updated,created", "not supported for 'groups'"),
        ("security/alerts/abc", "", "changeType"),
        ("security/alerts/abc", "created,bogus", "Invalid changeType 'bogus'"),
    ],
)
def test_unsupported_resources_and_change_types_get_400(sim, receiver, resource, changes, detail):
    message = error_of(Graph(sim).subscribe(receiver.url(), resource, changeType=changes), 400, "InvalidRequest")
    assert detail in message
    assert receiver.received == [] and sim.subscriptions() == []


@pytest.mark.parametrize(
    ("resource", "minutes", "ok"),
    [
        ("security/alerts/abc", 43_200, True),
        ("security/alerts/abc", 43_205, False),
        ("users", 41_760, True),
        ("groups/abc", 41_765, False),
        ("users/abc", 43_200, False),
        ("security/alerts/abc", -1, False),
    ],
)
def test_lifetime_limits(sim, receiver, resource, minutes, ok):
    resp = Graph(sim).subscribe(receiver.url(), resource, changeType="updated", expirationDateTime=expires(minutes))
    if ok:
        assert resp.status_code == 201, resp.text
    else:
        message = error_of(resp, 400, "InvalidRequest")
        assert ("in the past" if minutes < 0 else "minutes in the future") in message


@pytest.mark.parametrize(
    ("extra", "detail"),
    [
        ({"clientState": "s" * 129}, "128 characters"),
        ({"notificationUrl": "http://example.com/hook"}, "must use https"),
        ({"notificationUrl": "ftp://127.0.0.1/hook"}, "absolute https URL"),
        ({"notificationUrl": None}, "'notificationUrl' is required"),
        ({"lifecycleNotificationUrl": "http://example.com/life"}, "must use https"),
        ({"expirationDateTime": None}, "'expirationDateTime' is required"),
        ({"expirationDateTime": "tomorrow"}, "not a valid DateTimeOffset"),
        ({"latestSupportedTlsVersion": "v2_0"}, "latestSupportedTlsVersion"),
        ({"includeResourceData": True}, "includeResourceData"),
    ],
)
def test_bad_properties_get_400(sim, receiver, extra, detail):
    body = {"notificationUrl": receiver.url(), **extra}
    resp = Graph(sim).subscribe(body.pop("notificationUrl"), **body)
    assert detail in error_of(resp, 400, "InvalidRequest")
    assert receiver.received == []


def test_quotas_answer_403(make_sim, receiver):
    sim = make_sim(alerts=5, subscriptions_per_app_tenant=2)
    graph = Graph(sim)
    first = graph.created(receiver.url())
    graph.created(receiver.url())
    assert "this application" in error_of(graph.subscribe(receiver.url()), 403)
    assert len(receiver.posts(validation=True)) == 2  # a full quota needs no handshake
    assert graph.call("DELETE", f"subscriptions/{first['id']}").status_code == 204
    graph.created(receiver.url())

    per_tenant = make_sim(alerts=5, subscriptions_per_tenant=1)
    graph = Graph(per_tenant)
    graph.created(receiver.url())
    assert "the tenant" in error_of(graph.subscribe(receiver.url()), 403)


# --- reading and changing subscriptions -------------------------------------------------------------------------------


def test_get_patch_reauthorize_delete(sim, receiver):
    graph = Graph(sim)
    sub = graph.created(receiver.url(), lifecycleNotificationUrl=receiver.url("/life"))
    path = f"subscriptions/{sub['id']}"

    renewed = graph.call("PATCH", path, {"expirationDateTime": expires(minutes=120)})
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["expirationDateTime"] > sub["expirationDateTime"]
    assert graph.call("GET", path).json()["expirationDateTime"] == renewed.json()["expirationDateTime"]

    assert "lifecycleNotificationUrl" in error_of(
        graph.call("PATCH", path, {"lifecycleNotificationUrl": receiver.url("/other")}), 400
    )
    assert "clientState" in error_of(graph.call("PATCH", path, {"clientState": "x"}), 400)
    assert "43200 minutes" in error_of(graph.call("PATCH", path, {"expirationDateTime": expires(minutes=50_000)}), 400)
    assert "Nothing to update" in error_of(graph.call("PATCH", path, {}), 400)

    receiver.validation["/moved"] = "wrong-token"
    error_of(graph.call("PATCH", path, {"notificationUrl": receiver.url("/moved")}), 400, "ValidationError")
    receiver.validation["/moved"] = "echo"
    moved = graph.call("PATCH", path, {"notificationUrl": receiver.url("/moved")})
    assert moved.status_code == 200 and moved.json()["notificationUrl"] == receiver.url("/moved")
    assert len(receiver.posts("/moved", validation=True)) == 2

    expiry = graph.call("GET", path).json()["expirationDateTime"]
    assert graph.call("POST", f"{path}/reauthorize").status_code == 204
    [snapshot] = sim.subscriptions()
    assert snapshot["expirationDateTime"] == expiry  # reauthorizing does not renew
    assert (snapshot["reauthorizations"], snapshot["renewals"]) == (1, 1)

    assert graph.call("DELETE", path).status_code == 204
    error_of(graph.call("GET", path), 404, "ResourceNotFound")
    error_of(graph.call("DELETE", path), 404, "ResourceNotFound")
    error_of(graph.call("PATCH", path, {"expirationDateTime": expires()}), 404, "ResourceNotFound")
    error_of(graph.call("POST", f"{path}/reauthorize"), 404, "ResourceNotFound")
    error_of(graph.call("PUT", path, {}), 405)
    assert graph.call("GET", "subscriptions").json()["value"] == []


def test_subscriptions_belong_to_their_tenant(make_sim, receiver):
    sim = make_sim(alerts=5, tenants=2)
    mine, theirs = Graph(sim, sim.tenants[0]), Graph(sim, sim.tenants[1])
    sub = mine.created(receiver.url(), "security/alerts?$filter=status eq 'newAlert'", changeType="created")
    error_of(theirs.call("GET", f"subscriptions/{sub['id']}"), 404)
    assert theirs.call("GET", "subscriptions").json()["value"] == []
    assert sim.subscriptions(sim.tenants[1]) == [] and len(sim.subscriptions(sim.tenants[0])) == 1
    sim.add_alerts(sim.tenants[1], 3)
    [new] = sim.add_alerts(sim.tenants[0], 1)
    assert sim.wait_for_deliveries(5)
    assert [n["resourceData"]["id"] for n in receiver.notifications()] == [new]


def test_expired_subscriptions_are_gone(sim, receiver):
    graph = Graph(sim)
    new_alerts = "security/alerts?$filter=status eq 'newAlert'"
    short = graph.created(receiver.url(), new_alerts, expirationDateTime=expires(0, 1))
    kept = graph.created(receiver.url(), new_alerts)
    assert graph.call("GET", f"subscriptions/{short['id']}").status_code == 200
    deadline = datetime.fromisoformat(short["expirationDateTime"][:26] + "+00:00")
    time.sleep(max(0.0, (deadline - datetime.now(UTC)).total_seconds()) + 0.05)
    error_of(graph.call("GET", f"subscriptions/{short['id']}"), 404, "ResourceNotFound")
    sim.expire_subscription(kept["id"])
    error_of(graph.call("GET", f"subscriptions/{kept['id']}"), 404)
    assert graph.call("GET", "subscriptions").json()["value"] == [] and sim.subscriptions() == []
    sim.add_alerts(sim.tenants[0], 3)
    assert sim.wait_for_deliveries(5)
    assert receiver.posts() == []
    with pytest.raises(KeyError):
        sim.expire_subscription(kept["id"])


# --- change notifications ---------------------------------------------------------------------------------------------


def test_add_and_update_alerts_notify_matching_filters(sim, receiver):
    tenant = sim.tenants[0]
    graph = Graph(sim)
    high = graph.created(receiver.url("/high", "route=1"), changeType="created")
    progress = graph.created(
        receiver.url("/progress"), "security/alerts?$filter=status eq 'inProgress'", changeType="updated"
    )
    provider = graph.created(
        receiver.url("/provider"),
        "security/alerts?$filter=vendorInformation/provider eq 'Microsoft Defender ATP' or "
        "vendorInformation/provider eq 'IPC'",
        changeType="created",
    )
    ids = sim.add_alerts(tenant, 40)
    assert sim.wait_for_deliveries(5)
    alerts = {a["id"]: a for a in sim.alerts(tenant) if a["id"] in ids}
    want_high = {i for i, a in alerts.items() if a["severity"] == "high"}
    legacy_named = ("microsoftDefenderForEndpoint", "azureAdIdentityProtection")
    want_provider = {i for i, a in alerts.items() if a["serviceSource"] in legacy_named}
    assert want_high and want_high != set(ids) and want_provider and want_provider != set(ids)  # a real selection

    [post] = receiver.posts("/high")  # one data change, one URL: one POST
    assert post.params == {"route": ["1"]}  # the app's query string is kept
    assert post.headers["content-type"].startswith("application/json")
    items = post.json()["value"]
    assert {n["resourceData"]["id"] for n in items} == want_high and len(items) == len(want_high)
    first = items[0]
    alert_id = first["resourceData"]["id"]
    assert first == {
        "id": first["id"],
        "subscriptionId": high["id"],
        "subscriptionExpirationDateTime": high["expirationDateTime"],
        "clientState": "secret-state",
        "changeType": "created",
        "resource": f"security/alerts/{alert_id}",
        "tenantId": tenant,
        "resourceData": {
            "@odata.type": "#Microsoft.Graph.alert",
            "@odata.id": f"security/alerts/{alert_id}",
            "id": alert_id,
        },
    }
    assert len({n["id"] for n in items}) == len(items)
    assert {n["resourceData"]["id"] for n in receiver.notifications("/provider")} == want_provider
    assert all(n["subscriptionId"] == provider["id"] for n in receiver.notifications("/provider"))
    assert receiver.posts("/progress") == []  # created only goes to subscriptions that asked for it

    sim.update_alerts(tenant, ids[:5])  # new -> inProgress
    assert sim.wait_for_deliveries(5)
    updated = receiver.notifications("/progress")
    assert sorted(n["resourceData"]["id"] for n in updated) == sorted(ids[:5])
    assert {(n["changeType"], n["subscriptionId"]) for n in updated} == {("updated", progress["id"])}
    assert len(receiver.posts("/high")) == 1  # high asked for created only
    sim.update_alerts(tenant, ids[:5])  # inProgress -> resolved: the filter no longer matches
    assert sim.wait_for_deliveries(5)
    assert len(receiver.notifications("/progress")) == 5
    notes = [r for r in sim.deliveries if r.kind == "notification"]
    assert all(r.ok and r.status == 202 and r.attempt == 1 for r in notes)
    assert {r.url for r in notes} == {receiver.url("/high"), receiver.url("/provider"), receiver.url("/progress")}


def test_notifications_are_batched_per_url_and_change(make_sim, receiver):
    sim = make_sim(alerts=5, notification_batch_size=4)
    graph = Graph(sim)
    a = graph.created(receiver.url(), "security/alerts?$filter=status eq 'newAlert'")
    b = graph.created(receiver.url(), "security/alerts?$filter=severity ne 'unknown' or severity eq 'unknown'")
    ids = sim.add_alerts(sim.tenants[0], 5)
    assert sim.wait_for_deliveries(5)
    posts = receiver.posts()
    assert [len(p.json()["value"]) for p in posts] == [4, 4, 2]
    got = [(n["subscriptionId"], n["resourceData"]["id"]) for p in posts for n in p.json()["value"]]
    assert sorted(got) == sorted([(a["id"], i) for i in ids] + [(b["id"], i) for i in ids])
    records = [r for r in sim.deliveries if r.kind == "notification"]
    assert [r.items for r in records] == [4, 4, 2]
    assert set(records[0].subscription_ids) | set(records[-1].subscription_ids) == {a["id"], b["id"]}
    sim.add_alerts(sim.tenants[0], 1)
    assert sim.wait_for_deliveries(5)
    assert [len(p.json()["value"]) for p in receiver.posts()] == [4, 4, 2, 2]  # another change, another POST


def test_a_subscription_on_one_alert(sim, receiver):
    tenant = sim.tenants[0]
    target, other = (a["id"] for a in sim.alerts(tenant)[:2])
    graph = Graph(sim)
    sub = graph.created(receiver.url(), f"/security/alerts/{target}", changeType="updated")
    assert sub["resource"] == f"/security/alerts/{target}"
    sim.update_alerts(tenant, [other])
    assert sim.notify(tenant, f"security/alerts/{other}") == 0
    sim.update_alerts(tenant, [target])
    assert sim.notify(tenant, f"security/alerts/{target}") == 1
    assert sim.notify(tenant, f"security/alerts/{target}", "created") == 0
    assert sim.wait_for_deliveries(5)
    notes = receiver.notifications()
    assert [n["resource"] for n in notes] == [f"security/alerts/{target}"] * 2
    assert {n["changeType"] for n in notes} == {"updated"}


def test_notify_users_and_groups(sim, receiver):
    tenant = sim.tenants[0]
    graph = Graph(sim)
    everyone = graph.created(receiver.url("/users"), "users", changeType="updated,deleted")
    alice = graph.created(receiver.url("/alice"), "users/alice-id", changeType="updated")
    groups = graph.created(receiver.url("/groups"), "groups", changeType="deleted")
    assert sim.notify(tenant, "users/alice-id") == 2
    assert sim.notify(tenant, "users/bob-id", change_type="deleted") == 1
    assert sim.notify(tenant, "groups/g1") == 0  # groups asked for deleted only
    assert sim.notify(tenant, "groups/g1", "deleted") == 1
    with pytest.raises(ValueError):
        sim.notify(tenant, "devices/x")
    with pytest.raises(ValueError):
        sim.notify(tenant, "users/x", "renamed")
    assert sim.wait_for_deliveries(5)
    [to_alice] = receiver.notifications("/alice")
    assert to_alice["subscriptionId"] == alice["id"] and to_alice["resource"] == "Users/alice-id"
    assert to_alice["resourceData"] == {
        "@odata.type": "#Microsoft.Graph.User",
        "@odata.id": "Users/alice-id",
        "id": "alice-id",
        "organizationId": tenant,
    }
    assert [(n["resourceData"]["id"], n["changeType"]) for n in receiver.notifications("/users")] == [
        ("alice-id", "updated"),
        ("bob-id", "deleted"),
    ]
    assert {n["subscriptionId"] for n in receiver.notifications("/users")} == {everyone["id"]}
    [group] = receiver.notifications("/groups")
    assert group["subscriptionId"] == groups["id"]
    assert group["resourceData"]["@odata.type"] == "#Microsoft.Graph.Group"
    assert group["resourceData"]["@odata.id"] == "Groups/g1"


def test_retries_until_the_receiver_accepts(make_sim, receiver):
    sim = make_sim(alerts=5, notification_retry_delay=0.05, notification_max_attempts=3)
    Graph(sim).created(receiver.url(), "security/alerts?$filter=status eq 'newAlert'")
    receiver.statuses = [500, 503]
    sim.add_alerts(sim.tenants[0], 1)
    assert sim.wait_for_deliveries(5)
    posts = receiver.posts()
    assert len(posts) == 3 and posts[0].body == posts[1].body == posts[2].body  # the same notification again
    notes = [r for r in sim.deliveries if r.kind == "notification"]
    assert [(r.attempt, r.status, r.ok) for r in notes] == [(1, 500, False), (2, 503, False), (3, 202, True)]

    receiver.statuses = [500, 500, 500]
    sim.add_alerts(sim.tenants[0], 1)
    assert sim.wait_for_deliveries(5)
    notes = [r for r in sim.deliveries if r.kind == "notification"][3:]
    assert [(r.attempt, r.ok) for r in notes] == [(1, False), (2, False), (3, False)]  # then it is dropped
    assert len(receiver.posts()) == 6


def test_slow_receivers_time_out(make_sim, receiver):
    sim = make_sim(alerts=5, notification_timeout=0.2, notification_max_attempts=1)
    Graph(sim).created(receiver.url(), "security/alerts?$filter=status eq 'newAlert'")
    receiver.delay = 0.5
    sim.add_alerts(sim.tenants[0], 1)
    assert sim.wait_for_deliveries(5)
    [note] = [r for r in sim.deliveries if r.kind == "notification"]
    assert (note.status, note.ok, note.error) == (0, False, "timeout")
    assert note.duration_s < 0.5


def test_stop_does_not_wait_for_pending_retries(make_sim, receiver):
    sim = make_sim(alerts=5, notification_retry_delay=30)
    Graph(sim).created(receiver.url(), "security/alerts?$filter=status eq 'newAlert'")
    receiver.statuses = [500]
    sim.add_alerts(sim.tenants[0], 1)
    assert not sim.wait_for_deliveries(0.3)  # a retry is scheduled in 30 s
    started = time.perf_counter()
    sim.stop()
    assert time.perf_counter() - started < 2
    assert sim.wait_for_deliveries(0.1)


# --- lifecycle notifications and reauthorization ----------------------------------------------------------------------


def test_lifecycle_events(sim, receiver):
    graph = Graph(sim)
    sub = graph.created(receiver.url(), lifecycleNotificationUrl=receiver.url("/life", "lc=1"))
    plain = graph.created(receiver.url())
    for event in ("reauthorizationRequired", "missed", "subscriptionRemoved"):
        sim.send_lifecycle(sub["id"], event)
    error_of(graph.call("GET", f"subscriptions/{sub['id']}"), 404)  # subscriptionRemoved deleted it
    assert sim.wait_for_deliveries(5)
    posts = receiver.posts("/life")
    assert all(p.params == {"lc": ["1"]} for p in posts)
    events = [p.json() for p in posts]
    assert [e["value"][0]["lifecycleEvent"] for e in events] == [
        "reauthorizationRequired",
        "missed",
        "subscriptionRemoved",
    ]
    assert events[0] == {
        "value": [
            {
                "subscriptionId": sub["id"],
                "subscriptionExpirationDateTime": sub["expirationDateTime"],
                "tenantId": sim.tenants[0],
                "clientState": "secret-state",
                "lifecycleEvent": "reauthorizationRequired",
            }
        ]
    }
    assert [r.kind for r in sim.deliveries if r.url.endswith("/life")] == ["validation"] + ["lifecycle"] * 3
    with pytest.raises(KeyError):
        sim.send_lifecycle(sub["id"], "missed")
    with pytest.raises(ValueError, match="lifecycleNotificationUrl"):
        sim.send_lifecycle(plain["id"], "missed")
    with pytest.raises(ValueError, match="event"):
        sim.send_lifecycle(plain["id"], "bogus")


def test_reauthorization_pauses_notifications(sim, receiver):
    tenant = sim.tenants[0]
    graph = Graph(sim)
    sub = graph.created(
        receiver.url(), "security/alerts?$filter=status eq 'newAlert'", lifecycleNotificationUrl=receiver.url("/life")
    )
    sim.send_lifecycle(sub["id"], "reauthorizationRequired")
    assert sim.subscriptions()[0]["needsReauthorization"] is True
    sim.add_alerts(tenant, 3)
    assert sim.wait_for_deliveries(5)
    assert receiver.posts() == [] and sim.dropped_notifications == {sub["id"]: 3}

    assert graph.call("POST", f"subscriptions/{sub['id']}/reauthorize").status_code == 204
    snapshot = sim.subscriptions()[0]
    assert (snapshot["needsReauthorization"], snapshot["reauthorizations"]) == (False, 1)
    assert snapshot["expirationDateTime"] == sub["expirationDateTime"]
    resumed = sim.add_alerts(tenant, 2)
    assert sim.wait_for_deliveries(5)
    assert [n["resourceData"]["id"] for n in receiver.notifications()] == resumed

    sim.send_lifecycle(sub["id"], "reauthorizationRequired")
    sim.add_alerts(tenant, 1)
    renewed = graph.call("PATCH", f"subscriptions/{sub['id']}", {"expirationDateTime": expires(90)})
    assert renewed.status_code == 200  # renewing reauthorizes too
    sim.add_alerts(tenant, 1)
    assert sim.wait_for_deliveries(5)
    assert len(receiver.notifications()) == 3 and sim.dropped_notifications == {sub["id"]: 4}
    assert sim.subscriptions()[0]["renewals"] == 1


# --- plumbing: faults, control routes ---------------------------------------------------------------------------------


def test_subscription_routes_go_through_fault_injection(sim, receiver):
    graph = Graph(sim)
    sim.set_faults(fail_next=[503], path="/subscriptions")
    assert graph.subscribe(receiver.url()).status_code == 503
    assert receiver.received == [] and sim.subscriptions() == []
    assert graph.subscribe(receiver.url()).status_code == 201
    assert request_log(sim, 2) == [
        ("POST", "/v1.0/subscriptions", 503, "status"),
        ("POST", "/v1.0/subscriptions", 201, None),
    ]


def test_control_routes(sim, receiver):
    graph = Graph(sim)
    sub = graph.created(receiver.url(), "users", changeType="updated", lifecycleNotificationUrl=receiver.url("/life"))
    control = requests.Session()

    def call(method: str, path: str, body: object = None) -> requests.Response:
        return control.request(method, f"{sim.base_url}/_sim/{path}", json=body, timeout=10)

    listed = call("GET", "subscriptions").json()["value"]
    assert [s["id"] for s in listed] == [sub["id"]] and listed[0]["needsReauthorization"] is False
    assert call("GET", f"subscriptions?tenant={sim.tenants[0]}").json()["value"] == listed
    assert call("POST", "notify", {"resource": "users/u1"}).json() == {"queued": 1}
    assert call("POST", "notify", {"resource": "users/u1", "changeType": "created"}).json() == {"queued": 0}
    assert call("POST", "notify", {"resource": "printers/p"}).status_code == 400
    assert call("POST", f"subscriptions/{sub['id']}/lifecycle", {"event": "missed"}).json() == {"ok": True}
    assert call("POST", f"subscriptions/{sub['id']}/lifecycle", {"event": "bogus"}).status_code == 400
    assert call("POST", "deliveries/wait", {"timeout": 5}).json() == {"idle": True}
    kinds = [d["kind"] for d in call("GET", "deliveries").json()["value"]]
    assert kinds == ["validation", "validation", "notification", "lifecycle"]
    assert call("POST", f"subscriptions/{sub['id']}/expire").json() == {"ok": True}
    assert call("POST", f"subscriptions/{sub['id']}/expire").status_code == 404
    assert call("GET", "subscriptions").json()["value"] == []
    assert call("GET", f"subscriptions?tenant={uuid.uuid4()}").status_code == 404
