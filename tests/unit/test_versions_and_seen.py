from datetime import UTC, datetime, timedelta

from shared.export.checkpoints import Checkpoint, PassState, SeenVersions
from shared.graph.versions import normalize_version, odata_literal, shift, version_key


def test_normal_form_keeps_all_seven_digits_and_orders_as_time():
    a = normalize_version("2026-11-20T08:15:32.1234567Z")
    b = normalize_version("2026-11-20T08:15:32.1234568Z")
    assert a == "2026-11-20T08:15:32.1234567Z"
    assert a < b  # a datetime would have merged these two versions
    assert normalize_version("2026-11-20T08:15:32Z") == "2026-11-20T08:15:32.0000000Z"
    assert normalize_version("2026-11-20T10:15:32.5+02:00") == "2026-11-20T08:15:32.5000000Z"
    assert normalize_version(None) is None and normalize_version("yesterday") is None


def test_filter_literal_and_shift():
    version = "2026-11-20T08:15:32.1234567Z"
    assert odata_literal(version) == "2026-11-20T08:15:32Z"
    assert shift(version, -timedelta(minutes=10)).startswith("2026-11-20T08:05:32.123456")


def test_seen_versions_round_trip_and_prune():
    seen = SeenVersions()
    old, new = "2026-11-20T08:00:10.0000000Z", "2026-11-20T09:00:00.0000001Z"
    seen.add(version_key("a", old), old)
    seen.add(version_key("b", new), new)
    seen.add(version_key("c", ""), "")  # unversioned: kept for good
    restored = SeenVersions.from_json(seen.to_json())
    assert version_key("a", old) in restored and len(restored) == 3
    restored.prune_before("2026-11-20T08:30:00.0000000Z")
    assert version_key("a", old) not in restored
    assert version_key("b", new) in restored and version_key("c", "") in restored


def test_prune_keeps_the_minute_of_the_boundary():
    seen = SeenVersions()
    edge = "2026-11-20T08:30:59.9999999Z"
    seen.add(version_key("a", edge), edge)
    seen.prune_before("2026-11-20T08:30:10.0000000Z")
    assert version_key("a", edge) in seen


def test_checkpoint_json_round_trip():
    checkpoint = Checkpoint(stream="alerts", tenant="t", cursor="2026-11-20T08:00:00.0000000Z", seq=7,
                            partition="date=2026-11-20/hour=08",
                            pass_state=PassState(low="2026-11-20T07:50:00.0000000Z", next_link="https://x/next"))
    checkpoint.seen.add(version_key("a", checkpoint.cursor), checkpoint.cursor)
    restored = Checkpoint.from_json(checkpoint.to_json())
    assert restored.seq == 7 and restored.pass_state == checkpoint.pass_state
    assert version_key("a", checkpoint.cursor) in restored.seen


def test_keys_are_compact_and_distinct():
    now = datetime(2026, 11, 20, tzinfo=UTC).isoformat()
    keys = {version_key(str(i), now) for i in range(10_000)}
    assert len(keys) == 10_000 and all(len(k) == 12 for k in keys)


def test_years_before_1000_keep_four_digits():
    # A backfill window from year 1 once became the $filter literal "1-01-01T00:00:00Z", which Graph refuses.
    from datetime import UTC, datetime

    from shared.graph.versions import from_datetime, normalize_version, odata_literal

    assert from_datetime(datetime(1, 1, 1, tzinfo=UTC)) == "0001-01-01T00:00:00.0000000Z"
    assert odata_literal(from_datetime(datetime(999, 5, 6, 7, 8, 9, tzinfo=UTC))) == "0999-05-06T07:08:09Z"
    assert normalize_version("0001-01-01T10:00:00+09:00") == "0001-01-01T01:00:00.0000000Z"
