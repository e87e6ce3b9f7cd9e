"""The pager's decisions (shared/export/paging.py) on pages Graph could send; integration tests check the outcome."""

from __future__ import annotations

from shared.export.checkpoints import PassState
from shared.export.paging import MAX_SKIP, Page, advance, next_tick, query_params, start_pass
from shared.export.streams import STREAMS

ALERTS = STREAMS["alerts"]
LOW = "2026-11-01T00:00:00.0000000Z"


def v(second: int, tick: int = 0) -> str:
    return f"2026-11-01T00:{second // 60:02d}:{second % 60:02d}.{tick:07d}Z"


def new_pass() -> PassState:
    state = PassState(low=LOW)
    start_pass(state)
    return state


def test_a_next_link_is_followed():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(1)] * 1000, "https://next", 1000, 1000))
    assert state.next_link == "https://next"


def test_a_short_page_without_next_link_ends_a_stream_that_does_not_return_short_pages():
    state = new_pass()
    assert advance(ALERTS, state, Page([v(3), v(2)], None, 1000, 2))


def test_a_full_page_newest_first_continues_below_its_oldest_version():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(9), v(5, 7)], None, 2, 2))
    assert (state.window_low, state.window_high) == (LOW, next_tick(v(5, 7)))
    params = query_params(ALERTS, state, top=True, orderby=True)
    assert params["$filter"] == f"lastUpdateDateTime ge 2026-11-01T00:00:00Z and lastUpdateDateTime lt {v(5, 8)}"
    assert params["$orderby"] == "lastUpdateDateTime asc"  # only now that the nextLink failed us


def test_a_full_page_oldest_first_continues_from_its_newest_version():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(1), v(4, 3)], None, 2, 2))
    assert state.window_low == v(4, 3) and state.window_high is None


def test_a_full_page_on_one_timestamp_reads_it_with_skip_then_the_rest_of_the_window():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(7)] * 1000, None, 1000, 1000))
    assert (state.window_low, state.window_high, state.skip) == (v(7), next_tick(v(7)), MAX_SKIP)
    assert state.pending == [[LOW, v(7)], [next_tick(v(7)), None]]
    assert query_params(ALERTS, state, top=True, orderby=True)["$skip"] == "500"
    assert not advance(ALERTS, state, Page([v(7)] * 700, None, 1000, 200))  # 1,200 on one timestamp: all read
    assert state.skip == 0 and state.limit_hits == [] and state.window_low == LOW
    assert not advance(ALERTS, state, Page([], None, 1000, 0))
    assert advance(ALERTS, state, Page([], None, 1000, 0))


def test_more_versions_on_one_timestamp_than_skip_reaches_are_reported():
    state = new_pass()
    advance(ALERTS, state, Page([v(7)] * 1000, None, 1000, 1000))
    advance(ALERTS, state, Page([v(7)] * 1000, None, 1000, 500))
    assert state.limit_hits == [v(7)]


def test_short_pages_end_only_when_a_query_brings_nothing_new():
    detections = STREAMS["riskDetections"]
    state = new_pass()
    assert not advance(detections, state, Page([v(9), v(2)], None, 500, 2))
    assert advance(detections, state, Page([v(2)], None, 500, 0))


def test_next_tick_carries_into_the_next_second():
    assert next_tick("2026-11-01T00:00:59.9999999Z") == "2026-11-01T00:01:00.0000000Z"


def test_a_page_in_no_order_splits_the_window_at_the_middle_of_its_span():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(2), v(10), v(4)], None, 3, 3))
    assert state.window_low == LOW and state.window_high == v(6)
    assert state.pending == [[v(6), None]]


def test_without_a_top_only_a_query_that_brings_nothing_new_ends_the_window():
    state = new_pass()
    assert not advance(ALERTS, state, Page([v(9), v(3)], None, 0, 2))
    assert advance(ALERTS, state, Page([v(3)], None, 0, 0))


def test_a_snapshot_stream_reads_on_with_skip_until_nothing_is_new():
    snapshot = STREAMS["riskyServicePrincipals"]
    state = new_pass()
    assert not advance(snapshot, state, Page([v(1)] * 120, None, 500, 120))
    assert query_params(snapshot, state, top=True, orderby=False) == {"$top": "500", "$skip": "120"}
    assert advance(snapshot, state, Page([], None, 500, 0))
