"""GraphClient.batch() across attempts, with Graph's answers scripted at the HTTP boundary (a fake requests
session): the cases the simulator cannot produce on demand, an answer that leaves a request out and a retry that
fails as a whole."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest

from shared.graph.client import GraphClient
from shared.graph.families import RateFamily
from shared.graph.pacing import RateBudgets
from shared.settings import load_settings

TENANT = "11111111-1111-4111-8111-111111111111"


class ScriptedSession:
    """Answers each POST /$batch with the next scripted (status, body) and records what was sent."""

    def __init__(self, script: list[tuple[int, dict]]) -> None:
        self.script = list(script)
        self.sent: list[dict] = []

    def request(self, method, url, *, params=None, data=None, headers=None, timeout=None):
        self.sent.append(json.loads(data))
        status, body = self.script.pop(0)
        return SimpleNamespace(status_code=status, content=json.dumps(body).encode(),
                               headers={"request-id": f"req-{len(self.sent)}", "Content-Type": "application/json"})


def client(session: ScriptedSession, **env: str) -> GraphClient:
    settings = load_settings({"GRAPH_TENANT_IDS": TENANT, "GRAPH_AUTH_MODE": "managed_identity",
                              "BRIDGE_STORAGE": "UseDevelopmentStorage=true", **env})
    token = SimpleNamespace(get_token=lambda *scopes, **kw: SimpleNamespace(token="t", expires_on=2**40))
    budgets = RateBudgets({RateFamily.SECURITY.value: (100000, 60.0),
                           RateFamily.IDENTITY_PROTECTION.value: (1000, 1.0)})
    return GraphClient(settings, TENANT, credential=token, session=session, budgets=budgets, sleep=lambda s: None)


def patches(n: int) -> list[dict]:
    return [{"id": str(i), "method": "PATCH", "url": f"/security/alerts_v2/a{i}",
             "headers": {"Content-Type": "application/json"}, "body": {"status": "resolved"}} for i in range(n)]


def ok(i: str) -> dict:
    return {"id": i, "status": 200, "body": {"id": f"a{i}"}}


def throttled(i: str) -> dict:
    return {"id": i, "status": 429, "headers": {"Retry-After": "0.05"}, "body": {"error": {"code": "TooManyRequests"}}}


def test_a_retry_that_fails_as_a_whole_keeps_what_earlier_attempts_got():
    session = ScriptedSession([
        (200, {"responses": [ok("0"), throttled("1")]}),  # "2" left out
        (500, {"error": {"code": "InternalServerError", "message": "boom"}}),
        (500, {"error": {"code": "InternalServerError", "message": "boom"}}),
    ])
    answers = client(session, GRAPH_MAX_ATTEMPTS="2").batch(patches(3), family=RateFamily.SECURITY)
    assert answers[0]["status"] == 200  # updated in the first attempt: reported, not lost
    assert [a["status"] for a in answers[1:]] == [500, 500]
    assert answers[1]["body"]["error"]["code"] == "InternalServerError"
    assert answers[1]["headers"]["request-id"] == "req-3"
    assert [r["id"] for r in session.sent[1]["requests"]] == ["1", "2"]  # only the pending ones sent again


def test_a_request_left_out_of_the_last_answer_is_reported_as_unanswered_not_as_its_old_429():
    session = ScriptedSession([
        (200, {"responses": [ok("0"), throttled("1")]}),
        (200, {"responses": []}),
        (200, {"responses": []}),
    ])
    answers = client(session, GRAPH_MAX_ATTEMPTS="3").batch(patches(2), family=RateFamily.SECURITY)
    assert answers[0]["status"] == 200
    assert answers[1]["status"] == 504 and answers[1]["body"]["error"]["code"] == "NoAnswerInBatch"


def test_a_throttled_request_keeps_graphs_answer_when_attempts_run_out():
    session = ScriptedSession([(200, {"responses": [throttled("0")]})] * 2)
    answers = client(session, GRAPH_MAX_ATTEMPTS="2").batch(patches(1), family=RateFamily.SECURITY)
    assert answers[0]["status"] == 429 and answers[0]["headers"]["Retry-After"] == "0.05"


def test_only_idempotent_requests_may_be_batched():
    post = [{"id": "0", "method": "POST", "url": "/security/alerts_v2/a0/comments", "body": {"comment": "x"},
             "headers": {"Content-Type": "application/json"}}]
    with pytest.raises(ValueError, match="idempotent"):
        client(ScriptedSession([])).batch(post, family=RateFamily.SECURITY)
