"""Change notifications end to end: the app's functions served by the dev host (HTTP, queue trigger, timer), the
Graph simulator creating subscriptions (with its validation handshake against our endpoint), changing data and
posting notifications, and what lands in Azurite. Nothing of ours is mocked."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import pytest
import requests

import function_app
from local.devhost import DevHost
from local.export_check import read_export
from local.graphsim import GraphSimulator, SimConfig
from local.stack import LocalStack
from shared.storage.clients import blob_service
from shared.webhooks.state import SubscriptionState, SubscriptionStore

WEBHOOK_KEY = "graph-webhook-key-for-tests"
ROTATED_KEY = "graph-webhook-key-rotated"
RESOURCE = "security/alerts?$filter=status ne 'unknown'"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class Bridge:
    stack: LocalStack
    sim: GraphSimulator
    host: DevHost
    tenant: str
    env: dict[str, str]

    @property
    def notification_url(self) -> str:
        return self.host.url("webhooks/notifications")

    def state(self) -> SubscriptionState:
        container = blob_service(self.stack.settings(**self.env)).get_container_client("state-webhooks")
        return SubscriptionStore(container).load()[0]

    def record(self):
        (record,) = self.state().records.values()
        return record

    def upkeep(self) -> None:
        self.host.run_timer("subscription_upkeep")

    def settle(self) -> None:
        assert self.sim.wait_for_deliveries(20), "the simulator still has notifications to deliver"
        assert self.host.drain(60), "the queue processor did not finish"

    def exported_alert_ids(self) -> set[str]:
        container = blob_service(self.stack.settings(**self.env)).get_container_client("exp-webhooks")
        contents = read_export(container, "alerts", self.tenant)
        assert contents.duplicates == []
        return {r["id"] for r in contents.records}

    def alert_list_calls(self) -> int:
        """First pages of alert exports (a run starts with a filtered GET of alerts_v2)."""
        return sum(1 for r in self.sim.request_log
                   if r.method == "GET" and r.path.endswith("/security/alerts_v2") and "filter=" in r.query)

    def processor_runs(self) -> int:
        return sum(1 for i in list(self.host.invocations) if i.function_name == "webhook_processor")

    def post(self, body: object, *, url: str | None = None, key: str = WEBHOOK_KEY, **kwargs) -> requests.Response:
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        return requests.post(url or self.notification_url, params={"code": key}, data=data,
                             headers={"Content-Type": "application/json"}, timeout=10, **kwargs)


@pytest.fixture(scope="module")
def bridge() -> Iterator[Bridge]:
    with LocalStack(SimConfig(alerts=300, throttle=False, seed=21)) as stack:
        assert stack.sim is not None
        port = free_port()
        env = {
            "EXPORT_CONTAINER": "exp-webhooks", "STATE_CONTAINER": "state-webhooks",
            "AUDIT_CONTAINER": "audit-webhooks", "EXPORT_STREAMS": "alerts,incidents",
            "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "100000", "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "1000",
            "WEBHOOKS_ENABLED": "true", "WEBHOOK_BASE_URL": f"http://127.0.0.1:{port}",
            "WEBHOOK_FUNCTION_KEY": WEBHOOK_KEY, "WEBHOOK_QUEUE": "graph-notifications",
            "WEBHOOK_SUBSCRIPTIONS": json.dumps([{"resource": RESOURCE, "changeType": "created,updated",
                                                  "streams": ["alerts", "incidents"]}]),
        }
        full_env = stack.env(**env)
        with DevHost(function_app.app, full_env, {"graph": WEBHOOK_KEY, "rotated": ROTATED_KEY}, port=port,
                     visibility_timeout_override=1) as host:
            bridge = Bridge(stack, stack.sim, host, stack.sim.tenants[0], env)
            # The live export has run once (the timers' job), so notifications only add what changed.
            for stream in ("alerts", "incidents"):
                response = requests.post(host.url(f"export/{stream}"), params={"code": WEBHOOK_KEY}, timeout=120)
                assert response.status_code == 200, response.text
            bridge.upkeep()
            yield bridge
            assert host.errors == [], [e.traceback for e in host.errors]


def test_upkeep_creates_the_subscription_through_the_validation_handshake(bridge: Bridge):
    record = bridge.record()
    (live,) = [s for s in bridge.sim.subscriptions(bridge.tenant) if s["id"] == record.subscription_id]
    assert live["resource"] == RESOURCE and live["changeType"] == "created,updated"
    assert live["clientState"] == record.client_state and 32 <= len(record.client_state) <= 128
    assert live["notificationUrl"] == f"{bridge.notification_url}?code={WEBHOOK_KEY}"
    assert live["lifecycleNotificationUrl"] == f"{bridge.host.url('webhooks/lifecycle')}?code={WEBHOOK_KEY}"
    handshakes = [d for d in bridge.sim.deliveries if d.kind == "validation"]
    assert {d.url for d in handshakes if d.ok} >= {bridge.notification_url, bridge.host.url("webhooks/lifecycle")}
    # The status endpoint shows the subscription but never its secret.
    status = requests.get(bridge.host.url("webhooks/subscriptions"), params={"code": WEBHOOK_KEY}, timeout=10)
    assert status.status_code == 200 and record.client_state not in status.text
    (shown,) = status.json()["subscriptions"]
    assert shown["subscriptionId"] == record.subscription_id and shown["streams"] == ["alerts", "incidents"]


def test_a_change_in_graph_is_exported_through_the_notification(bridge: Bridge):
    bridge.settle()
    calls_before = bridge.alert_list_calls()
    new_ids = bridge.sim.add_alerts(bridge.tenant, 3)
    bridge.settle()
    delivered = [d for d in bridge.sim.deliveries if d.kind == "notification" and d.ok]
    assert delivered and delivered[-1].items >= 3
    assert set(new_ids) <= bridge.exported_alert_ids()
    assert bridge.alert_list_calls() == calls_before + 1  # one POST of 3 notifications: one export


def test_a_burst_of_separate_deliveries_is_coalesced_into_few_exports(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    new_ids = bridge.sim.add_alerts(bridge.tenant, 1)
    bridge.settle()
    calls_before, runs_before = bridge.alert_list_calls(), bridge.processor_runs()
    body = {"value": [{"subscriptionId": record.subscription_id, "clientState": record.client_state,
                       "tenantId": bridge.tenant, "changeType": "updated", "resource": f"security/alerts/{i}",
                       "subscriptionExpirationDateTime": record.expires_at} for i in new_ids]}
    with ThreadPoolExecutor(10) as pool:  # 40 deliveries, as Graph sends them: separate POSTs
        answers = list(pool.map(lambda _: bridge.post(body).status_code, range(40)))
    assert answers == [202] * 40
    bridge.settle()
    assert bridge.processor_runs() - runs_before == 40
    assert bridge.alert_list_calls() - calls_before <= 8  # 40 queue messages, a few exports (timing decides how few)


def test_a_wrong_client_state_or_unknown_subscription_is_dropped(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    runs_before = bridge.processor_runs()
    forged = [
        {"subscriptionId": record.subscription_id, "clientState": record.client_state + "x",
         "tenantId": bridge.tenant, "changeType": "created", "resource": "security/alerts/1"},
        {"subscriptionId": record.subscription_id, "clientState": record.client_state,
         "tenantId": "00000000-0000-0000-0000-000000000001", "changeType": "created"},
        {"subscriptionId": "5c9a0f7e-0000-4000-8000-000000000000", "clientState": record.client_state,
         "tenantId": bridge.tenant, "changeType": "created"},
        {"subscriptionId": record.subscription_id, "tenantId": bridge.tenant, "changeType": "created"},
        "not an object",
    ]
    assert bridge.post({"value": forged}).status_code == 202  # Graph must not retry; nothing is queued
    bridge.settle()
    assert bridge.processor_runs() == runs_before


def test_duplicate_notifications_export_each_version_once(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    (changed,) = bridge.sim.update_alerts(bridge.tenant, count=1)
    item = {"subscriptionId": record.subscription_id, "clientState": record.client_state, "tenantId": bridge.tenant,
            "changeType": "updated", "resource": f"security/alerts/{changed}"}
    assert bridge.post({"value": [item, item, item]}).status_code == 202
    assert bridge.post({"value": [item]}).status_code == 202
    bridge.settle()
    assert changed in bridge.exported_alert_ids()  # and exported_alert_ids() asserts no (id, version) twice


def test_reauthorization_required_leads_to_a_renewed_subscription(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    bridge.sim.send_lifecycle(record.subscription_id, "reauthorizationRequired")
    bridge.settle()
    (live,) = [s for s in bridge.sim.subscriptions(bridge.tenant) if s["id"] == record.subscription_id]
    assert live["needsReauthorization"] is False and live["renewals"] >= 1
    assert bridge.record().renewed_at != record.renewed_at
    # Notifications flow again.
    new_ids = bridge.sim.add_alerts(bridge.tenant, 2)
    bridge.settle()
    assert set(new_ids) <= bridge.exported_alert_ids()


def test_an_expired_subscription_is_recreated_by_the_upkeep_timer(bridge: Bridge):
    bridge.settle()
    old = bridge.record()
    bridge.sim.expire_subscription(old.subscription_id)
    bridge.upkeep()
    new = bridge.record()
    assert new.subscription_id != old.subscription_id and new.client_state != old.client_state
    assert [s["id"] for s in bridge.sim.subscriptions(bridge.tenant)] == [new.subscription_id]
    new_ids = bridge.sim.add_alerts(bridge.tenant, 2)
    bridge.settle()
    assert set(new_ids) <= bridge.exported_alert_ids()


def test_subscription_removed_recreates_it_and_catches_up(bridge: Bridge):
    bridge.settle()
    old = bridge.record()
    calls_before = bridge.alert_list_calls()
    bridge.sim.send_lifecycle(old.subscription_id, "subscriptionRemoved")
    bridge.settle()
    new = bridge.record()
    assert new.subscription_id != old.subscription_id
    assert [s["id"] for s in bridge.sim.subscriptions(bridge.tenant)] == [new.subscription_id]
    assert bridge.alert_list_calls() == calls_before + 1  # the catch-up export


def test_missed_runs_a_catch_up_export(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    calls_before = bridge.alert_list_calls()
    bridge.sim.send_lifecycle(record.subscription_id, "missed")
    bridge.settle()
    assert bridge.alert_list_calls() == calls_before + 1
    assert bridge.record().subscription_id == record.subscription_id


def test_upkeep_deletes_strays_and_keeps_what_is_current(bridge: Bridge):
    bridge.settle()
    record = bridge.record()
    # A subscription of ours that the state does not know (a create whose answer was lost).
    from shared.graph.client import GraphClient

    client = GraphClient(bridge.stack.settings(**bridge.env), bridge.tenant)
    stray = client.request("POST", "/subscriptions", json_body={
        "changeType": "created", "resource": "security/alerts?$filter=severity eq 'high'",
        "notificationUrl": f"{bridge.notification_url}?code={WEBHOOK_KEY}",
        "expirationDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
        "clientState": "stray"}).body
    bridge.upkeep()
    assert [s["id"] for s in bridge.sim.subscriptions(bridge.tenant)] == [record.subscription_id]
    assert stray["id"] != record.subscription_id


def test_turning_webhooks_off_removes_the_subscriptions_at_the_next_upkeep(bridge: Bridge):
    from shared.webhooks.upkeep import SubscriptionManager

    bridge.settle()
    off = SubscriptionManager(bridge.stack.settings(**{**bridge.env, "WEBHOOKS_ENABLED": "false"}))
    summary = off.reconcile()
    assert summary.deleted == 1 and summary.failed == []
    assert bridge.sim.subscriptions(bridge.tenant) == [] and bridge.state().records == {}
    bridge.upkeep()  # on again, for the other tests of this module
    assert len(bridge.sim.subscriptions(bridge.tenant)) == 1


def test_a_rotated_function_key_recreates_the_subscription_with_the_new_url(bridge: Bridge):
    from shared.webhooks.upkeep import SubscriptionManager

    bridge.settle()
    old = bridge.record()
    rotated = SubscriptionManager(bridge.stack.settings(**{**bridge.env, "WEBHOOK_FUNCTION_KEY": ROTATED_KEY}))
    summary = rotated.reconcile()
    assert summary.recreated == 1 and summary.deleted == 0 and summary.failed == []
    (live,) = bridge.sim.subscriptions(bridge.tenant)
    assert live["id"] != old.subscription_id and live["notificationUrl"].endswith(f"code={ROTATED_KEY}")
    assert rotated.reconcile().unchanged == 1  # stable once current
    bridge.upkeep()  # back to the module's key
    (live,) = bridge.sim.subscriptions(bridge.tenant)
    assert live["notificationUrl"].endswith(f"code={WEBHOOK_KEY}")


def test_a_failed_recreate_keeps_the_working_subscription(bridge: Bridge):
    from shared.webhooks.upkeep import SubscriptionManager

    bridge.settle()
    old = bridge.record()
    manager = SubscriptionManager(bridge.stack.settings(**bridge.env))
    bridge.sim.set_faults(fail_next=[403], path="/subscriptions")
    try:
        with pytest.raises(Exception, match="403"):
            manager.recreate(old.key)
    finally:
        bridge.sim.clear_faults()
    kept = bridge.record()
    assert (kept.subscription_id, kept.client_state) == (old.subscription_id, old.client_state)
    assert kept.pending_client_state is None
    new_ids = bridge.sim.add_alerts(bridge.tenant, 2)  # and its notifications are still trusted
    bridge.settle()
    assert set(new_ids) <= bridge.exported_alert_ids()


def test_overlapping_creates_leave_one_subscription_whose_secret_matches(bridge: Bridge):
    from shared.webhooks.upkeep import SubscriptionManager

    bridge.settle()
    key = bridge.record().key
    managers = [SubscriptionManager(bridge.stack.settings(**bridge.env)) for _ in range(3)]
    with ThreadPoolExecutor(3) as pool:
        list(pool.map(lambda m: m.recreate(key), managers))
    record = bridge.record()
    (live,) = bridge.sim.subscriptions(bridge.tenant)
    assert (live["id"], live["clientState"]) == (record.subscription_id, record.client_state)
    new_ids = bridge.sim.add_alerts(bridge.tenant, 1)
    bridge.settle()
    assert set(new_ids) <= bridge.exported_alert_ids()


def test_a_new_base_url_replaces_the_subscription_and_deletes_the_old_one(bridge: Bridge):
    from shared.webhooks.upkeep import SubscriptionManager

    bridge.settle()
    old = bridge.record()
    port = bridge.env["WEBHOOK_BASE_URL"].rsplit(":", 1)[1]
    moved = SubscriptionManager(bridge.stack.settings(**{**bridge.env,
                                                         "WEBHOOK_BASE_URL": f"http://localhost:{port}"}))
    assert moved.reconcile().recreated == 1
    (live,) = bridge.sim.subscriptions(bridge.tenant)
    assert live["id"] != old.subscription_id and live["notificationUrl"].startswith("http://localhost:")
    bridge.upkeep()  # back to the module's URL; the localhost one goes
    (live,) = bridge.sim.subscriptions(bridge.tenant)
    assert live["notificationUrl"].startswith("http://127.0.0.1:")


def test_secrets_never_reach_the_logs(bridge: Bridge, caplog):
    caplog.set_level("DEBUG")
    bridge.settle()
    record = bridge.record()
    bridge.sim.send_lifecycle(record.subscription_id, "reauthorizationRequired")
    bridge.upkeep()
    bridge.post({"value": [{"subscriptionId": record.subscription_id, "clientState": "wrong",
                            "tenantId": bridge.tenant}]})
    bridge.settle()
    # urllib3 logs the URLs that the simulator (standing in for Graph) and this test call; the app's own loggers
    # (and the Azure SDKs it drives) are what runs in Azure.
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("urllib3"))
    assert "subscription upkeep" in ours and "Dropped" in ours
    assert record.client_state not in ours
    assert WEBHOOK_KEY not in ours


def test_a_message_that_cannot_be_processed_lands_in_the_poison_queue(bridge: Bridge, caplog):
    from azure.storage.queue import QueueClient

    bridge.settle()
    connection = bridge.stack.env()["BRIDGE_STORAGE"]
    poison = QueueClient.from_connection_string(connection, "graph-notifications-poison")
    queue = QueueClient.from_connection_string(connection, "graph-notifications")
    before = poison.get_queue_properties().approximate_message_count if _exists(poison) else 0
    queue.send_message(base64_text('{"kind": "change", "tenant": "not-ours", "streams": ["alerts"]}'))
    caplog.set_level("ERROR", logger="graph_security_bridge.webhooks")
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not (_exists(poison) and
                                               poison.get_queue_properties().approximate_message_count > before):
        time.sleep(0.2)
    assert poison.get_queue_properties().approximate_message_count == before + 1
    attempts = [i for i in list(bridge.host.invocations) if i.function_name == "webhook_processor" and not i.ok]
    assert [i.dequeue_count for i in attempts[-5:]] == [1, 2, 3, 4, 5]
    assert "is not in GRAPH_TENANT_IDS" in caplog.text and "moves to the poison queue" in caplog.text
    bridge.host.errors.clear()  # the five failures were the point of this test


def _exists(queue) -> bool:
    from azure.core.exceptions import ResourceNotFoundError

    try:
        queue.get_queue_properties()
        return True
    except ResourceNotFoundError:
        return False


def base64_text(text: str) -> str:
    import base64

    return base64.b64encode(text.encode()).decode()


# --- the endpoint's own answers


@pytest.mark.parametrize("token", [
    "Validation: Testing client application reachability for subscription Request-Id: 1f3a",
    "<script>alert('x')</script>&amp;<b>bold</b>",
])
@pytest.mark.parametrize("route", ["webhooks/notifications", "webhooks/lifecycle"])
def test_the_validation_token_is_echoed_as_plain_text(bridge: Bridge, route: str, token: str):
    response = requests.post(bridge.host.url(route), params={"code": WEBHOOK_KEY, "validationToken": token},
                             headers={"Content-Type": "text/plain; charset=utf-8"}, timeout=10)
    assert response.status_code == 200 and response.text == token
    assert response.headers["Content-Type"].startswith("text/plain")
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_handshake_with_markup_succeeds_against_the_simulator(bridge: Bridge, tls):
    with GraphSimulator(SimConfig(alerts=5, throttle=False, validation_token_suffix=" <b>&</b>"), tls=tls) as sim:
        from shared.graph.client import GraphClient
        from shared.settings import load_settings

        settings = load_settings(bridge.stack.env(**bridge.env) | {
            "GRAPH_TENANT_IDS": sim.tenants[0], "GRAPH_ENDPOINT": sim.base_url, "GRAPH_AUTHORITY_HOST": sim.base_url,
            "GRAPH_CLIENT_ID": sim.client_id, "GRAPH_CLIENT_SECRET": sim.client_secret})
        created = GraphClient(settings, sim.tenants[0]).request("POST", "/subscriptions", json_body={
            "changeType": "created", "resource": "security/alerts?$filter=severity eq 'high'",
            "notificationUrl": f"{bridge.notification_url}?code={WEBHOOK_KEY}",
            "expirationDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600)),
            "clientState": "x"})
        assert created.status == 201


# Short ids: a test id lands in PYTEST_CURRENT_TEST, and a megabyte there makes starting Azurite fail (E2BIG).
@pytest.mark.parametrize(("body", "status"), [
    pytest.param(b"{not json", 400, id="not-json"),
    pytest.param(b'{"value": "nope"}', 400, id="value-not-a-list"),
    pytest.param(b"[]", 400, id="not-an-object"),
    pytest.param(b"\xff\xfe", 400, id="not-utf8"),
    pytest.param(b'{"value": [' + b'{"a": "' + b"x" * 1_100_000 + b'"}]}', 413, id="over-1MB"),
])
def test_malformed_or_oversized_bodies_are_refused(bridge: Bridge, body: bytes, status: int):
    runs_before = bridge.processor_runs()
    response = bridge.post(body)
    assert response.status_code == status
    assert response.headers["Content-Type"] == "application/problem+json"
    assert response.json()["status"] == status
    bridge.settle()
    assert bridge.processor_runs() == runs_before


def test_without_the_function_key_nothing_is_accepted(bridge: Bridge):
    response = bridge.post({"value": []}, key="wrong")
    assert response.status_code == 401
