"""The simulator's OData pieces without a server: timestamps, $filter parsing/type checks, query-option caps."""

from __future__ import annotations

import pytest

from local.graphsim import resources as R
from local.graphsim.errors import GraphError
from local.graphsim.odata import compile_filter, normalize_params, parse_filter, parse_list_query
from local.graphsim.ticks import format_ticks, parse_timestamp


def test_timestamps_round_trip_to_the_tick():
    ticks = parse_timestamp("2026-11-20T08:15:32.1234567Z")
    assert format_ticks(ticks) == "2026-11-20T08:15:32.1234567Z"
    assert parse_timestamp("2026-11-20T08:15:32Z") == ticks - 1234567
    assert parse_timestamp("2026-11-20T09:15:32.1234567+01:00") == ticks
    assert parse_timestamp("2026-11-20T08:15:32.12Z") == ticks - 34567
    for bad in ("2026-11-20T08:15:32.12345678Z", "2026-02-30T00:00:00Z", "2026-11-20 08:15:32Z", "yesterday"):
        assert parse_timestamp(bad) is None


def test_filter_grammar():
    node = parse_filter("(status eq 'new' or status eq 'it''s') and lastUpdateDateTime ge 2026-11-20T08:15:32Z")
    assert node.op == "and"
    for bad in (
        "status eq",
        "status eq 'new' and",
        "startswith(title,'x')",
        "status == 'new'",
        "(status eq 'new'",
        "evidence/any(e: e/x eq 'y')",
        "status EQ 'new'",
    ):
        with pytest.raises(GraphError) as err:
            parse_filter(bad)
        assert err.value.status == 400 and err.value.message.startswith("Invalid filter clause")


def _values(spec, **values):
    return tuple(values.get(p.name) for p in spec.filterable)


def test_compiled_filter_uses_a_cursor_range_and_a_residual_predicate():
    t = parse_timestamp("2026-11-20T08:15:32.1234567Z")
    flt = compile_filter(R.ALERTS, "lastUpdateDateTime ge 2026-11-20T08:15:32.1234567Z and status eq 'NEW'")
    assert (flt.low, flt.high) == (t, None)
    status_new = R.ALERTS.filterable[R.ALERTS.field_index("status")].enum.index("new")
    assert flt.predicate(_values(R.ALERTS, status=status_new))
    assert not flt.predicate(_values(R.ALERTS, status=status_new + 1))
    gt = compile_filter(R.ALERTS, "lastUpdateDateTime gt 2026-11-20T08:15:32.1234567Z")
    assert (gt.low, gt.predicate) == (t + 1, None)
    null = compile_filter(R.ALERTS, "assignedTo eq null")
    assert null.predicate(_values(R.ALERTS)) and not null.predicate(_values(R.ALERTS, assignedTo="a@b.c"))


@pytest.mark.parametrize(
    ("spec", "text", "message"),
    [
        (R.ALERTS, "investigationState eq 'running'", "Invalid filter clause"),
        (R.ALERTS, "detectionSource eq 'antivirus'", "Invalid filter clause"),
        (R.ALERTS, "nonsense eq 'x'", "Could not find a property named 'nonsense'"),
        (
            R.RISK_DETECTIONS,
            "createdDateTime ge 2026-01-01T00:00:00Z",
            "Could not find a property named 'createdDateTime' on type 'microsoft.graph.riskDetection'.",
        ),
        (R.RISKY_SERVICE_PRINCIPALS, "riskLastUpdatedDateTime ge 2026-01-01T00:00:00Z", "only 'eq'"),
        (R.SERVICE_PRINCIPAL_RISK_DETECTIONS, "requestId ne 'x'", "only 'eq'"),
        (R.ALERTS, "lastUpdateDateTime ge '2026-01-01T00:00:00Z'", "incompatible types"),
        (R.ALERTS, "severity eq 'catastrophic'", "not a valid enumeration"),
        (R.RISKY_USERS, "isDeleted eq 'yes'", "incompatible types"),
    ],
)
def test_filter_rejections(spec, text, message):
    with pytest.raises(GraphError) as err:
        compile_filter(spec, text)
    assert err.value.status == 400
    assert message in err.value.message


def test_query_option_caps():
    assert parse_list_query(R.ALERTS, {"$top": "1000"}).top == 1000
    assert parse_list_query(R.RISK_DETECTIONS, {"$top": "500", "$skip": "500"}).skip == 500
    for spec, params in [
        (R.ALERTS, {"$top": "1001"}),
        (R.RISK_DETECTIONS, {"$top": "501"}),
        (R.ALERTS, {"$skip": "501"}),
        (R.RISKY_USERS, {"$skip": "501"}),
        (R.ALERTS, {"$orderby": "lastUpdateDateTime asc"}),
        (R.ALERTS, {"$expand": "alerts"}),
        (R.INCIDENTS, {"$expand": "evidence"}),
        (R.ALERTS, {"$top": "-1"}),
    ]:
        with pytest.raises(GraphError):
            parse_list_query(spec, params)
    # v1.0 accepts system query options without the $ prefix.
    assert normalize_params([("top", "5"), ("custom", "x")]) == {"$top": "5"}
