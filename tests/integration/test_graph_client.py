"""The Graph client against the simulator: tokens, retries, errors, paging and pacing."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from shared.graph.client import GraphClient, GraphError
from shared.graph.errors import NoAnswer, RequestNotSent, UntrustedLink
from shared.graph.families import RateFamily
from shared.graph.pacing import RateBudgets


def client_for(settings, sim, **kwargs) -> GraphClient:
    return GraphClient(settings, sim.tenants[0], **kwargs)


def test_token_from_the_simulator_through_azure_identity_is_cached(make_sim, app_settings):
    sim = make_sim(alerts=30, token_expires_in=3600)
    client = client_for(app_settings(sim), sim)
    for _ in range(5):
        assert client.get("/security/alerts_v2", {"$top": "5"})["value"]
    assert sim.token_requests == 1
    record = sim.request_log[-1]
    headers = {k.lower(): v for k, v in record.headers.items()}
    assert headers["prefer"] == "include-unknown-enum-members"
    assert len(headers["client-request-id"]) == 36


def test_token_is_refreshed_when_it_nears_expiry(make_sim, app_settings):
    # MSAL refreshes a token with under 5 minutes left: a 4-minute token is renewed on every call.
    sim = make_sim(alerts=10, token_expires_in=240)
    client = client_for(app_settings(sim), sim)
    for _ in range(3):
        client.get("/security/alerts_v2", {"$top": "1"})
    assert sim.token_requests == 3


def test_a_refused_token_is_replaced_once_and_the_call_succeeds(make_sim, app_settings):
    # Graph refuses a token the credential still holds as valid (revoked here): without a new token every call would
    # fail until the cached one expired, up to an hour later.
    sim = make_sim(alerts=10, token_expires_in=3600)
    client = client_for(app_settings(sim), sim)
    assert client.get("/security/alerts_v2", {"$top": "1"})["value"]
    sim.expire_tokens()
    assert client.get("/security/alerts_v2", {"$top": "1"})["value"]
    assert sim.token_requests == 2
    # A second client of the process uses the new credential; the new token holds.
    assert client_for(app_settings(sim), sim).get("/security/alerts_v2", {"$top": "1"})["value"]
    assert sim.token_requests == 2


def test_a_token_graph_keeps_refusing_fails_after_one_renewal(make_sim, app_settings):
    sim = make_sim(alerts=10)
    client = client_for(app_settings(sim), sim)
    client.get("/security/alerts_v2", {"$top": "1"})
    sim.set_faults(fail_next=[401, 401, 401], path="alerts_v2")
    since = len(sim.request_log)
    with pytest.raises(GraphError) as caught:
        client.get("/security/alerts_v2", {"$top": "1"})
    assert caught.value.status == 401
    assert len([r for r in sim.request_log[since:] if "alerts_v2" in r.path]) == 2  # the call and one retry
    assert sim.token_requests == 2


def test_wrong_secret_fails_with_a_clear_error(make_sim, app_settings):
    sim = make_sim(alerts=1)
    client = client_for(app_settings(sim, GRAPH_CLIENT_SECRET="wrong"), sim)
    with pytest.raises(Exception, match="AADSTS"):
        client.get("/security/alerts_v2")


def test_429_with_retry_after_is_honoured(make_sim, app_settings):
    sim = make_sim(alerts=10)
    sim.set_faults(fail_next=[429, 429], retry_after=0.3, path="alerts_v2")
    client = client_for(app_settings(sim), sim)
    started = time.monotonic()
    assert len(client.get("/security/alerts_v2")["value"]) == 10
    assert time.monotonic() - started >= 0.6
    assert client.stats.throttled == 2 and client.stats.retries == 2
    assert client.stats.waited_seconds == pytest.approx(0.6, abs=0.05)


def test_429_without_retry_after_backs_off_exponentially(make_sim, app_settings):
    sim = make_sim(risky_users=10)
    sim.set_faults(fail_next=[429, 429], path="riskyUsers")
    client = client_for(app_settings(sim), sim)
    assert client.get("/identityProtection/riskyUsers")["value"]
    assert client.stats.throttled == 2
    assert client.stats.waited_seconds >= 0.5 * 2  # jittered back-off: at least half the base each time


@pytest.mark.parametrize("fault", [{"fail_next": [500, 502, 503, 504]}, {"reset_next": 2}, {"truncate_next": 2}])
def test_transient_failures_are_retried(make_sim, app_settings, fault):
    sim = make_sim(alerts=50)
    sim.set_faults(path="alerts_v2", **fault)
    client = client_for(app_settings(sim), sim)
    assert len(client.get("/security/alerts_v2")["value"]) == 50
    assert client.stats.retries >= 2


def graph_calls(sim, since: int, path: str) -> list:
    return [r for r in sim.request_log[since:] if path in r.path]


@pytest.mark.parametrize("fault", [{"reset_next": 1}, {"truncate_next": 1}])
def test_a_post_whose_answer_is_lost_is_not_sent_again(make_sim, app_settings, fault):
    # The comment may have been added: a second POST could add it twice, so the caller learns the outcome is unknown.
    sim = make_sim(alerts=1)
    alert_id = sim.alerts(sim.tenants[0])[0]["id"]
    client = client_for(app_settings(sim), sim, sleep=lambda s: None)
    client.get("/security/alerts_v2", {"$top": "1"})  # the token, fetched before the fault is set
    sim.set_faults(path="/comments", **fault)
    since = len(sim.request_log)
    with pytest.raises(NoAnswer) as caught:
        client.request("POST", f"/security/alerts_v2/{alert_id}/comments", idempotent=False,
                       json_body={"@odata.type": "microsoft.graph.security.alertComment", "comment": "once"})
    assert not caught.value.timed_out and caught.value.client_request_id
    assert len(graph_calls(sim, since, "/comments")) == 1 and client.stats.retries == 0


def test_a_late_answer_times_out_and_a_get_is_sent_again(make_sim, app_settings):
    sim = make_sim(alerts=5)
    client = client_for(app_settings(sim, GRAPH_TIMEOUT_SECONDS=1), sim, sleep=lambda s: None)
    client.get("/security/alerts_v2", {"$top": "1"})
    sim.set_faults(latency_ms=1500, times=1, path="alerts_v2")
    assert len(client.get("/security/alerts_v2")["value"]) == 5
    assert client.stats.retries == 1


def test_answers_that_stay_late_end_as_a_timed_out_no_answer(make_sim, app_settings):
    sim = make_sim(alerts=5)
    client = client_for(app_settings(sim, GRAPH_TIMEOUT_SECONDS=1, GRAPH_MAX_ATTEMPTS=2), sim, sleep=lambda s: None)
    client.get("/security/alerts_v2", {"$top": "1"})
    sim.set_faults(latency_ms=1500, path="alerts_v2")
    with pytest.raises(NoAnswer) as caught:
        client.get("/security/alerts_v2")
    assert caught.value.timed_out and caught.value.code == "ReadTimeout"
    assert client.stats.requests == 3 and client.stats.retries == 1  # the first call, then two attempts


def test_a_post_that_never_reached_graph_is_sent_again(make_sim, app_settings):
    # Nothing listens where Graph should be: each connect is refused, so even a POST may go again, up to the cap.
    sim = make_sim(alerts=1)
    with socket.create_server(("127.0.0.1", 0)) as closed:
        nowhere = f"https://127.0.0.1:{closed.getsockname()[1]}"
    client = client_for(app_settings(sim, GRAPH_ENDPOINT=nowhere, GRAPH_MAX_ATTEMPTS=3), sim, sleep=lambda s: None)
    with pytest.raises(RequestNotSent) as caught:
        client.request("POST", "/security/alerts_v2/x/comments", idempotent=False, json_body={"comment": "x"})
    assert not caught.value.timed_out and "not reached" in str(caught.value)
    assert client.stats.requests == 3 and client.stats.retries == 2


def test_attempts_are_capped(make_sim, app_settings):
    sim = make_sim(alerts=5)
    sim.set_faults(fail_next=[503] * 50, path="alerts_v2")
    client = client_for(app_settings(sim, GRAPH_MAX_ATTEMPTS=3), sim, sleep=lambda s: None)
    with pytest.raises(GraphError) as caught:
        client.get("/security/alerts_v2")
    assert caught.value.status == 503 and client.stats.requests == 3


def test_client_errors_surface_graph_code_and_request_id(make_sim, app_settings):
    sim = make_sim(alerts=5)
    client = client_for(app_settings(sim), sim)
    with pytest.raises(GraphError) as not_found:
        client.get("/security/alerts_v2/da000000000000000000_0")
    assert not_found.value.status == 404 and not_found.value.code == "NotFound"
    assert not_found.value.request_id and client.stats.retries == 0
    with pytest.raises(GraphError) as bad_filter:
        client.get("/security/alerts_v2", {"$filter": "investigationState eq 'running'"})
    assert bad_filter.value.status == 400 and bad_filter.value.code == "BadRequest"
    sim.set_faults(fail_next=[403], path="alerts_v2")
    with pytest.raises(GraphError) as forbidden:
        client.get("/security/alerts_v2")
    assert forbidden.value.status == 403 and "request-id" in str(forbidden.value)


def test_paging_2500_items_loses_and_repeats_nothing(make_sim, app_settings):
    sim = make_sim(alerts=2600)
    client = client_for(app_settings(sim), sim)
    seen: list[str] = []
    pages = 0
    for page in client.iter_pages("/security/alerts_v2", {"$top": "1000"}):
        pages += 1
        seen += [item["id"] for item in page.items]
    assert pages == 3
    assert len(seen) == len(set(seen)) == 2600
    assert set(seen) == {a["id"] for a in sim.alerts(sim.tenants[0])}


def test_next_link_to_another_host_is_refused(make_sim, app_settings):
    sim = make_sim(alerts=1)
    client = client_for(app_settings(sim), sim)
    with pytest.raises(UntrustedLink, match=r"evil\.example"):
        list(client.iter_pages("/security/alerts_v2", start_url="https://evil.example/v1.0/security/alerts_v2"))


def test_rate_budget_keeps_a_burst_under_the_simulated_limit(make_sim, app_settings):
    # The simulator enforces Graph's limits 40x faster (security: 150 per 1.5 s); the client is told the same
    # rate (150 x 40 per minute). A burst of 400 requests from 4 threads must not draw a single 429.
    scale = 40
    sim = make_sim(alerts=3, throttle=True, throttle_scale=scale)
    settings = app_settings(sim, GRAPH_SECURITY_REQUESTS_PER_MINUTE=150 * scale)
    budgets = RateBudgets({RateFamily.SECURITY.value: (150 * scale, 60.0),
                           RateFamily.IDENTITY_PROTECTION.value: (1, 1.0)})
    client = client_for(settings, sim, budgets=budgets)
    errors: list[BaseException] = []

    def burst() -> None:
        try:
            for _ in range(100):
                client.get("/security/alerts_v2", {"$top": "1"})
        except BaseException as exc:  # collected and asserted below
            errors.append(exc)

    threads = [threading.Thread(target=burst) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert client.stats.throttled == 0 and sim.throttled_count["security"] == 0
    assert client.stats.requests == 400


def test_without_the_budget_the_same_burst_is_throttled(make_sim, app_settings):
    # The control for the test above: the simulator's limit is real, so the budget is what keeps us under it.
    # A 6 s window (150 requests per 60 s, ten times faster): 151 requests fit in it even on a loaded machine
    # (a 1.5 s window did not, at times, when other test workers held the CPU).
    sim = make_sim(alerts=3, throttle=True, throttle_scale=10)
    client = client_for(app_settings(sim), sim)
    for _ in range(200):
        client.get("/security/alerts_v2", {"$top": "1"})
        if client.stats.throttled:
            break
    assert sim.throttled_count["security"] > 0 and client.stats.throttled > 0


def _patches(alert_ids: list[str], status: str) -> list[dict]:
    return [{"id": str(n), "method": "PATCH", "url": f"/security/alerts_v2/{alert_id}",
             "headers": {"Content-Type": "application/json"}, "body": {"status": status}}
            for n, alert_id in enumerate(alert_ids)]


def test_batch_retries_the_throttled_inner_requests_until_all_are_answered(make_sim, app_settings):
    # Graph throttles a $batch's inner requests one by one (security: 150 per window; here 20x faster, 3 s: ten
    # batches in a row fit in it even on a busy machine). With no client-side pacing, 200 inner requests overflow
    # the window; the client retries only the throttled ones, after Graph's Retry-After, until every request has
    # its real answer.
    sim = make_sim(alerts=200, throttle=True, throttle_scale=20)
    client = client_for(app_settings(sim), sim)
    ids = [a["id"] for a in sim.alerts(sim.tenants[0])]
    answers = [a for start in range(0, 200, 20) for a in client.batch(_patches(ids[start:start + 20], "inProgress"),
                                                                      family=RateFamily.SECURITY)]
    assert sim.throttled_count["security"] > 0 and client.stats.throttled > 0
    assert [a["status"] for a in answers] == [200] * 200
    assert {a["status"] for a in sim.alerts(sim.tenants[0])} == {"inProgress"}
    inner = [r for r in sim.request_log if r.in_batch]
    assert sum(1 for r in inner if r.status == 200) == 200  # each alert patched once: only throttled ones resent


def test_batch_returns_graphs_own_429_when_the_wait_cap_ends_the_retries(make_sim, app_settings):
    # At Graph's real window (150 per 60 s) the Retry-After is longer than the 1 s this client may wait, so the
    # throttled requests come back as Graph answered them: status, Retry-After and error code, for the caller to
    # pass on (the bulk endpoint reports retryAfter per id from it).
    sim = make_sim(alerts=160, throttle=True)
    client = client_for(app_settings(sim, GRAPH_MAX_RETRY_WAIT_SECONDS=1), sim)
    ids = [a["id"] for a in sim.alerts(sim.tenants[0])]
    answers = [a for start in range(0, 160, 20) for a in client.batch(_patches(ids[start:start + 20], "resolved"),
                                                                      family=RateFamily.SECURITY)]
    throttled = [a for a in answers if a["status"] == 429]
    assert len(throttled) == 10 and sum(1 for a in answers if a["status"] == 200) == 150
    assert all(a["body"]["error"]["code"] == "TooManyRequests" for a in throttled)
    assert all(float(a["headers"]["Retry-After"]) > 1 for a in throttled)
