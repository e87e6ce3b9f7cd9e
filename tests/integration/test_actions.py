"""The actions over HTTP, end to end: the app served by the dev host, the real Graph simulator and real Azurite.

Every endpoint: success, validation errors, mapped Graph errors, idempotent retries, bulk partial failure; what
lands in Graph (the simulator's items and request log) and in the audit trail is checked, not just the answers.
Each test works on its own alerts, incidents and users, so tests run in any order.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
import requests
from azure.storage.blob import BlobServiceClient

import function_app
from local.devhost import DevHost
from local.graphsim import GraphSimulator, SimConfig
from local.stack import LocalStack
from shared.actions.caller import key_fingerprint

AUDIT = "audit-actions-it"


@dataclass
class Api:
    host: DevHost
    sim: GraphSimulator
    stack: LocalStack
    session: requests.Session
    tenant: str

    def call(self, method: str, path: str, body=None, *, headers=None, key=True, raw: bytes | None = None,
             params=None) -> requests.Response:
        sent = {"x-functions-key": self.host.key} if key else {}
        sent.update(headers or {})
        if raw is not None:
            return self.session.request(method, self.host.url(path), data=raw, headers=sent, params=params,
                                        timeout=60)
        return self.session.request(method, self.host.url(path), json=body, headers=sent, params=params, timeout=60)

    def item(self, resource: str, item_id: str) -> dict:
        return next(i for i in self.sim.items(self.tenant, resource) if i["id"] == item_id)

    def audit_lines(self) -> list[dict]:
        service = BlobServiceClient.from_connection_string(self.stack.azurite.connection_string)
        container = service.get_container_client(AUDIT)
        if not container.exists():  # nothing audited yet
            return []
        lines = []
        for blob in container.list_blobs(name_starts_with="audit/"):
            data = container.download_blob(blob.name).readall().decode()
            lines += [json.loads(line) for line in data.splitlines() if line]
        return lines

    def graph_requests(self, method: str, suffix: str, since: int = 0) -> list:
        return [r for r in self.sim.request_log[since:] if r.method == method and r.path.endswith(suffix)]


@pytest.fixture(scope="module")
def api() -> Iterator[Api]:
    with LocalStack(SimConfig(alerts=400, throttle=False, seed=11)) as stack:
        assert stack.sim is not None
        env = stack.env(
            AUDIT_CONTAINER=AUDIT, GRAPH_SECURITY_REQUESTS_PER_MINUTE="100000",
            GRAPH_IDENTITY_REQUESTS_PER_SECOND="1000", GRAPH_MAX_RETRY_WAIT_SECONDS="2",
        )
        with DevHost(function_app.app, env) as host, requests.Session() as session:
            yield Api(host, stack.sim, stack, session, stack.sim.tenants[0])
            assert host.errors == [], [e.traceback for e in host.errors]


@pytest.fixture(scope="module")
def alert_pool(api: Api) -> list[str]:
    """The simulator's alert ids in a stable order; tests take slices of it and never share an alert."""
    return sorted(a["id"] for a in api.sim.alerts(api.tenant))


@pytest.fixture
def alerts(alert_pool: list[str]):
    def take(n: int) -> list[str]:
        chosen = alert_pool[:n]
        del alert_pool[:n]
        assert len(chosen) == n, "the simulator has too few alerts for the tests"
        return chosen

    return take


def incident_id(api: Api, index: int) -> str:
    return api.sim.items(api.tenant, "incidents")[index]["id"]


# --- GET


def test_get_alert_and_incident(api, alerts):
    (alert_id,) = alerts(1)
    response = api.call("GET", f"alerts/{alert_id}")
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/json"
    assert response.json()["id"] == alert_id and "evidence" in response.json()
    incident = incident_id(api, 0)
    response = api.call("GET", f"incidents/{incident}")
    assert response.status_code == 200 and response.json()["id"] == incident


def test_not_found_stays_404_with_graph_request_id(api):
    response = api.call("GET", "alerts/da000000000000000000_1")
    body = response.json()
    assert response.status_code == 404 and response.headers["Content-Type"] == "application/problem+json"
    assert body["graphRequestId"] and body["graphRequestId"] in body["detail"]
    assert api.call("PATCH", "incidents/999999999", {"status": "resolved"}).status_code == 404


@pytest.mark.parametrize("bad", ["a..b", "a%2Fb", "a%20b", "a%00b", "a%3Fb", "%E2%80%AE", "x" * 201])
def test_bad_ids_never_reach_graph(api, bad):
    before = len(api.sim.request_log)
    response = api.call("GET", f"alerts/{bad}")
    assert response.status_code == 400 and response.json()["title"] == "Invalid alert id"
    assert len(api.sim.request_log) == before


def test_function_key_is_required(api, alerts):
    (alert_id,) = alerts(1)
    assert api.call("GET", f"alerts/{alert_id}", key=False).status_code == 401
    assert api.call("GET", f"alerts/{alert_id}", key=False, headers={"x-functions-key": "wrong"}).status_code == 401
    assert api.call("GET", f"alerts/{alert_id}", key=False, params={"code": api.host.key}).status_code == 200


def test_unknown_tenant_is_refused(api, alerts):
    (alert_id,) = alerts(1)
    response = api.call("GET", f"alerts/{alert_id}", params={"tenant": "33333333-3333-4333-8333-333333333333"})
    assert response.status_code == 400 and response.json()["title"] == "Unknown tenant"


def test_403_names_the_missing_permission(api, alerts):
    (alert_id,) = alerts(1)
    api.sim.set_faults(fail_next=[403], path="/alerts_v2/")
    try:
        read = api.call("GET", f"alerts/{alert_id}").json()
        api.sim.set_faults(fail_next=[403], path="/alerts_v2/")
        write = api.call("PATCH", f"alerts/{alert_id}", {"status": "resolved"}).json()
        api.sim.set_faults(fail_next=[403], path="/identityProtection/")
        risky = api.call("POST", "risky-users/dismiss", {"userIds": ["29f270bb-4d23-4f68-8a57-dc73dc0d4caf"]})
    finally:
        api.sim.clear_faults()
    assert read["status"] == 403 and "SecurityAlert.Read.All" in read["detail"] and read["graphRequestId"]
    assert write["requiredPermission"] == "SecurityAlert.ReadWrite.All"
    assert risky.status_code == 403 and risky.json()["results"][0]["status"] == 403
    assert "IdentityRiskyUser.ReadWrite.All" in risky.json()["detail"]


def test_429_passes_retry_after_on(api, alerts):
    (alert_id,) = alerts(1)
    # Graph's Retry-After also holds back the app's own pacer for that long: a host with its own rate budget keeps
    # that hold away from the other tests.
    env = {**api.host.env, "GRAPH_SECURITY_REQUESTS_PER_MINUTE": "99999"}
    api.sim.set_faults(fail_next=[429], retry_after=30, path="/alerts_v2/")
    try:
        with DevHost(function_app.app, env) as other:
            response = requests.get(other.url(f"alerts/{alert_id}"), headers={"x-functions-key": other.key},
                                    timeout=60)
    finally:
        api.sim.clear_faults()
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert response.json()["graphRequestId"] and "30 seconds" in response.json()["detail"]


def test_graph_outage_is_a_gateway_error(api, alerts):
    (alert_id,) = alerts(1)
    api.sim.set_faults(error_rate={500: 1.0}, path="/alerts_v2/", times=20)
    try:
        response = api.call("GET", f"alerts/{alert_id}", params=None)
    finally:
        api.sim.clear_faults()
    assert response.status_code == 502 and response.json()["graphStatus"] == 500


def test_graph_refusing_the_apps_token_is_a_gateway_error(make_sim, azurite):
    # A simulator of its own: expiring its tokens must not disturb the module's host.
    sim = make_sim(alerts=5)
    alert_id = sim.alerts(sim.tenants[0])[0]["id"]
    env = {
        "GRAPH_TENANT_IDS": sim.tenants[0], "GRAPH_AUTH_MODE": "client_secret", "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret, "GRAPH_ENDPOINT": sim.base_url, "GRAPH_AUTHORITY_HOST": sim.base_url,
        "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true", "BRIDGE_STORAGE": azurite.connection_string,
        "AUDIT_CONTAINER": AUDIT,
    }
    with DevHost(function_app.app, env) as other:
        headers = {"x-functions-key": other.key}
        assert requests.get(other.url(f"alerts/{alert_id}"), headers=headers, timeout=60).status_code == 200
        sim.expire_tokens()  # a token Graph no longer accepts is replaced once, and the call goes through
        assert requests.get(other.url(f"alerts/{alert_id}"), headers=headers, timeout=60).status_code == 200
        sim.set_faults(fail_next=[401, 401], path="alerts_v2")  # Graph refuses the new token too
        response = requests.get(other.url(f"alerts/{alert_id}"), headers=headers, timeout=60)
    assert response.status_code == 502 and response.json()["graphStatus"] == 401
    assert "GRAPH_CLIENT_ID" in response.json()["detail"]


def test_with_platform_authentication_on_the_audit_names_the_principal(make_sim, azurite):
    sim = make_sim(alerts=5)
    alert_id = sim.alerts(sim.tenants[0])[0]["id"]
    env = {
        "GRAPH_TENANT_IDS": sim.tenants[0], "GRAPH_AUTH_MODE": "client_secret", "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret, "GRAPH_ENDPOINT": sim.base_url, "GRAPH_AUTHORITY_HOST": sim.base_url,
        "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true", "BRIDGE_STORAGE": azurite.connection_string,
        "AUDIT_CONTAINER": "audit-easy-auth", "WEBSITE_AUTH_ENABLED": "True",  # what App Service sets then
    }
    with DevHost(function_app.app, env) as other:
        response = requests.patch(other.url(f"alerts/{alert_id}"), json={"status": "inProgress"}, timeout=60, headers={
            "x-functions-key": other.key, "x-ms-client-principal-name": "analyst@contoso.com",
            "x-ms-client-principal-id": "oid-1", "X-Forwarded-For": "10.66.66.66, 203.0.113.9"})
    assert response.status_code == 200
    container = BlobServiceClient.from_connection_string(azurite.connection_string).get_container_client(
        "audit-easy-auth")
    lines = [json.loads(line) for blob in container.list_blobs(name_starts_with="audit/")
             for line in container.download_blob(blob.name).readall().decode().splitlines() if line]
    (line,) = [entry for entry in lines if entry["target"]["id"] == alert_id]
    assert line["caller"]["principalName"] == "analyst@contoso.com" and line["caller"]["authentication"] == "entra"
    assert line["caller"]["clientIp"] == "203.0.113.9"  # the hop the front end appended, not the client's claim


# --- PATCH


def test_update_alert_changes_graph_and_is_audited(api, alerts):
    (alert_id,) = alerts(1)
    before = api.item("alerts", alert_id)
    change = {"status": "resolved", "classification": "truePositive", "determination": "malware",
              "assignedTo": "secops@contoso.com"}
    headers = {"x-ms-client-principal-name": "analyst@contoso.com", "x-ms-client-principal-id": "oid-1",
               "x-ms-workflow-name": "triage-playbook"}
    response = api.call("PATCH", f"alerts/{alert_id}", change, headers=headers)
    assert response.status_code == 200
    assert {k: response.json()[k] for k in change} == change
    assert {k: api.item("alerts", alert_id)[k] for k in change} == change
    (line,) = [entry for entry in api.audit_lines() if entry["target"]["id"] == alert_id]
    assert line["operation"] == "UpdateAlert" and line["tenant"] == api.tenant
    # Without the platform's authentication (WEBSITE_AUTH_ENABLED) the principal headers are the caller's word:
    # the audit names the function key, not the claimed analyst.
    assert "principalName" not in line["caller"] and line["caller"]["authentication"] == "functionKey"
    assert line["caller"]["functionKeySha256"] == key_fingerprint(api.host.key)
    assert line["caller"]["logicApp"] == {"name": "triage-playbook"}
    assert line["after"] == {k: change[k] for k in line["sent"]}
    assert line["before"] == {k: before[k] for k in line["sent"]}
    assert line["graphRequestId"]


def test_repeated_patch_has_the_same_effect_and_one_audit_line(api, alerts):
    (alert_id,) = alerts(1)
    change = {"status": "inProgress", "classification": "falsePositive", "determination": "notMalicious"}
    first = api.call("PATCH", f"alerts/{alert_id}", change)
    since = len(api.sim.request_log)
    second = api.call("PATCH", f"alerts/{alert_id}", change)
    assert first.status_code == second.status_code == 200
    assert {k: second.json()[k] for k in change} == change
    assert api.graph_requests("PATCH", alert_id, since) == []  # nothing left to change
    assert len([e for e in api.audit_lines() if e["target"]["id"] == alert_id]) == 1


def test_unassign_with_null(api, alerts):
    (alert_id,) = alerts(1)
    api.call("PATCH", f"alerts/{alert_id}", {"assignedTo": "someone@contoso.com"})
    response = api.call("PATCH", f"alerts/{alert_id}", {"assignedTo": None})
    assert response.status_code == 200 and response.json()["assignedTo"] is None


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"status": "closed"}, 400, "allowed: new, inProgress, resolved"),
    ({"classification": "falsePositive", "determination": "malware"}, 400, "with falsePositive use one of"),
    ({"determination": "malware"}, 400, "send both"),
    ({"classification": "truePositive", "determination": "apt"}, 400, "deprecated"),
    ({"status": "new", "severity": "high"}, 400, "unknown field"),
    ({}, 400, "at least one"),
    ({"assignedTo": "x" * 300}, 400, "at most 256"),
])
def test_update_validation_errors(api, alerts, body, status, words):
    (alert_id,) = alerts(1)
    since = len(api.sim.request_log)
    response = api.call("PATCH", f"alerts/{alert_id}", body)
    assert response.status_code == status and words in response.json()["detail"]
    assert response.headers["Content-Type"] == "application/problem+json"
    assert api.sim.request_log[since:] == []


@pytest.mark.parametrize(("raw", "content_type", "status"), [
    (b'{"status": "new"}', "text/plain", 415),
    (b'{"status": "new"}', None, 415),
    (b'{"status": ', "application/json", 400),
    (b'["new"]', "application/json", 400),
    (b'{"status": "new", "assignedTo": "' + b"x" * 20_000 + b'"}', "application/json", 413),
])
def test_body_checks(api, alerts, raw, content_type, status):
    (alert_id,) = alerts(1)
    headers = {"Content-Type": content_type} if content_type else {}
    response = api.call("PATCH", f"alerts/{alert_id}", raw=raw, headers=headers)
    assert response.status_code == status, response.text


def test_update_incident_tags_and_status(api):
    incident = incident_id(api, 1)
    response = api.call("PATCH", f"incidents/{incident}", {
        "status": "awaitingAction", "customTags": ["phishing-wave", "vip"], "classification": "truePositive",
        "determination": "phishing",
    })
    assert response.status_code == 200
    stored = api.item("incidents", incident)
    assert stored["customTags"] == ["phishing-wave", "vip"] and stored["status"] == "awaitingAction"
    assert stored["determination"] == "phishing"
    assert api.call("PATCH", f"incidents/{incident}", {"status": "redirected"}).status_code == 400


# --- comments


def test_comment_with_idempotency_key_is_added_once(api, alerts):
    (alert_id,) = alerts(1)
    headers = {"Idempotency-Key": "run-1:alert-comment"}
    first = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Isolated the device."}, headers=headers)
    again = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Isolated the device."}, headers=headers)
    assert first.status_code == again.status_code == 200
    assert again.headers.get("Idempotent-Replayed") == "true" and again.json() == first.json()
    texts = [c["comment"] for c in api.item("alerts", alert_id)["comments"]]
    assert texts.count("Isolated the device.") == 1
    assert len(api.graph_requests("POST", f"{alert_id}/comments")) == 1
    other = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Something else"}, headers=headers)
    assert other.status_code == 422
    audited = [e for e in api.audit_lines() if e["target"]["id"] == alert_id]
    assert len(audited) == 1 and audited[0]["idempotencyKey"] == "run-1:alert-comment"


def test_a_damaged_idempotency_record_refuses_the_comment_and_stays(api, alerts):
    from shared.actions.idempotency import record_name
    from shared.settings import load_settings

    (alert_id,) = alerts(1)
    state = BlobServiceClient.from_connection_string(api.stack.azurite.connection_string).get_container_client(
        load_settings(api.host.env).state_container)
    name = record_name(api.tenant, f"AddAlertComment:{alert_id}", "damaged-record")
    state.upload_blob(name, b'{"state": "pen', overwrite=True)  # cut short
    headers = {"Idempotency-Key": "damaged-record"}
    response = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Checked."}, headers=headers)
    assert response.status_code == 409 and response.json()["title"] == "Idempotency-Key record damaged"
    assert "Retry-After" not in response.headers  # retrying cannot help: the caller decides
    assert api.graph_requests("POST", f"{alert_id}/comments") == []
    assert state.get_blob_client(name).download_blob().readall() == b'{"state": "pen'


def test_audit_container_holds_only_append_blobs(api, alerts):
    # In Azure the audit container has a time-based immutability policy that allows only appends to append blobs
    # (infra/modules/storage.bicep): a blob the app overwrites or deletes there would fail. The idempotency records,
    # which are overwritten and deleted, live in the state container.
    (alert_id,) = alerts(1)
    headers = {"Idempotency-Key": "immutability:alert-comment"}
    assert api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Checked."}, headers=headers).status_code == 200
    assert api.call("PATCH", f"alerts/{alert_id}", {"status": "inProgress"}).status_code == 200
    service = BlobServiceClient.from_connection_string(api.stack.azurite.connection_string)
    audit_blobs = list(service.get_container_client(AUDIT).list_blobs())
    kinds = {b.name: str(b.blob_type) for b in audit_blobs}
    assert kinds and set(kinds.values()) == {"BlobType.APPENDBLOB"}, kinds
    assert all(b.name.startswith("audit/") for b in audit_blobs)
    from shared.settings import load_settings

    state = service.get_container_client(load_settings(api.host.env).state_container)
    assert list(state.list_blobs(name_starts_with=f"idempotency/tenant={api.tenant}/"))


def test_without_a_key_every_comment_is_added(api):
    incident = incident_id(api, 2)
    for _ in range(2):
        assert api.call("POST", f"incidents/{incident}/comments", {"comment": "Escalated."}).status_code == 200
    assert [c["comment"] for c in api.item("incidents", incident)["comments"]].count("Escalated.") == 2


def test_concurrent_retries_with_one_key_post_once(api, alerts):
    (alert_id,) = alerts(1)
    api.sim.set_faults(latency_ms=300, path=f"{alert_id}/comments")
    results: list[int] = []

    def send() -> None:
        with requests.Session() as session:
            response = session.post(api.host.url(f"alerts/{alert_id}/comments"), json={"comment": "Once."},
                                    headers={"x-functions-key": api.host.key, "Idempotency-Key": "same"}, timeout=60)
            results.append(response.status_code)

    try:
        threads = [threading.Thread(target=send) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        api.sim.clear_faults()
    assert results.count(200) >= 1 and set(results) <= {200, 409}
    assert [c["comment"] for c in api.item("alerts", alert_id)["comments"]].count("Once.") == 1


def test_retry_after_an_uncertain_failure_does_not_post_twice(api, alerts):
    (alert_id,) = alerts(1)
    # Graph adds the comment but the answer is cut short: the app cannot know whether it landed.
    api.sim.set_faults(truncate_next=1, path=f"{alert_id}/comments")
    try:
        first = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Maybe twice?"},
                         headers={"Idempotency-Key": "k-uncertain"})
    finally:
        api.sim.clear_faults()
    assert first.status_code == 502
    # Graph did add it: the answer must not claim the call failed before reaching Graph.
    assert first.json()["title"] == "Outcome unknown" and first.json()["outcomeUnknown"] is True
    assert "before it reached" not in first.json()["detail"] and "unknown" in first.json()["detail"]
    again = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Maybe twice?"},
                     headers={"Idempotency-Key": "k-uncertain"})
    assert again.status_code == 200 and again.headers.get("Idempotent-Replayed") == "true"
    assert [c["comment"] for c in api.item("alerts", alert_id)["comments"]].count("Maybe twice?") == 1


def test_a_refused_comment_can_be_retried_with_the_same_key(api, alerts):
    (alert_id,) = alerts(1)
    api.sim.set_faults(fail_next=[403], path=f"{alert_id}/comments")
    try:
        refused = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Retry me."},
                           headers={"Idempotency-Key": "k-403"})
    finally:
        api.sim.clear_faults()
    assert refused.status_code == 403 and "SecurityAlert.ReadWrite.All" in refused.json()["detail"]
    again = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "Retry me."},
                     headers={"Idempotency-Key": "k-403"})
    assert again.status_code == 200 and "Idempotent-Replayed" not in again.headers


@pytest.mark.parametrize(("body", "words"), [
    ({"comment": "x" * 1001}, "at most 1000"), ({"comment": " "}, "must not be empty"), ({}, "required"),
    ({"comment": "a", "by": "me"}, "unknown field"),
])
def test_comment_validation(api, alerts, body, words):
    (alert_id,) = alerts(1)
    response = api.call("POST", f"alerts/{alert_id}/comments", body)
    assert response.status_code == 400 and words in response.json()["detail"]
    bad_key = api.call("POST", f"alerts/{alert_id}/comments", {"comment": "ok"}, headers={"Idempotency-Key": "a b"})
    assert bad_key.status_code == 400


# --- bulk


def test_bulk_update_of_200_alerts_uses_at_most_10_batches(api, alerts):
    ids = alerts(200)
    since = len(api.sim.request_log)
    response = api.call("POST", "alerts/bulk-update", {"ids": ids, "changes": {"status": "inProgress"}})
    assert response.status_code == 200
    assert response.json()["summary"] == {"requested": 200, "updated": 200, "notFound": 0, "failed": 0,
                                          "notAttempted": 0}
    outer = [r for r in api.sim.request_log[since:] if r.path.endswith("/$batch") and not r.in_batch]
    assert len(outer) <= 10
    assert all(api.item("alerts", i)["status"] == "inProgress" for i in ids[:: 20])
    assert len({e["target"]["id"] for e in api.audit_lines() if e["operation"] == "BulkUpdateAlerts"} & set(ids)) \
        == 200


def test_bulk_partial_failure_reports_each_id(api, alerts):
    ids = alerts(30)
    refused_before = [api.item("alerts", i) for i in ids[:20]]
    missing = ["da999999999999999999_1", "da999999999999999999_2"]
    api.sim.set_faults(fail_next=[403], path="$batch")  # the first batch call is refused as a whole
    try:
        response = api.call("POST", "alerts/bulk-update", {
            "ids": [*ids, *missing], "changes": {"classification": "truePositive", "determination": "phishing"},
        })
    finally:
        api.sim.clear_faults()
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"requested": 32, "updated": 10, "notFound": 2, "failed": 20, "notAttempted": 0}
    results = {r["id"]: r for r in body["results"]}
    assert all(results[i]["result"] == "failed" and results[i]["status"] == 403 for i in ids[:20])
    assert "SecurityAlert.ReadWrite.All" in results[ids[0]]["detail"]
    assert all(results[i]["result"] == "updated" for i in ids[20:])
    assert all(results[i]["result"] == "notFound" and results[i]["status"] == 404 for i in missing)
    assert results[missing[0]]["graphRequestId"]
    assert api.item("alerts", ids[25])["determination"] == "phishing"
    assert [api.item("alerts", i) for i in ids[:20]] == refused_before  # the refused batch changed nothing


def test_bulk_where_nothing_succeeds_answers_with_the_error(api):
    response = api.call("POST", "alerts/bulk-update", {"ids": ["da0_1", "da0_2"], "changes": {"status": "new"}})
    assert response.status_code == 404 and response.json()["summary"]["notFound"] == 2


def test_bulk_validation(api):
    too_many = api.call("POST", "alerts/bulk-update", {"ids": [f"a{i}" for i in range(501)],
                                                       "changes": {"status": "new"}})
    assert too_many.status_code == 400 and "at most 500" in too_many.json()["detail"]
    bad = api.call("POST", "alerts/bulk-update", {"ids": ["ok", "../x"], "changes": {"status": "new"}})
    assert bad.status_code == 400 and "ids[1]" in bad.json()["detail"]
    no_changes = api.call("POST", "alerts/bulk-update", {"ids": ["ok"]})
    assert no_changes.status_code == 400 and "'changes'" in no_changes.json()["detail"]
    bad_pair = api.call("POST", "alerts/bulk-update", {"ids": ["ok"], "changes": {"determination": "malware"}})
    assert bad_pair.status_code == 400


# --- risky users and service principals


def test_confirm_risky_users_in_chunks_of_60(api):
    users = [u["id"] for u in api.sim.items(api.tenant, "riskyUsers")][:30]
    padding = [f"00000000-0000-4000-8000-{n:012d}" for n in range(100)]  # unknown ids: Graph ignores them
    since = len(api.sim.request_log)
    response = api.call("POST", "risky-users/confirm-compromised", {"userIds": users + padding})
    assert response.status_code == 200
    assert response.json()["summary"]["confirmedCompromised"] == 130
    assert len(api.graph_requests("POST", "/riskyUsers/confirmCompromised", since)) == 3
    assert all(api.item("riskyUsers", u)["riskState"] == "confirmedCompromised" for u in users)
    lines = [e for e in api.audit_lines() if e["operation"] == "ConfirmRiskyUsersCompromised"]
    assert {e["target"]["id"] for e in lines} >= set(users)


def test_dismiss_risky_users_and_service_principals(api):
    user = [u["id"] for u in api.sim.items(api.tenant, "riskyUsers")][35]
    response = api.call("POST", "risky-users/dismiss", {"userIds": [user.upper()]})
    assert response.status_code == 200 and response.json()["results"] == [{"id": user, "result": "dismissed"}]
    assert api.item("riskyUsers", user)["riskState"] == "dismissed"
    sps = [s["id"] for s in api.sim.items(api.tenant, "riskyServicePrincipals")]
    assert api.call("POST", "risky-service-principals/confirm-compromised",
                    {"servicePrincipalIds": sps[:2]}).status_code == 200
    assert api.item("riskyServicePrincipals", sps[0])["riskState"] == "confirmedCompromised"
    assert api.call("POST", "risky-service-principals/dismiss", {"servicePrincipalIds": sps[2:4]}).status_code == 200
    assert api.item("riskyServicePrincipals", sps[2])["riskState"] == "dismissed"


def test_risky_validation(api):
    for body in ({"userIds": ["alice@contoso.com"]}, {"userIds": []}, {"ids": ["x"]}, {"userIds": "x"}):
        assert api.call("POST", "risky-users/dismiss", body).status_code == 400
    wrong_field = api.call("POST", "risky-service-principals/dismiss", {"userIds": [
        "29f270bb-4d23-4f68-8a57-dc73dc0d4caf"]})
    assert wrong_field.status_code == 400 and "servicePrincipalIds" in wrong_field.json()["detail"]


def test_an_id_with_a_trailing_newline_is_refused_and_nothing_is_audited(api):
    # "<guid>\n" once passed validation: Graph ignored the unknown id, the user stayed as it was, and the answer
    # said confirmedCompromised and the audit recorded it.
    user = [u["id"] for u in api.sim.items(api.tenant, "riskyUsers")][-1]
    state_before = api.item("riskyUsers", user)["riskState"]
    since = len(api.sim.request_log)
    audited_before = len(api.audit_lines())
    response = api.call("POST", "risky-users/confirm-compromised", {"userIds": [user + "\n"]})
    assert response.status_code == 400 and "userIds[0]" in response.json()["detail"]
    assert api.graph_requests("POST", "/riskyUsers/confirmCompromised", since) == []
    assert len(api.audit_lines()) == audited_before
    assert api.item("riskyUsers", user)["riskState"] == state_before


# --- switched off, and the document


def test_actions_turned_off_refuse_writes_but_reads_work(api, alerts):
    (alert_id,) = alerts(1)
    before = api.item("alerts", alert_id)
    since = len(api.sim.request_log)
    env = {**api.host.env, "ACTIONS_ENABLED": "false"}
    with DevHost(function_app.app, env) as off, requests.Session() as session:
        headers = {"x-functions-key": off.key}
        write = session.patch(off.url(f"alerts/{alert_id}"), json={"status": "resolved"}, headers=headers)
        comment = session.post(off.url(f"alerts/{alert_id}/comments"), json={"comment": "x"}, headers=headers)
        read = session.get(off.url(f"alerts/{alert_id}"), headers=headers)
    assert write.status_code == comment.status_code == 403
    assert "ACTIONS_ENABLED" in write.json()["detail"] and write.headers["Content-Type"] == "application/problem+json"
    assert read.status_code == 200 and read.json()["id"] == alert_id
    assert api.item("alerts", alert_id) == before
    assert [r.method for r in api.sim.request_log[since:] if alert_id in r.path] == ["GET"]


def test_openapi_document_is_served_with_this_host(api):
    response = api.call("GET", "openapi.json")
    document = response.json()
    assert response.status_code == 200 and document["swagger"] == "2.0"
    assert document["host"] == api.host.root_url.split("//")[1] and document["basePath"] == "/api"
    assert document["schemes"] == ["http"]


def test_idempotency_records_expire_a_dead_owner_and_take_over_once(api):
    from datetime import UTC, datetime, timedelta

    from shared.actions.idempotency import IdempotencyStore
    from shared.problems import Problem
    from shared.settings import load_settings

    settings = load_settings(api.host.env)
    now = [datetime(2026, 11, 23, 12, tzinfo=UTC)]
    store = IdempotencyStore(settings, api.tenant, clock=lambda: now[0])
    first = store.claim("AddAlertComment:x", "dead-owner", "fp")
    assert not first.resumed and first.replay is None
    now[0] += timedelta(seconds=10)
    with pytest.raises(Problem) as busy:
        store.claim("AddAlertComment:x", "dead-owner", "fp")
    assert busy.value.status == 409 and busy.value.headers["Retry-After"]
    with pytest.raises(Problem) as reused:
        store.claim("AddAlertComment:x", "dead-owner", "other")
    assert reused.value.status == 422
    now[0] += timedelta(minutes=5)  # the first owner died without finishing
    taken = store.claim("AddAlertComment:x", "dead-owner", "fp")
    assert taken.resumed and taken.since == datetime(2026, 11, 23, 12, tzinfo=UTC)
    with pytest.raises(Problem):  # a second retry at the same moment does not take it over too
        store.claim("AddAlertComment:x", "dead-owner", "fp")
    store.complete(taken, 200, {"value": []})
    assert store.claim("AddAlertComment:x", "dead-owner", "fp").replay == {"status": 200, "body": {"value": []}}


# --- every endpoint against every mapped Graph error, and every body check


@dataclass(frozen=True)
class Endpoint:
    method: str
    route: str  # "{alert}" and "{incident}" are filled in per test
    body: dict | None
    graph_path: str  # where the simulator injects the fault
    permission: str  # what a 403 must name


RISKY_USER = "29f270bb-4d23-4f68-8a57-dc73dc0d4caf"
RISKY_SP = "9089a539-a539-9089-39a5-89903a5389a5"
ENDPOINTS = {
    "get-alert": Endpoint("GET", "alerts/{alert}", None, "/alerts_v2/", "SecurityAlert.Read.All"),
    "patch-alert": Endpoint("PATCH", "alerts/{alert}", {"status": "resolved"}, "/alerts_v2/",
                            "SecurityAlert.ReadWrite.All"),
    "alert-comment": Endpoint("POST", "alerts/{alert}/comments", {"comment": "Checked."}, "/alerts_v2/",
                              "SecurityAlert.ReadWrite.All"),
    "bulk": Endpoint("POST", "alerts/bulk-update", {"ids": ["{alert}"], "changes": {"status": "resolved"}}, "$batch",
                     "SecurityAlert.ReadWrite.All"),
    "get-incident": Endpoint("GET", "incidents/{incident}", None, "/incidents/", "SecurityIncident.Read.All"),
    "patch-incident": Endpoint("PATCH", "incidents/{incident}", {"status": "resolved"}, "/incidents/",
                               "SecurityIncident.ReadWrite.All"),
    "incident-comment": Endpoint("POST", "incidents/{incident}/comments", {"comment": "Checked."}, "/incidents/",
                                 "SecurityIncident.ReadWrite.All"),
    "confirm-users": Endpoint("POST", "risky-users/confirm-compromised", {"userIds": [RISKY_USER]}, "/riskyUsers/",
                              "IdentityRiskyUser.ReadWrite.All"),
    "dismiss-users": Endpoint("POST", "risky-users/dismiss", {"userIds": [RISKY_USER]}, "/riskyUsers/",
                              "IdentityRiskyUser.ReadWrite.All"),
    "confirm-sps": Endpoint("POST", "risky-service-principals/confirm-compromised", {"servicePrincipalIds": [RISKY_SP]},
                            "/riskyServicePrincipals/", "IdentityRiskyServicePrincipal.ReadWrite.All"),
    "dismiss-sps": Endpoint("POST", "risky-service-principals/dismiss", {"servicePrincipalIds": [RISKY_SP]},
                            "/riskyServicePrincipals/", "IdentityRiskyServicePrincipal.ReadWrite.All"),
}
BODY_ENDPOINTS = [name for name, e in ENDPOINTS.items() if e.body is not None]


def _fill(value, alert_id: str, incident: str):
    if isinstance(value, str):
        return value.replace("{alert}", alert_id).replace("{incident}", incident)
    if isinstance(value, list):
        return [_fill(v, alert_id, incident) for v in value]
    if isinstance(value, dict):
        return {k: _fill(v, alert_id, incident) for k, v in value.items()}
    return value


def _request(api: Api, name: str, alert_id: str) -> tuple[str, str, dict | None]:
    endpoint = ENDPOINTS[name]
    incident = incident_id(api, 5)
    return endpoint.method, _fill(endpoint.route, alert_id, incident), _fill(endpoint.body, alert_id, incident)


def _problem_of(response: requests.Response) -> dict:
    assert response.headers["Content-Type"] == "application/problem+json", response.text
    return response.json()


@pytest.mark.parametrize("name", list(ENDPOINTS))
@pytest.mark.parametrize(("graph_status", "status"), [(403, 403), (404, 404), (500, 502)])
def test_every_endpoint_maps_graphs_errors(api, alerts, name, graph_status, status):
    (alert_id,) = alerts(1)
    method, path, body = _request(api, name, alert_id)
    if graph_status == 500:  # persistent: the client's retries give up within GRAPH_MAX_RETRY_WAIT_SECONDS
        api.sim.set_faults(error_rate={500: 1.0}, path=ENDPOINTS[name].graph_path, times=20)
    else:
        api.sim.set_faults(fail_next=[graph_status], path=ENDPOINTS[name].graph_path)
    try:
        response = api.call(method, path, body)
    finally:
        api.sim.clear_faults()
    problem = _problem_of(response)
    assert response.status_code == status and problem["status"] == status
    request_id = problem.get("graphRequestId") or problem["results"][0]["graphRequestId"]
    assert request_id and request_id in problem["detail"]  # for support, in what a person reads too
    if graph_status == 403:
        assert problem["requiredPermission"] == ENDPOINTS[name].permission
        assert ENDPOINTS[name].permission in problem["detail"]


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_every_endpoint_passes_graphs_retry_after_on(api, alerts, name):
    (alert_id,) = alerts(1)
    method, path, body = _request(api, name, alert_id)
    # Graph's Retry-After also holds the app's own pacer back: a host with rate budgets of its own (a value no other
    # test uses) keeps that hold away from the rest of the module.
    n = list(ENDPOINTS).index(name)
    env = {**api.host.env, "GRAPH_SECURITY_REQUESTS_PER_MINUTE": str(90_000 + n),
           "GRAPH_IDENTITY_REQUESTS_PER_SECOND": str(900 + n)}
    api.sim.set_faults(fail_next=[429], retry_after=30, path=ENDPOINTS[name].graph_path)
    try:
        with DevHost(function_app.app, env) as other, requests.Session() as session:
            response = session.request(method, other.url(path), json=body, headers={"x-functions-key": other.key},
                                       timeout=60)
    finally:
        api.sim.clear_faults()
    problem = _problem_of(response)
    assert response.status_code == 429 and response.headers["Retry-After"] == "30"
    assert "30 seconds" in problem["detail"]
    assert problem.get("graphRequestId") or problem["results"][0]["graphRequestId"]


def _oversized(body: dict, limit: int) -> dict:
    return {**body, "pad": "x" * (limit + 1)}


@pytest.mark.parametrize("name", BODY_ENDPOINTS)
@pytest.mark.parametrize("check", ["no-content-type", "text-plain", "not-json", "not-object", "unknown-field",
                                   "too-large"])
def test_every_body_is_checked_before_graph(api, alerts, name, check):
    from shared.actions.vocabulary import MAX_BODY_BYTES, MAX_BULK_BODY_BYTES

    (alert_id,) = alerts(1)
    method, path, body = _request(api, name, alert_id)
    assert body is not None
    limit = MAX_BULK_BODY_BYTES if name == "bulk" or "-users" in name or "-sps" in name else MAX_BODY_BYTES
    raw, content_type, status = {
        "no-content-type": (json.dumps(body).encode(), None, 415),
        "text-plain": (json.dumps(body).encode(), "text/plain", 415),
        "not-json": (b'{"status": ', "application/json", 400),
        "not-object": (b"[1, 2]", "application/json", 400),
        "unknown-field": (json.dumps({**body, "severity": "high"}).encode(), "application/json", 400),
        "too-large": (json.dumps(_oversized(body, limit)).encode(), "application/json", 413),
    }[check]
    since = len(api.sim.request_log)
    response = api.call(method, path, raw=raw, headers={"Content-Type": content_type} if content_type else {})
    assert response.status_code == status, response.text
    assert _problem_of(response)["status"] == status
    if check == "unknown-field":
        assert "severity" in response.json()["detail"]
    assert api.sim.request_log[since:] == []


def test_incident_comment_with_idempotency_key_is_added_once(api):
    incident = incident_id(api, 3)
    headers = {"Idempotency-Key": "run-7:incident-comment"}
    first = api.call("POST", f"incidents/{incident}/comments", {"comment": "Contained."}, headers=headers)
    again = api.call("POST", f"incidents/{incident}/comments", {"comment": "Contained."}, headers=headers)
    assert first.status_code == again.status_code == 200 and again.json() == first.json()
    assert again.headers.get("Idempotent-Replayed") == "true"
    assert [c["comment"] for c in api.item("incidents", incident)["comments"]].count("Contained.") == 1
    assert api.call("POST", f"incidents/{incident}/comments", {"comment": "Other."}, headers=headers).status_code \
        == 422
    assert api.call("POST", f"incidents/{incident}/comments", {"comment": "x" * 1001}).status_code == 400


def test_risky_service_principals_in_chunks_of_60(api):
    sps = [s["id"] for s in api.sim.items(api.tenant, "riskyServicePrincipals")][4:8]
    padding = [f"00000000-0000-4000-8000-{n:012d}" for n in range(70)]  # unknown ids: Graph ignores them
    since = len(api.sim.request_log)
    response = api.call("POST", "risky-service-principals/dismiss", {"servicePrincipalIds": sps + padding})
    assert response.status_code == 200 and response.json()["summary"]["dismissed"] == 74
    assert len(api.graph_requests("POST", "/riskyServicePrincipals/dismiss", since)) == 2
    assert all(api.item("riskyServicePrincipals", s)["riskState"] == "dismissed" for s in sps)
    lines = [e for e in api.audit_lines() if e["operation"] == "DismissRiskyServicePrincipals"]
    assert {e["target"]["id"] for e in lines} >= set(sps)


def test_too_many_ids_are_refused_for_every_list(api):
    ids = [f"00000000-0000-4000-8000-{n:012d}" for n in range(501)]
    for path, body in (("risky-users/dismiss", {"userIds": ids}),
                       ("risky-service-principals/confirm-compromised", {"servicePrincipalIds": ids}),
                       ("alerts/bulk-update", {"ids": ids, "changes": {"status": "new"}})):
        response = api.call("POST", path, body)
        assert response.status_code == 400 and "at most 500" in response.json()["detail"], path


def test_bulk_reports_graphs_own_throttling_per_id(make_sim, azurite):
    # Graph throttles a $batch's inner requests one by one. With Graph's real window and an app told it may send
    # far more, 160 alerts overflow the 150 a minute: the last 10 fail with Graph's 429, its Retry-After and
    # request id, and the Logic App gets the 150 that worked plus when to retry the rest.
    sim = make_sim(alerts=160, throttle=True)
    ids = [a["id"] for a in sim.alerts(sim.tenants[0])]
    env = _env_for(sim, azurite, security_per_minute="88888", GRAPH_MAX_RETRY_WAIT_SECONDS="1")
    with DevHost(function_app.app, env) as host:
        response = requests.post(host.url("alerts/bulk-update"), headers={"x-functions-key": host.key},
                                 json={"ids": ids, "changes": {"status": "inProgress"}}, timeout=120)
    body = response.json()
    assert response.status_code == 200
    assert body["summary"] == {"requested": 160, "updated": 150, "notFound": 0, "failed": 10, "notAttempted": 0}
    throttled = [r for r in body["results"] if r["result"] == "failed"]
    assert all(r["status"] == 429 and r["retryAfter"] > 1 and r["graphRequestId"] for r in throttled)


def test_bulk_stops_within_its_time_budget_and_names_the_rest(make_sim, azurite):
    # Each $batch call takes 5.5 s here: after the first, a second would end past the 10 s budget, so the request
    # answers after one call with the 40 ids it did not reach marked notAttempted (sent again, they succeed).
    sim = make_sim(alerts=60)
    ids = [a["id"] for a in sim.alerts(sim.tenants[0])]
    env = _env_for(sim, azurite, security_per_minute="77777", ACTIONS_BULK_TIME_BUDGET_SECONDS="10")
    sim.set_faults(latency_ms=5500, path="$batch", times=1)
    with DevHost(function_app.app, env) as host:
        url, headers = host.url("alerts/bulk-update"), {"x-functions-key": host.key}
        first = requests.post(url, headers=headers, json={"ids": ids, "changes": {"status": "resolved"}}, timeout=60)
        left = [r["id"] for r in first.json()["results"] if r["result"] == "notAttempted"]
        again = requests.post(url, headers=headers, json={"ids": left, "changes": {"status": "resolved"}}, timeout=60)
    assert first.status_code == 200, first.text
    assert first.json()["summary"] == {"requested": 60, "updated": 20, "notFound": 0, "failed": 0, "notAttempted": 40}
    assert left == ids[20:] and "ACTIONS_BULK_TIME_BUDGET_SECONDS" in first.json()["results"][-1]["detail"]
    assert again.json()["summary"]["updated"] == 40
    assert {a["status"] for a in sim.alerts(sim.tenants[0])} == {"resolved"}


def test_retries_inside_a_bulk_request_end_at_its_deadline(make_sim, azurite):
    # Graph keeps throttling the $batch call with Retry-After 2 s. Alone, the client would retry 7 times (14 s of
    # waiting, within GRAPH_MAX_RETRY_WAIT_SECONDS); inside a bulk request with a 10 s budget it stops before a wait
    # would end past the deadline, and the Logic App gets its answer in time, with Graph's Retry-After.
    sim = make_sim(alerts=5)
    ids = [a["id"] for a in sim.alerts(sim.tenants[0])]
    env = _env_for(sim, azurite, security_per_minute="66666", ACTIONS_BULK_TIME_BUDGET_SECONDS="10")
    sim.set_faults(fail_next=[429] * 20, retry_after=2, path="$batch")
    with DevHost(function_app.app, env) as host:
        started = time.monotonic()
        response = requests.post(host.url("alerts/bulk-update"), headers={"x-functions-key": host.key},
                                 json={"ids": ids, "changes": {"status": "resolved"}}, timeout=60)
        seconds = time.monotonic() - started
    assert response.status_code == 429 and response.headers["Retry-After"] == "2"
    assert response.json()["summary"]["failed"] == 5
    assert 7 < seconds < 10.5
    assert 4 <= len([r for r in sim.request_log if r.path.endswith("$batch")]) <= 5


def _env_for(sim: GraphSimulator, azurite, *, security_per_minute: str, **overrides: str) -> dict[str, str]:
    """A host's settings, every one that matters here explicit. `security_per_minute`: a value no other test uses,
    because hosts in one process with the same budgets share their pacers (and a 429's hold) per tenant."""
    return {
        "GRAPH_TENANT_IDS": sim.tenants[0], "GRAPH_AUTH_MODE": "client_secret", "GRAPH_CLIENT_ID": sim.client_id,
        "GRAPH_CLIENT_SECRET": sim.client_secret, "GRAPH_ENDPOINT": sim.base_url, "GRAPH_AUTHORITY_HOST": sim.base_url,
        "GRAPH_DISABLE_INSTANCE_DISCOVERY": "true", "BRIDGE_STORAGE": azurite.connection_string,
        "AUDIT_CONTAINER": AUDIT, "GRAPH_SECURITY_REQUESTS_PER_MINUTE": security_per_minute,
        "GRAPH_IDENTITY_REQUESTS_PER_SECOND": "1000", "GRAPH_MAX_ATTEMPTS": "8", "GRAPH_MAX_RETRY_WAIT_SECONDS": "60",
        "ACTIONS_BULK_TIME_BUDGET_SECONDS": "100", **overrides,
    }


# --- the README's examples are requests the app accepts


def _readme_http_examples() -> list[tuple[str, str, dict[str, str], str]]:
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "http-api.md").read_text()
    examples = []
    for block in doc.split("```http\n")[1:]:
        text = block.split("```", 1)[0]
        head, _, body = text.partition("\n\n")
        request_line, *header_lines = head.splitlines()
        method, target = request_line.split(" ", 1)
        headers = dict(line.split(": ", 1) for line in header_lines)
        examples.append((method, target, headers, body.strip()))
    return examples


def test_every_readme_request_example_passes_validation(api):
    examples = _readme_http_examples()
    assert len(examples) >= 12
    for method, target, headers, body in examples:
        headers = {k: v for k, v in headers.items() if k.lower() != "x-functions-key"}
        response = api.session.request(method, api.host.root_url + target.replace("<key>", api.host.key),
                                       data=body.encode() or None, timeout=60,
                                       headers={"x-functions-key": api.host.key, **headers})
        # The ids in the examples are Contoso's, not the simulator's: Graph's 404 is the right answer, a 4xx about
        # the request itself is not, and neither is the host's empty 404 for a route that does not exist.
        assert response.status_code in (200, 404), f"{method} {target}: {response.status_code} {response.text}"
        if response.status_code == 404:
            assert response.json()["graphCode"] == "NotFound", f"{method} {target}: {response.text}"


def test_the_sample_playbook_sends_valid_requests(api, alerts):
    """The calls of infra/modules/logicapp.bicep, with its expressions evaluated as Logic Apps would for one run:
    the trigger's first poll, the read, the comment (and its retry), the assignment."""
    import re
    from pathlib import Path

    infra = Path(__file__).resolve().parents[2] / "infra"
    playbook = (infra / "modules" / "logicapp.bicep").read_text()
    assignee = re.search(r"^param logicAppAssignee string = '([^']*)'$", (infra / "main.bicep").read_text(),
                         re.MULTILINE).group(1)
    run_id = "08584719337420538546286467815CU27"

    def evaluate(expression: str) -> str:  # the few expressions the bodies use
        text = expression.replace("\\'", "'")
        text = text.replace("@{workflow()?['name']}", "sample-playbook")
        text = text.replace("@{workflow()?['run']?['name']}", run_id)
        text = text.replace("@{parameters('assignee')}", assignee).replace("@parameters('assignee')", assignee)
        return text.replace("@{body('Read_alert')?['serviceSource']}", "microsoftDefenderForEndpoint")

    trigger = re.search(r"queries: \{\n\s+severity: '(\w+)'\n\s+status: '(\w+)'", playbook)
    poll = api.call("GET", "triggers/alerts", params={"severity": trigger.group(1), "status": trigger.group(2)})
    assert poll.status_code == 202 and poll.headers["Location"] and poll.headers["Retry-After"]

    (alert_id,) = alerts(1)
    assert api.call("GET", f"alerts/{alert_id}").status_code == 200

    comment_block = playbook[playbook.index("Comment_on_alert: {"):playbook.index("Assign_alert: {")]
    comment = evaluate(re.search(r"comment: '((?:[^'\\]|\\.)*)'", comment_block).group(1))
    key = evaluate(re.search(r"'Idempotency-Key': '((?:[^'\\]|\\.)*)'", comment_block).group(1))
    assert "@" not in comment + key, "an expression of the playbook is not evaluated here"
    first = api.call("POST", f"alerts/{alert_id}/comments", {"comment": comment}, headers={"Idempotency-Key": key})
    retry = api.call("POST", f"alerts/{alert_id}/comments", {"comment": comment}, headers={"Idempotency-Key": key})
    assert first.status_code == retry.status_code == 200, first.text
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert [c["comment"] for c in api.item("alerts", alert_id)["comments"]].count(comment) == 1

    assign_block = playbook[playbook.index("Assign_alert: {"):]
    body = dict(re.findall(r"^\s+(assignedTo|status): '((?:[^'\\]|\\.)*)'$", assign_block, re.MULTILINE))
    update = {name: evaluate(value) for name, value in body.items()}
    assert update == {"assignedTo": assignee, "status": "inProgress"}
    response = api.call("PATCH", f"alerts/{alert_id}", update)
    assert response.status_code == 200, response.text
    assert {k: api.item("alerts", alert_id)[k] for k in update} == update


# --- storage outage


def test_a_storage_outage_costs_an_action_seconds_not_a_minute(caplog):
    # The audit trail and the Idempotency-Key records live in Blob Storage. With storage down, an update still
    # happens (Graph is the system of record; its audit line goes to the log, marked AUDIT-NOT-WRITTEN) and a keyed
    # comment is refused with 503 before Graph is called. Both answer within seconds: with the storage SDK's default
    # retries each would hold its caller for about 90 s, most of a Logic App's 120 s.
    with LocalStack(SimConfig(alerts=5, throttle=False, seed=12)) as stack:
        assert stack.sim is not None and stack.azurite is not None
        tenant = stack.sim.tenants[0]
        ids = [a["id"] for a in stack.sim.alerts(tenant)]
        env = stack.env(AUDIT_CONTAINER=AUDIT, GRAPH_SECURITY_REQUESTS_PER_MINUTE="55555")
        with DevHost(function_app.app, env) as host, requests.Session() as session:
            headers = {"x-functions-key": host.key}
            comment_url = host.url(f"alerts/{ids[2]}/comments")
            keyed = {**headers, "Idempotency-Key": "outage-1"}
            assert session.patch(host.url(f"alerts/{ids[0]}"), json={"status": "inProgress"}, headers=headers,
                                 timeout=60).status_code == 200
            stack.azurite.stop()
            try:
                with caplog.at_level(logging.ERROR, logger="graph_security_bridge.audit"):
                    started = time.monotonic()
                    patch = session.patch(host.url(f"alerts/{ids[1]}"), json={"assignedTo": "outage@contoso.com"},
                                          headers=headers, timeout=60)
                    patch_seconds = time.monotonic() - started
                started = time.monotonic()
                comment = session.post(comment_url, json={"comment": "During the outage."}, headers=keyed,
                                       timeout=60)
                comment_seconds = time.monotonic() - started
            finally:
                stack.azurite.start()
            again = session.post(comment_url, json={"comment": "During the outage."}, headers=keyed, timeout=60)
        alerts = {a["id"]: a for a in stack.sim.alerts(tenant)}
    assert patch.status_code == 200 and alerts[ids[1]]["assignedTo"] == "outage@contoso.com" and patch_seconds < 15
    assert any("AUDIT-NOT-WRITTEN" in r.getMessage() and ids[1] in r.getMessage() for r in caplog.records)
    assert comment.status_code == 503 and comment.json()["title"] == "Storage unavailable" and comment_seconds < 15
    assert again.status_code == 200  # storage back: the same key goes through, once
    assert [c["comment"] for c in alerts[ids[2]]["comments"]] == ["During the outage."]
