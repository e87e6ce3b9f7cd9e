"""Graph errors as problem+json, the caller's identity, audit lines and blob names, and the settings switch."""

from datetime import UTC, datetime

import pytest

from shared.actions.audit import blob_name, record
from shared.actions.caller import caller_of, key_fingerprint
from shared.actions.errors import graph_problem
from shared.actions.idempotency import fingerprint, record_name
from shared.actions.service import execute
from shared.actions.validation import HttpCall
from shared.graph.errors import GraphError, NoAnswer, RequestNotSent, UntrustedLink
from shared.problems import Problem
from shared.runtime import running
from shared.settings import load_settings

TENANT = "11111111-1111-4111-8111-111111111111"


def error(status, code="Code", message="msg", **kwargs):
    kwargs.setdefault("request_id", "req-1")
    return GraphError(status, code, message, method="GET", path="/v1.0/security/alerts_v2/x", **kwargs)


def test_404_stays_404_with_graph_request_id():
    p = graph_problem(error(404, "NotFound"), target="alert x", permission="SecurityAlert.Read.All")
    assert p.status == 404 and "alert x" in p.detail and "req-1" in p.detail
    assert p.body()["graphRequestId"] == "req-1" and p.body()["graphStatus"] == 404


def test_403_names_the_permission():
    p = graph_problem(error(403, "Forbidden", "Missing role"), target="incident 7",
                      permission="SecurityIncident.ReadWrite.All")
    assert p.status == 403 and "SecurityIncident.ReadWrite.All" in p.detail and "Missing role" in p.detail
    assert p.body()["requiredPermission"] == "SecurityIncident.ReadWrite.All"


@pytest.mark.parametrize(("retry_after", "header"), [(2.128, "3"), (None, "10"), (0.0, "1")])
def test_429_passes_retry_after_on(retry_after, header):
    p = graph_problem(error(429, "TooManyRequests", retry_after=retry_after), target="alert x", permission="p")
    assert p.status == 429 and p.headers == {"Retry-After": header} and f"{header} seconds" in p.detail


@pytest.mark.parametrize(("status", "code", "expected"), [
    (401, "InvalidAuthenticationToken", 502), (500, "InternalServerError", 502), (502, "BadGateway", 502),
    (503, "ServiceNotAvailable", 503), (504, "GatewayTimeout", 504), (400, "BadRequest", 400), (409, "Conflict", 409),
    (412, "PreconditionFailed", 412),
])
def test_other_statuses(status, code, expected):
    p = graph_problem(error(status, code), target="alert x", permission="p")
    assert p.status == expected and p.body()["graphCode"] == code


@pytest.mark.parametrize(("failure", "expected", "title"), [
    (NoAnswer("ReadTimeout", "read timed out", timed_out=True, method="PATCH"), 504,
     "Microsoft Graph did not answer in time"),
    # A comment whose answer came too late may have been added: not "safe to retry".
    (NoAnswer("ReadTimeout", "read timed out", timed_out=True, method="POST"), 504, "Outcome unknown"),
    (RequestNotSent("ConnectTimeout", "connect timed out", timed_out=True), 504,
     "Microsoft Graph did not answer in time"),
    (RequestNotSent("ConnectionError", "refused"), 502, "Microsoft Graph could not be reached"),
    (NoAnswer("ChunkedEncodingError", "connection broken"), 502, "Outcome unknown"),
    (UntrustedLink("UntrustedLink", "refusing to follow a link to evil.example"), 502, "Microsoft Graph failed"),
])
def test_calls_graph_never_answered(failure, expected, title):
    p = graph_problem(failure, target="alert x", permission="p")
    assert (p.status, p.title) == (expected, title)
    assert ("safe to retry" in p.body()["detail"]) == (title == "Microsoft Graph did not answer in time")
    assert p.body()["graphCode"] == failure.code and "graphStatus" not in p.body()  # Graph gave no status


SPOOFABLE = {
    "x-ms-client-principal-name": "analyst@contoso.com", "x-ms-client-principal-id": "abc",
    "x-ms-client-principal-idp": "aad", "x-functions-key": "secret-key", "x-ms-workflow-name": "triage",
    "x-ms-workflow-run-id": "0858", "x-forwarded-for": "10.66.66.66, 203.0.113.9:443",
    "user-agent": "azure-logic-apps/1.0",
}


def test_caller_from_easy_auth_headers_and_key_fingerprint():
    caller = caller_of(SPOOFABLE, {}, authentication_on=True)
    assert caller == {
        "principalName": "analyst@contoso.com", "principalId": "abc", "identityProvider": "aad",
        "functionKeySha256": key_fingerprint("secret-key"), "authentication": "entra",
        "logicApp": {"name": "triage", "runId": "0858"}, "clientIp": "203.0.113.9:443",
        "userAgent": "azure-logic-apps/1.0",
    }
    assert "secret-key" not in str(caller)
    assert caller_of({}, {"code": "k"}) == {"functionKeySha256": key_fingerprint("k"), "authentication": "functionKey"}
    long_name = {"x-ms-client-principal-name": "a\x00b" + "x" * 500}
    assert caller_of(long_name, {}, authentication_on=True)["principalName"] == "ab" + "x" * 254


def test_principal_headers_are_a_clients_word_unless_platform_authentication_is_on():
    # With a function key alone, anyone holding the key could claim to be the CISO.
    with running({}):
        caller = caller_of(SPOOFABLE, {})
    assert caller["authentication"] == "functionKey"
    assert not {"principalName", "principalId", "identityProvider"} & set(caller)
    # The address the front end appended, not the first one the client wrote.
    assert caller["clientIp"] == "203.0.113.9:443"
    with running({"WEBSITE_AUTH_ENABLED": "True"}):  # what App Service sets when authentication is on
        assert caller_of(SPOOFABLE, {})["principalName"] == "analyst@contoso.com"
    with running({"WEBSITE_AUTH_ENABLED": "False"}):
        assert caller_of(SPOOFABLE, {})["authentication"] == "functionKey"


def test_audit_line_and_blob_names():
    moment = datetime(2026, 11, 23, 23, 59, 59, tzinfo=UTC)
    line = record(operation="UpdateAlert", tenant=TENANT, target_type="alert", target_id="a1", caller={},
                  sent={"status": "resolved"}, before={"status": "new"}, after={"status": "resolved"},
                  graph_request_id="r", moment=moment)
    assert line["time"] == "2026-11-23T23:59:59.000000Z" and line["before"] == {"status": "new"}
    assert blob_name(TENANT, moment) == f"audit/tenant={TENANT}/2026/11/23.ndjson"
    assert blob_name(TENANT, moment, 2) == f"audit/tenant={TENANT}/2026/11/23.2.ndjson"


def test_idempotency_records_are_scoped():
    a = record_name(TENANT, "AddAlertComment:a1", "k")
    assert a.startswith(f"idempotency/tenant={TENANT}/") and a.endswith(".json")
    assert a != record_name(TENANT, "AddAlertComment:a2", "k") != record_name(TENANT, "AddIncidentComment:a1", "k")
    assert fingerprint({"comment": "x"}) == fingerprint({"comment": "x"}) != fingerprint({"comment": "y"})


def test_actions_turned_off_refuses_writes_before_anything_else():
    settings = load_settings({"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "x", "ACTIONS_ENABLED": "false"})
    for operation in ("UpdateAlert", "AddAlertComment", "BulkUpdateAlerts", "UpdateIncident",
                      "AddIncidentComment", "ConfirmRiskyUsersCompromised", "DismissRiskyServicePrincipals"):
        with pytest.raises(Problem) as caught:
            execute(operation, HttpCall("POST", "http://x/api/y"), settings)
        assert caught.value.status == 403 and "ACTIONS_ENABLED" in caught.value.detail
    document = execute("GetOpenApiDocument", HttpCall("GET", "https://app.example/api/openapi.json"), settings)
    assert document.status == 200 and document.body["host"] == "app.example"


def test_a_lost_answer_is_an_unknown_outcome_not_a_failure_before_graph():
    unsent = graph_problem(RequestNotSent("ConnectionError", "refused"), target="alert x", permission="p")
    assert unsent.status == 502 and "before it reached Graph" in unsent.detail
    cut_short = graph_problem(NoAnswer("ChunkedEncodingError", "connection broken"), target="alert x", permission="p")
    assert cut_short.status == 502 and cut_short.title == "Outcome unknown"
    assert "before it reached" not in cut_short.detail and cut_short.body()["outcomeUnknown"] is True
