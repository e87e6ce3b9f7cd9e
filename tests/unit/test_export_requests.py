from datetime import UTC, datetime

import pytest

from shared.export.engine import RunSummary
from shared.export.run_requests import parse_run_request, status_for
from shared.problems import Problem
from shared.settings import load_settings

TENANT = "11111111-1111-4111-8111-111111111111"
NOW = datetime(2026, 11, 23, 12, tzinfo=UTC)


@pytest.fixture
def settings():
    return load_settings({"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "x", "EXPORT_STREAMS": "alerts,riskyUsers"})


def problem(settings, stream="alerts", tenant=None, body=b""):
    with pytest.raises(Problem) as caught:
        parse_run_request(settings, stream, tenant, body, now=NOW)
    return caught.value


def test_a_plain_run(settings):
    request = parse_run_request(settings, "RISKYUSERS", None, b"", now=NOW)
    assert (request.stream, request.tenants, request.backfill) == ("riskyUsers", (TENANT,), None)


def test_a_backfill_window(settings):
    request = parse_run_request(settings, "alerts", TENANT.upper(), b'{"from":"2026-11-01T00:00:00Z",'
                                b'"to":"2026-11-02T00:00:00Z"}', now=NOW)
    assert request.backfill == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))


@pytest.mark.parametrize(
    ("kwargs", "status", "words"),
    [
        ({"stream": "nope"}, 404, "not a stream"),
        ({"stream": "incidents"}, 409, "EXPORT_STREAMS"),
        ({"tenant": "22222222-2222-4222-8222-222222222222"}, 400, "GRAPH_TENANT_IDS"),
        ({"body": b"{"}, 400, "JSON object"),
        ({"body": b"[]"}, 400, "JSON object"),
        ({"body": b'{"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z","x":1}'}, 400, "unknown field"),
        ({"body": b'{"from":"2026-11-02T00:00:00Z","to":"2026-11-01T00:00:00Z"}'}, 400, "before"),
        ({"body": b'{"from":"2026-11-01T00:00:00","to":"2026-11-02T00:00:00Z"}'}, 400, "time zone"),
        ({"body": b'{"from":"yesterday","to":"2026-11-02T00:00:00Z"}'}, 400, "ISO 8601"),
        ({"body": b'{"from":"2026-11-01T00:00:00Z","to":"2027-01-01T00:00:00Z"}'}, 400, "future"),
        ({"body": b" " + b"x" * 5000}, 413, "bytes"),
    ],
)
def test_bad_requests_get_a_clear_4xx(settings, kwargs, status, words):
    caught = problem(settings, **kwargs)
    assert caught.status == status and words in caught.detail
    assert caught.body()["status"] == status


def test_status_for_outcomes():
    def s(status):
        return RunSummary(stream="alerts", tenant=TENANT, status=status)

    assert status_for([s("ok"), s("partial")]) == 200
    assert status_for([s("ok"), s("skipped")]) == 409
    assert status_for([s("skipped"), s("failed")]) == 502


@pytest.mark.parametrize("body", [
    b"[" * 2048 + b"]" * 2048,  # deeper than the parser's stack: RecursionError
    b'{"from": ' + b"[" * 2040 + b"]" * 2040 + b"}",
])
def test_deeply_nested_json_is_a_400(settings, body):
    caught = problem(settings, body=body)
    assert caught.status == 400 and caught.title == "Malformed JSON"


@pytest.mark.parametrize("moment", ["0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59-14:00"])
def test_a_time_outside_what_utc_can_hold_is_a_400(settings, moment):
    caught = problem(settings, body=f'{{"from": "{moment}", "to": "2026-11-01T00:00:00Z"}}'.encode())
    assert caught.status == 400 and "out of range" in caught.detail


def test_a_context_stream_runs_but_has_no_backfill():
    settings = load_settings({"GRAPH_TENANT_IDS": TENANT, "BRIDGE_STORAGE": "x",
                              "EXPORT_STREAMS": "alerts,userContext"})
    assert parse_run_request(settings, "usercontext", None, b"", now=NOW).stream == "userContext"
    refused = problem(settings, "userContext", body=b'{"from":"2026-11-01T00:00:00Z","to":"2026-11-02T00:00:00Z"}')
    assert refused.status == 400 and "backfill those streams" in refused.detail
