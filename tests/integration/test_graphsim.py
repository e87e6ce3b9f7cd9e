"""Fidelity tests of the Graph simulator itself: a real HTTPS server on loopback, driven with requests and
azure-identity. Each test starts (and stops) the simulators it uses."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from local.graphsim import GraphSimulator, SimConfig
from local.graphsim import enums as E
from local.graphsim.catalog import DETECTION_SERVICE
from local.tls import ensure_local_tls
from tests.integration.certificates import make_certificate

ROOT = Path(__file__).resolve().parents[2]
TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{7}Z$")
PREFER = {"Prefer": "include-unknown-enum-members"}


@pytest.fixture(scope="module")
def sim_tls(tmp_path_factory):
    return ensure_local_tls(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def graphsim(sim_tls, monkeypatch):
    """Factory: start a simulator (throttling off unless asked) and stop it after the test."""
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim_tls.ca_bundle_path))
    started: list[GraphSimulator] = []

    def start(**config) -> GraphSimulator:
        config.setdefault("throttle", False)
        sim = GraphSimulator(SimConfig(**config), tls=sim_tls).start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        sim.stop()


class Client:
    """A requests session holding a token from the simulator's token endpoint."""

    def __init__(self, sim: GraphSimulator, tenant: str | None = None, headers: dict[str, str] | None = None):
        self.sim = sim
        self.session = requests.Session()
        tenant = tenant or sim.tenants[0]
        form = {
            "grant_type": "client_credentials",
            "client_id": sim.client_id,
            "client_secret": sim.client_secret,
            "scope": f"{sim.base_url}/.default",
        }
        token = self.session.post(f"{sim.base_url}/{tenant}/oauth2/v2.0/token", data=form, timeout=10).json()
        self.session.headers["Authorization"] = f"Bearer {token['access_token']}"
        self.session.headers.update(headers or {})

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else f"{self.sim.base_url}/v1.0/{path.lstrip('/')}"

    def get(self, path: str, params: dict | None = None, **kw) -> requests.Response:
        return self.session.get(self.url(path), params=params, timeout=30, **kw)

    def send(self, method: str, path: str, body: object = None, **kw) -> requests.Response:
        return self.session.request(method, self.url(path), json=body, timeout=30, **kw)

    def all_pages(self, path: str, params: dict | None = None, **kw) -> list[dict]:
        items, url = [], path
        while url:
            resp = self.get(url, params if url == path else None, **kw)
            assert resp.status_code == 200, resp.text
            page = resp.json()
            items += page["value"]
            url = page.get("@odata.nextLink")
        return items


def assert_graph_error(resp: requests.Response, status: int, code: str | None = None) -> dict:
    assert resp.status_code == status, resp.text
    error = resp.json()["error"]
    if code:
        assert error["code"] == code
    inner = error["innerError"]
    assert inner["request-id"] == resp.headers["request-id"]
    assert inner["client-request-id"] == resp.headers["client-request-id"]
    return error


# --- TLS and auth -------------------------------------------------------------------------------------------------


def test_tls_material_is_created_once_even_concurrently(tmp_path):
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: ensure_local_tls(tmp_path / "tls"), range(4)))
    assert len(set(results)) == 1
    tls = results[0]
    before = {p: p.stat().st_mtime_ns for p in (tls.ca_cert_path, tls.server_cert_path, tls.server_key_path)}
    again = ensure_local_tls(tmp_path / "tls")
    assert {p: p.stat().st_mtime_ns for p in before} == before  # reused, not regenerated
    assert tls.ca_cert_path.read_bytes().strip() in again.ca_bundle_path.read_bytes()
    assert again.server_context() is not None


def test_azure_identity_client_secret_credential_gets_and_caches_a_token(graphsim, sim_tls, monkeypatch):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import ClientSecretCredential

    sim = graphsim(alerts=5)
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim_tls.ca_bundle_path))
    credential = ClientSecretCredential(
        sim.tenants[0], sim.client_id, sim.client_secret, authority=sim.base_url, disable_instance_discovery=True
    )
    token = credential.get_token(sim.base_url + "/.default")
    assert token.expires_on - time.time() > 3000
    assert credential.get_token(sim.base_url + "/.default").token == token.token
    assert sim.token_requests == 1  # cached by MSAL
    resp = requests.get(
        f"{sim.base_url}/v1.0/security/alerts_v2", headers={"Authorization": f"Bearer {token.token}"}, timeout=10
    )
    assert resp.status_code == 200 and len(resp.json()["value"]) == 5

    wrong = ClientSecretCredential(
        sim.tenants[0], sim.client_id, "wrong", authority=sim.base_url, disable_instance_discovery=True
    )
    with pytest.raises(ClientAuthenticationError, match="AADSTS7000215"):
        wrong.get_token(sim.base_url + "/.default")
    unknown_tenant = ClientSecretCredential(
        "11111111-1111-4111-8111-111111111111",
        sim.client_id,
        sim.client_secret,
        authority=sim.base_url,
        disable_instance_discovery=True,
    )
    with pytest.raises(ClientAuthenticationError):
        unknown_tenant.get_token(sim.base_url + "/.default")


def test_certificate_credential_assertion_is_verified(graphsim, sim_tls, tmp_path):
    from azure.core.exceptions import ClientAuthenticationError
    from azure.identity import CertificateCredential

    good_path, good_pem, _ = make_certificate(tmp_path, "good")
    bad_path, _, _ = make_certificate(tmp_path, "bad")
    sim = graphsim(alerts=1)
    sim.register_client_certificate(good_pem)
    args = {"authority": sim.base_url, "disable_instance_discovery": True}
    good = CertificateCredential(sim.tenants[0], sim.client_id, str(good_path), **args)
    assert good.get_token(sim.base_url + "/.default").token
    bad = CertificateCredential(sim.tenants[0], sim.client_id, str(bad_path), **args)
    with pytest.raises(ClientAuthenticationError, match="AADSTS700027"):
        bad.get_token(sim.base_url + "/.default")


def test_token_endpoint_rejects_bad_scope_and_unknown_client(graphsim):
    sim = graphsim(alerts=1)
    url = f"{sim.base_url}/{sim.tenants[0]}/oauth2/v2.0/token"
    form = {"grant_type": "client_credentials", "client_id": sim.client_id, "client_secret": sim.client_secret}
    resp = requests.post(url, data={**form, "scope": "User.Read"}, timeout=10)
    assert resp.status_code == 400 and resp.json()["error"] == "invalid_scope"
    resp = requests.post(url, data={**form, "client_id": "nobody", "scope": "https://x/.default"}, timeout=10)
    assert resp.status_code == 400 and "AADSTS700016" in resp.json()["error_description"]
    config = requests.get(f"{sim.base_url}/{sim.tenants[0]}/v2.0/.well-known/openid-configuration", timeout=10)
    assert config.json()["token_endpoint"] == url


def test_graph_requires_a_valid_unexpired_token(graphsim):
    sim = graphsim(alerts=3)
    url = f"{sim.base_url}/v1.0/security/alerts_v2"
    resp = requests.get(url, headers={"client-request-id": "abc-123"}, timeout=10)
    error = assert_graph_error(resp, 401, "InvalidAuthenticationToken")
    assert error["innerError"]["client-request-id"] == "abc-123"
    assert_graph_error(requests.get(url, headers={"Authorization": "Bearer nope"}, timeout=10), 401)
    client = Client(sim)
    assert client.get("security/alerts_v2").status_code == 200
    sim.expire_tokens()
    assert "expired" in assert_graph_error(client.get("security/alerts_v2"), 401)["message"]


# --- paging, caps, filters ----------------------------------------------------------------------------------------


def test_alerts_paging_yields_every_alert_once_newest_first(graphsim):
    sim = graphsim(alerts=2600)
    client = Client(sim)
    first = client.get("security/alerts_v2", {"$top": "1000", "$count": "true"}).json()
    assert first["@odata.context"] == f"{sim.base_url}/v1.0/$metadata#security/alerts_v2"
    assert first["@odata.count"] == 2600
    assert first["@odata.nextLink"].startswith(f"{sim.base_url}/v1.0/security/alerts_v2?$skiptoken=")
    items = client.all_pages("security/alerts_v2", {"$top": "1000"})
    ids = [a["id"] for a in items]
    assert len(ids) == 2600 and len(set(ids)) == 2600
    assert set(ids) == {a["id"] for a in sim.alerts(sim.tenants[0])}
    keys = [(a["lastUpdateDateTime"], a["id"]) for a in items]
    assert keys == sorted(keys, reverse=True)
    assert len(client.get("security/alerts_v2").json()["value"]) == 100  # default page size
    page = client.get("security/alerts_v2", {"$top": "10", "$skip": "500"}).json()["value"]
    assert [a["id"] for a in page] == ids[500:510]


def test_top_and_skip_caps(graphsim):
    sim = graphsim(alerts=20, risk_detections=30)
    client = Client(sim)
    assert_graph_error(client.get("security/alerts_v2", {"$top": "1001"}), 400, "BadRequest")
    assert client.get("security/alerts_v2", {"$top": "1000"}).status_code == 200
    assert_graph_error(client.get("identityProtection/riskDetections", {"$top": "501"}), 400)
    assert client.get("identityProtection/riskDetections", {"$top": "500"}).status_code == 200
    assert len(client.get("identityProtection/riskDetections").json()["value"]) == 20  # documented default
    for path in ("security/alerts_v2", "security/incidents", "identityProtection/riskyUsers"):
        assert_graph_error(client.get(path, {"$skip": "501"}), 400)


def test_unsupported_filters_are_rejected(graphsim):
    sim = graphsim(alerts=5, risky_service_principals=5, service_principal_risk_detections=5)
    client = Client(sim)
    for path, flt in [
        ("security/alerts_v2", "investigationState eq 'running'"),
        ("security/alerts_v2", "detectionSource eq 'antivirus'"),
        ("security/incidents", "serviceSource eq 'microsoftSentinel'"),
        ("identityProtection/riskyServicePrincipals", "riskLastUpdatedDateTime ge 2026-01-01T00:00:00Z"),
        ("security/alerts_v2", "lastUpdateDateTime ge"),
    ]:
        assert_graph_error(client.get(path, {"$filter": flt}), 400, "BadRequest")
    error = assert_graph_error(
        client.get("identityProtection/riskDetections", {"$filter": "createdDateTime ge 2026-01-01T00:00:00Z"}), 400
    )
    assert error["message"] == (
        "Could not find a property named 'createdDateTime' on type 'microsoft.graph.riskDetection'."
    )
    message = client.get("security/alerts_v2", {"$filter": "status eq"}).json()["error"]["message"]
    assert message.startswith("Invalid filter clause")
    sp = sim.items(sim.tenants[0], "riskyServicePrincipals")[0]
    resp = client.get("identityProtection/riskyServicePrincipals", {"$filter": f"appId eq '{sp['appId']}'"})
    assert [s["id"] for s in resp.json()["value"]] == [sp["id"]]
    detection = sim.items(sim.tenants[0], "servicePrincipalRiskDetections")[0]
    flt = f"servicePrincipalId eq '{detection['servicePrincipalId']}'"
    got = client.get("identityProtection/servicePrincipalRiskDetections", {"$filter": flt}).json()["value"]
    assert detection["id"] in {d["id"] for d in got}


def test_filter_semantics_are_exact_to_the_tick(graphsim):
    sim = graphsim(alerts=300)
    tenant = sim.tenants[0]
    client = Client(sim)
    tied = sim.add_alerts(tenant, 5, same_timestamp=True)
    stamp = next(a["lastUpdateDateTime"] for a in sim.alerts(tenant) if a["id"] == tied[0])
    assert TS_RE.match(stamp)

    def ids(flt: str) -> set[str]:
        return {a["id"] for a in client.all_pages("security/alerts_v2", {"$filter": flt, "$top": "1000"})}

    assert ids(f"lastUpdateDateTime ge {stamp}") == set(tied)
    assert ids(f"lastUpdateDateTime gt {stamp}") == set()
    assert ids(f"lastUpdateDateTime eq {stamp}") == set(tied)
    seconds = stamp[:19] + "Z"  # the same instant truncated to whole seconds is earlier or equal
    assert set(tied) <= ids(f"lastUpdateDateTime ge {seconds}")
    one_tick_later = stamp[:20] + str(int(stamp[20:27]) + 1).zfill(7) + "Z" if stamp[20:27] != "9999999" else None
    if one_tick_later:
        assert ids(f"lastUpdateDateTime ge {one_tick_later}") == set()

    everything = sim.alerts(tenant)
    cutoff = sorted(a["lastUpdateDateTime"] for a in everything)[len(everything) // 2]
    flt = f"lastUpdateDateTime ge {cutoff} and (severity eq 'HIGH' or severity eq 'medium') and status ne 'resolved'"
    expected = {
        a["id"]
        for a in everything
        if a["lastUpdateDateTime"] >= cutoff and a["severity"] in ("high", "medium") and a["status"] != "resolved"
    }
    assert expected and ids(flt) == expected
    assert ids("assignedTo eq null") == {a["id"] for a in everything if a["assignedTo"] is None}


def test_prefer_header_controls_evolvable_enum_members(graphsim):
    sim = graphsim(alerts=300, risk_detections=200)
    tenant = sim.tenants[0]
    plain = Client(sim).all_pages("security/alerts_v2", {"$top": "1000"})
    full = Client(sim, headers={"Prefer": "odata.maxpagesize=50, include-unknown-enum-members"}).all_pages(
        "security/alerts_v2", {"$top": "1000"}
    )
    hidden = E.SERVICE_SOURCE.hidden | E.DETECTION_SOURCE.hidden
    plain_values = {a["serviceSource"] for a in plain} | {a["detectionSource"] for a in plain}
    full_values = {a["serviceSource"] for a in full} | {a["detectionSource"] for a in full}
    assert "unknownFutureValue" in plain_values and not plain_values & hidden
    assert hidden <= full_values and "unknownFutureValue" not in full_values
    # Every member of both enums occurs in the data.
    assert {a["serviceSource"] for a in full} == set(E.SERVICE_SOURCE.settable())
    assert {a["detectionSource"] for a in full} == set(E.DETECTION_SOURCE.settable())
    assert set(DETECTION_SERVICE) == set(E.DETECTION_SOURCE.settable())
    assert {a["id"]: a for a in full} == {a["id"]: a for a in sim.alerts(tenant)}
    # Identity Protection: riskDetail / tokenIssuerType / activity members after the sentinel.
    detections = Client(sim).all_pages("identityProtection/riskDetections", {"$top": "500"})
    assert not {d["riskDetail"] for d in detections} & E.RISK_DETAIL.hidden
    assert not {d["tokenIssuerType"] for d in detections} & E.TOKEN_ISSUER_TYPE.hidden
    incidents = Client(sim, headers=PREFER).all_pages("security/incidents", {"$top": "1000"})
    plain_incidents = Client(sim).all_pages("security/incidents", {"$top": "1000"})
    assert "awaitingAction" in {i["status"] for i in incidents}
    assert "awaitingAction" not in {i["status"] for i in plain_incidents}


def test_generated_data_looks_like_graph(graphsim):
    sim = graphsim(alerts=400, seed=7, tenants=2)
    twin = GraphSimulator(SimConfig(alerts=400, seed=7, tenants=2, anchor=None), tls=sim.tls)
    assert twin.tenants == sim.tenants and len(set(sim.tenants)) == 2
    alerts = sim.alerts(sim.tenants[0])
    assert [a["id"] for a in alerts[:50]] == [a["id"] for a in twin.alerts(sim.tenants[0])[:50]]  # deterministic
    assert {a["tenantId"] for a in alerts} == {sim.tenants[0]}
    for field in ("createdDateTime", "lastUpdateDateTime", "firstActivityDateTime", "lastActivityDateTime"):
        assert all(TS_RE.match(a[field]) for a in alerts)
    ties = Counter(a["lastUpdateDateTime"] for a in alerts)
    assert max(ties.values()) > 1  # some alerts share one timestamp
    evidence_types = {e["@odata.type"] for a in alerts for e in a["evidence"]}
    assert len(evidence_types) >= 20
    assert "#microsoft.graph.security.dnsEvidence" in evidence_types  # a type unknown to v1.0
    assert any("simFutureProperty" in a for a in alerts)
    sizes = [len(json.dumps(a, separators=(",", ":"))) for a in alerts]
    assert 2000 < sum(sizes) / len(sizes) < 4500
    incidents = {i["id"]: i for i in sim.items(sim.tenants[0], "incidents")}
    for alert in alerts:
        assert incidents[alert["incidentId"]]["lastUpdateDateTime"] >= alert["createdDateTime"]
    users = {u["id"]: u for u in sim.items(sim.tenants[0], "riskyUsers")}
    for detection in sim.items(sim.tenants[0], "riskDetections"):
        assert users[detection["userId"]]["riskLastUpdatedDateTime"] >= detection["lastUpdatedDateTime"]


# --- throttling ---------------------------------------------------------------------------------------------------


def test_security_is_throttled_with_retry_after_and_identity_without(graphsim):
    sim = graphsim(alerts=5, throttle=True, throttle_scale=2)  # security: 150 per 30 s; identity: 1 per 0.5 s
    client = Client(sim)
    statuses = [client.get("security/alerts_v2", {"$top": "1"}).status_code for _ in range(150)]
    assert statuses == [200] * 150
    resp = client.get("security/incidents")  # alerts and incidents share one budget
    error = assert_graph_error(resp, 429, "TooManyRequests")
    assert error["message"] == "Please retry again later." and error["innerError"]["code"] == "429"
    assert 0 < float(resp.headers["Retry-After"]) <= 30
    assert sim.throttled_count["security"] == 1
    assert client.get("identityProtection/riskyUsers").status_code == 200  # another family, own budget
    resp = client.get("identityProtection/riskDetections")
    assert_graph_error(resp, 429, "TooManyRequests")
    assert "Retry-After" not in resp.headers
    assert sim.throttled_count["identityProtection"] == 1
    time.sleep(0.55)
    assert client.get("identityProtection/riskDetections").status_code == 200
    sim.reset_throttle()
    assert client.get("security/alerts_v2").status_code == 200
    assert sim.throttled_count == {"security": 0, "identityProtection": 0}


# --- actions ------------------------------------------------------------------------------------------------------


def test_alert_patch_and_comments(graphsim):
    sim = graphsim(alerts=20)
    tenant = sim.tenants[0]
    client = Client(sim, headers=PREFER)
    alert = sim.alerts(tenant)[-1]
    before = alert["lastUpdateDateTime"]
    body = {"status": "Resolved", "classification": "truePositive", "determination": "malware", "comments": ["x"]}
    resp = client.send("PATCH", f"security/alerts_v2/{alert['id']}", body)
    assert resp.status_code == 200, resp.text
    updated = resp.json()
    assert updated["@odata.context"].endswith("$metadata#security/alerts_v2/$entity")
    assert (updated["status"], updated["classification"]) == ("resolved", "truePositive")
    assert updated["comments"] == alert["comments"]  # comments are not writable through PATCH
    others = [a["lastUpdateDateTime"] for a in sim.alerts(tenant) if a["id"] != alert["id"]]
    assert updated["lastUpdateDateTime"] > max(others)
    assert updated["lastUpdateDateTime"] > before and updated["resolvedDateTime"] == updated["lastUpdateDateTime"]
    assert_graph_error(client.send("PATCH", f"security/alerts_v2/{alert['id']}", {"status": "closed"}), 400)
    assert_graph_error(client.get("security/alerts_v2/nope"), 404, "NotFound")
    comment = {"@odata.type": "microsoft.graph.security.alertComment", "comment": "Demo for docs"}
    resp = client.send("POST", f"security/alerts_v2/{alert['id']}/comments", comment)
    assert resp.status_code == 200
    assert resp.json()["value"][-1]["comment"] == "Demo for docs"
    assert len(resp.json()["value"]) == len(alert["comments"]) + 1
    incident_id = alert["incidentId"]
    incident = client.get(f"security/incidents/{incident_id}").json()
    assert incident["lastUpdateDateTime"] >= updated["lastUpdateDateTime"]
    long = {"comment": "x" * 1001}
    error = assert_graph_error(client.send("POST", f"security/incidents/{incident_id}/comments", long), 400)
    assert "1000" in error["message"]
    resp = client.send("PATCH", f"security/incidents/{incident_id}", {"customTags": ["Pentest"], "status": "active"})
    assert resp.status_code == 200 and resp.json()["customTags"] == ["Pentest"]
    assert_graph_error(client.send("DELETE", f"security/incidents/{incident_id}"), 405)
    expanded = client.get(f"security/incidents/{incident_id}", {"$expand": "alerts"}).json()
    assert alert["id"] in {a["id"] for a in expanded["alerts"]}
    listed = client.get("security/incidents", {"$expand": "alerts", "$top": "5"}).json()["value"]
    assert all(a["incidentId"] == i["id"] for i in listed for a in i["alerts"])


def test_risky_user_actions(graphsim):
    sim = graphsim(risky_users=30, risk_detections=60, risky_service_principals=4)
    tenant = sim.tenants[0]
    client = Client(sim, headers=PREFER)
    users = sim.items(tenant, "riskyUsers")
    ids = [u["id"] for u in users[:3]]
    resp = client.send("POST", "identityProtection/riskyUsers/dismiss", {"userIds": [*ids, "unknown-id"]})
    assert resp.status_code == 204 and not resp.content
    after = {u["id"]: u for u in sim.items(tenant, "riskyUsers")}
    assert all(after[i]["riskState"] == "dismissed" and after[i]["riskLevel"] == "none" for i in ids)
    assert all(after[i]["riskLastUpdatedDateTime"] > users[0]["riskLastUpdatedDateTime"] for i in ids)
    target = users[5]["id"]
    assert client.send("POST", "identityProtection/riskyUsers/confirmCompromised", {"userIds": [target]}).ok
    assert client.get(f"identityProtection/riskyUsers/{target}").json()["riskState"] == "confirmedCompromised"
    newest = client.get("identityProtection/riskDetections", {"$top": "1"}).json()["value"][0]
    assert (newest["userId"], newest["riskEventType"]) == (target, "adminConfirmedUserCompromised")
    selected = client.get("identityProtection/riskyUsers", {"$select": "riskLevel,riskState", "$top": "3"}).json()
    assert selected["@odata.context"].endswith("riskyUsers(riskLevel,riskState)")
    assert all(set(u) == {"id", "riskLevel", "riskState"} for u in selected["value"])
    too_many = {"userIds": [f"id-{i}" for i in range(61)]}
    assert_graph_error(client.send("POST", "identityProtection/riskyUsers/dismiss", too_many), 400)
    sp = sim.items(tenant, "riskyServicePrincipals")[0]["id"]
    body = {"servicePrincipalIds": [sp]}
    assert client.send("POST", "identityProtection/riskyServicePrincipals/dismiss", body).status_code == 204
    got = client.get(f"identityProtection/riskyServicePrincipals/{sp}").json()
    assert got["riskDetail"] == "adminDismissedAllRiskForServicePrincipal"
    plain = Client(sim).get(f"identityProtection/riskyServicePrincipals/{sp}").json()
    assert plain["riskDetail"] == "unknownFutureValue"


def test_batch(graphsim):
    sim = graphsim(alerts=10, throttle=True, throttle_scale=2)
    client = Client(sim)
    alert = sim.alerts(sim.tenants[0])[0]
    batch = {
        "requests": [
            {"id": "1", "method": "GET", "url": f"/security/alerts_v2/{alert['id']}"},
            {
                "id": "2",
                "method": "PATCH",
                "url": f"/security/alerts_v2/{alert['id']}",
                "headers": {"Content-Type": "application/json"},
                "body": {"assignedTo": "soc@contoso.com"},
            },
            {"id": "3", "method": "GET", "url": "/security/alerts_v2/does-not-exist"},
            {"id": "4", "method": "GET", "url": "/security/alerts_v2/does-not-exist", "dependsOn": ["3"]},
            {"id": "5", "method": "GET", "url": "security/alerts_v2?$top=2"},
        ]
    }
    resp = client.send("POST", "$batch", batch)
    assert resp.status_code == 200, resp.text
    answers = {r["id"]: r for r in resp.json()["responses"]}
    assert answers["1"]["status"] == 200 and answers["1"]["body"]["id"] == alert["id"]
    assert answers["2"]["body"]["assignedTo"] == "soc@contoso.com"
    assert answers["3"]["status"] == 404 and answers["3"]["body"]["error"]["code"] == "NotFound"
    assert answers["4"]["status"] == 424
    assert len(answers["5"]["body"]["value"]) == 2
    assert [r.status for r in sim.request_log if r.in_batch] == [200, 200, 404, 424, 200]
    too_big = {"requests": [{"id": str(i), "method": "GET", "url": "/security/alerts_v2"} for i in range(21)]}
    assert_graph_error(client.send("POST", "$batch", too_big), 400)
    duplicate = {"requests": [{"id": "1", "method": "GET", "url": "/security/incidents"}] * 2}
    assert_graph_error(client.send("POST", "$batch", duplicate), 400)
    # Inner requests are throttled one by one: fill the security budget, then batch.
    while client.get("security/alerts_v2", {"$top": "1"}).status_code == 200:
        pass
    throttled = client.send("POST", "$batch", {"requests": batch["requests"][:1]}).json()["responses"][0]
    assert throttled["status"] == 429 and float(throttled["headers"]["Retry-After"]) > 0
    assert throttled["body"]["error"]["code"] == "TooManyRequests"


def test_unknown_paths(graphsim):
    sim = graphsim(alerts=1)
    client = Client(sim)
    assert_graph_error(client.get("nothingHere"), 404)
    assert_graph_error(client.get("security/alerts_v2/x/y/z"), 404)
    assert_graph_error(client.send("POST", "security/alerts_v2", {}), 405)
    resp = client.get("security/alerts_v2", headers={"client-request-id": "my-id"})
    assert resp.headers["client-request-id"] == "my-id" and resp.headers["request-id"]
    # The server logs a request once its answer is out, so the client can be first: wait for the record.
    deadline = time.monotonic() + 5
    while not (records := [r for r in sim.request_log if r.headers.get("client-request-id") == "my-id"]):
        assert time.monotonic() < deadline, "the request was never logged"
        time.sleep(0.01)
    assert records[0].tenant == sim.tenants[0]


# --- faults -------------------------------------------------------------------------------------------------------


def test_fault_knobs(graphsim):
    sim = graphsim(alerts=50)
    client = Client(sim)
    sim.set_faults(fail_next=[503, 503], retry_after=1.5, path="alerts_v2")
    assert client.get("security/incidents").status_code == 200  # other paths untouched
    first = client.get("security/alerts_v2")
    error = assert_graph_error(first, 503, "ServiceNotAvailable")
    assert error["message"] and first.headers["Retry-After"] == "1.5"
    assert client.get("security/alerts_v2").status_code == 503
    assert client.get("security/alerts_v2").status_code == 200

    sim.set_faults(reset_next=1)
    with pytest.raises(requests.ConnectionError):
        client.get("security/alerts_v2")
    assert client.get("security/alerts_v2").status_code == 200
    assert sim.request_log[-2].status == 0 and sim.request_log[-2].fault == "reset"

    sim.set_faults(truncate_next=1)
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        client.get("security/alerts_v2", {"$top": "50"})
    assert client.get("security/alerts_v2").status_code == 200

    sim.set_faults(latency_ms=150, times=1)
    started = time.monotonic()
    assert client.get("security/alerts_v2", {"$top": "1"}).ok
    assert time.monotonic() - started >= 0.15
    assert not sim.faults.active  # one hit, then the rule is gone

    sim.set_faults(error_rate={500: 1.0}, times=2)
    assert [client.get("security/alerts_v2").status_code for _ in range(3)] == [500, 500, 200]
    sim.set_faults(fail_next=[500] * 1000)
    assert Client(sim).get("security/alerts_v2").status_code == 500  # the token endpoint is not affected
    sim.clear_faults()
    assert client.get("security/alerts_v2").ok
    sim.set_faults(fail_next=[503], token_endpoint=True)
    resp = requests.post(f"{sim.base_url}/{sim.tenants[0]}/oauth2/v2.0/token", data={}, timeout=10)
    assert resp.status_code == 503


# --- data changing while a client pages ---------------------------------------------------------------------------


def test_add_and_update_while_paging(graphsim):
    sim = graphsim(alerts=1500)
    tenant = sim.tenants[0]
    client = Client(sim)
    original = {a["id"]: a for a in sim.alerts(tenant)}
    newest_before = max(a["lastUpdateDateTime"] for a in original.values())
    changed: set[str] = set()
    stop = threading.Event()

    def churn() -> None:
        while True:  # at least one round, however the threads get scheduled
            changed.update(sim.update_alerts(tenant, count=3))
            changed.update(sim.add_alerts(tenant, 2))
            if stop.wait(0.005):
                return

    worker = threading.Thread(target=churn)
    worker.start()
    try:
        seen = client.all_pages("security/alerts_v2", {"$top": "100"})
    finally:
        stop.set()
        worker.join()
    seen_ids = [a["id"] for a in seen]
    # Offset paging under change: nothing untouched is lost; repeats are possible and clients dedupe.
    assert set(original) - changed <= set(seen_ids)
    assert changed, "the churn thread made no change"
    # The changes are all newer than the old data, so a second pass from the largest timestamp seen picks them up.
    now = sim.alerts(tenant)
    fresh = {a["id"] for a in now if a["lastUpdateDateTime"] > newest_before}
    assert fresh == changed
    cursor = max(a["lastUpdateDateTime"] for a in seen)
    again = client.all_pages("security/alerts_v2", {"$filter": f"lastUpdateDateTime ge {cursor}", "$top": "1000"})
    assert fresh <= {a["id"] for a in seen} | {a["id"] for a in again}
    # add_alerts: new ids, strictly later timestamps, each in an incident that is at least as new.
    latest = max(a["lastUpdateDateTime"] for a in now)
    added = sim.add_alerts(tenant, 3)
    by_id = {a["id"]: a for a in sim.alerts(tenant)}
    stamps = [by_id[i]["lastUpdateDateTime"] for i in added]
    assert stamps == sorted(stamps) and len(set(stamps)) == 3 and stamps[0] > latest
    incidents = {i["id"]: i for i in sim.items(tenant, "incidents")}
    assert all(incidents[by_id[i]["incidentId"]]["lastUpdateDateTime"] >= by_id[i]["lastUpdateDateTime"] for i in added)
    updated = sim.update_alerts(tenant, added, same_timestamp=True)
    assert len({a["lastUpdateDateTime"] for a in sim.alerts(tenant) if a["id"] in updated}) == 1


# --- process lifecycle --------------------------------------------------------------------------------------------


def test_stop_closes_open_connections_and_is_idempotent(graphsim):
    sim = graphsim(alerts=5)
    client = Client(sim)
    assert client.get("security/alerts_v2").ok  # leaves a keep-alive connection open
    sim.stop()
    with pytest.raises(requests.ConnectionError):
        client.get("security/alerts_v2")
    sim.stop()


def test_cli_prints_ready_line_and_serves_the_control_api(sim_tls):
    proc = subprocess.Popen(
        [sys.executable, "-m", "local.graphsim", "--port", "0", "--alerts", "50", "--tls-dir", str(sim_tls.directory)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        ready = json.loads(proc.stdout.readline())
        assert set(ready) >= {"base_url", "tenants", "client_id", "client_secret"}
        verify = ready["ca_bundle"]
        added = requests.post(f"{ready['base_url']}/_sim/alerts/add", json={"count": 2}, verify=verify, timeout=10)
        assert len(added.json()["ids"]) == 2
        items = requests.get(f"{ready['base_url']}/_sim/items/alerts", verify=verify, timeout=10).json()["value"]
        assert len(items) == 52 and items[0]["id"] in added.json()["ids"]
        faults = requests.post(f"{ready['base_url']}/_sim/faults", json={"fail_next": [503]}, verify=verify, timeout=10)
        assert faults.ok
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


# --- paging profiles ----------------------------------------------------------------------------------------------


def test_the_observed_profile_pages_as_field_reports_say(graphsim):
    sim = graphsim(profile="observed", alerts=1500, risk_detections=60, seed=31)
    client = Client(sim)
    first = client.get("security/alerts_v2", {"$top": "5000"})  # clamped, not refused
    assert first.status_code == 200
    page = first.json()
    assert len(page["value"]) == 1000 and "@odata.nextLink" not in page  # more match, yet no nextLink
    versions = [a["lastUpdateDateTime"] for a in page["value"]]
    assert versions == sorted(versions, reverse=True)  # newest first
    oldest_first = client.get("security/alerts_v2", {"$top": "10", "$orderby": "lastUpdateDateTime asc"}).json()
    ascending = [a["lastUpdateDateTime"] for a in oldest_first["value"]]
    assert ascending == sorted(ascending) and ascending[0] == min(a["lastUpdateDateTime"] for a in sim.alerts(
        sim.tenants[0]))
    assert_graph_error(client.get("security/alerts_v2", {"$orderby": "severity asc"}), 400)
    short = client.get("identityProtection/riskDetections", {"$top": "40"}).json()
    assert len(short["value"]) == 20 and short["@odata.nextLink"]  # half of what was asked, and a nextLink
    assert len(client.all_pages("identityProtection/riskDetections", {"$top": "40"})) == 60


def test_the_documented_profile_refuses_what_the_docs_do_not_list(graphsim):
    sim = graphsim(alerts=1500, seed=31, refused_options={"riskyUsers": ("$top",)})
    client = Client(sim)
    assert_graph_error(client.get("security/alerts_v2", {"$top": "1001"}), 400)
    assert_graph_error(client.get("security/alerts_v2", {"$orderby": "lastUpdateDateTime asc"}), 400)
    page = client.get("security/alerts_v2", {"$top": "1000"}).json()
    assert len(page["value"]) == 1000 and page["@odata.nextLink"]
    error = assert_graph_error(client.get("identityProtection/riskyUsers", {"$top": "5"}), 400)
    assert "$top" in error["message"]
    assert client.get("identityProtection/riskyUsers").status_code == 200
