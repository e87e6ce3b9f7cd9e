"""The pure parts of the list actions and of the sealed tokens: the OData the filters become, the time cursor taken
from a page without nextLink (both page orders, ties, a page in no order), and tokens that refuse any edit."""

from __future__ import annotations

import pytest

from shared.actions import queries
from shared.actions.queries import ALERTS, INCIDENTS, Continuation, parse_query
from shared.actions.tokens import open_sealed, seal
from shared.problems import Problem

KEY = b"k" * 32


def item(item_id: str, version: str) -> dict:
    return {"id": item_id, "lastUpdateDateTime": version}


def test_filters_become_odata_in_one_order_with_whole_second_bounds():
    query = parse_query({"severity": "HIGH,low", "status": "new", "assignedTo": " O'Brien ",
                         "updatedAfter": "2026-11-01T10:00:00.5+01:00", "createdBefore": "2026-11-02T00:00:00Z"},
                        ALERTS)
    assert query.clauses() == [
        "(severity eq 'low' or severity eq 'high')",
        "(status eq 'new')",
        "assignedTo eq 'O''Brien'",
        "createdDateTime lt 2026-11-02T00:00:01Z",
        "lastUpdateDateTime ge 2026-11-01T09:00:00Z",
    ]
    # The exact bounds are applied to each item: Graph got whole seconds that include them.
    assert not query.keeps(item("a", "2026-11-01T09:00:00.4Z") | {"createdDateTime": "2026-11-01T00:00:00Z"})
    assert query.keeps(item("a", "2026-11-01T09:00:00.5Z") | {"createdDateTime": "2026-11-01T23:59:59.9Z"})
    assert not query.keeps(item("a", "2026-11-01T09:00:01Z") | {"createdDateTime": "2026-11-02T00:00:00Z"})


def test_detection_source_is_applied_by_the_app():
    query = parse_query({"detectionSource": "antivirus"}, ALERTS)
    assert query.clauses() == []
    assert query.keeps({"detectionSource": "Antivirus"}) and not query.keeps({"detectionSource": "manual"})


def test_incidents_have_no_service_source_and_their_own_statuses():
    assert parse_query({"serviceSource": "microsoftSentinel"}, INCIDENTS).clauses() == []  # not an incident filter
    with pytest.raises(Problem) as refused:
        parse_query({"status": "new"}, INCIDENTS)
    assert refused.value.status == 400 and refused.value.extra["errors"][0]["field"] == "status"


def test_every_bad_field_is_reported_together():
    with pytest.raises(Problem) as refused:
        parse_query({"severity": "x", "top": "-1", "updatedAfter": "soon"}, ALERTS)
    assert {e["field"] for e in refused.value.extra["errors"]} == {"severity", "top", "updatedAfter"}


def test_a_full_newest_first_page_continues_before_its_oldest_second():
    query = parse_query({"top": "3"}, ALERTS)
    page = [item("a", "2026-11-01T10:00:09Z"), item("b", "2026-11-01T10:00:05.7Z"), item("c", "2026-11-01T10:00:05.2Z")]
    cont = queries._next_continuation(page, query, "t", None)
    assert cont is not None and cont.before == "2026-11-01T10:00:05Z" and cont.after is None
    assert len(cont.edge_keys) == 2  # b and c are in the edge second: they will come again and are left out


def test_a_full_oldest_first_page_continues_from_its_newest_second():
    query = parse_query({"top": "3"}, ALERTS)
    page = [item("a", "2026-11-01T10:00:01Z"), item("b", "2026-11-01T10:00:05.2Z"), item("c", "2026-11-01T10:00:05.7Z")]
    cont = queries._next_continuation(page, query, "t", None)
    assert cont is not None and cont.after == "2026-11-01T10:00:05Z" and cont.before is None


def test_more_versions_in_one_second_than_a_page_holds_still_progress_then_stop():
    query = parse_query({"top": "2"}, ALERTS)
    first = [item("a", "2026-11-01T10:00:05.9Z"), item("b", "2026-11-01T10:00:05.8Z")]
    cont = queries._next_continuation(first, query, "t", None)
    assert cont is not None and len(cont.edge_keys) == 2
    second = [item("c", "2026-11-01T10:00:05.7Z"), item("d", "2026-11-01T10:00:05.6Z")]
    cont = queries._next_continuation(second, query, "t", cont)
    assert cont is not None and len(cont.edge_keys) == 4  # the same second: the keys add up
    assert queries._next_continuation(second, query, "t", cont) is None  # nothing new: no endless paging


def test_a_full_page_in_no_order_without_nextlink_is_reported_not_read_with_gaps():
    query = parse_query({"top": "3"}, ALERTS)
    page = [item("a", "2026-11-01T10:00:05Z"), item("b", "2026-11-01T10:00:09Z"), item("c", "2026-11-01T10:00:01Z")]
    with pytest.raises(Problem) as failed:
        queries._next_continuation(page, query, "t", None)
    assert failed.value.status == 502


def test_continuations_round_trip_and_refuse_any_edit():
    cont = Continuation("q", "t", None, "2026-11-01T10:00:05Z", None, ["k1"])
    token = seal(KEY, "list:alert", cont.to_json())
    assert Continuation.from_json(open_sealed(KEY, "list:alert", token, what="x", parameter="p")) == cont
    payload, mac = token.split(".")
    for forged in (payload[:-1] + ("A" if payload[-1] != "A" else "B") + "." + mac, payload + "." + mac[:-2],
                   token + ".x", "", "." + mac):
        with pytest.raises(Problem) as refused:
            open_sealed(KEY, "list:alert", forged, what="x", parameter="p")
        assert refused.value.status == 400
    with pytest.raises(Problem):
        open_sealed(KEY, "list:incident", token, what="x", parameter="p")  # sealed for another use
    with pytest.raises(Problem):
        open_sealed(b"o" * 32, "list:alert", token, what="x", parameter="p")  # another app's key
