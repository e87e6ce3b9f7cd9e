"""The enrichment's bulk lookups on their own: the filter that names up to 15 entities, quoting, the split into
requests and batches, and what a list answer proves (keys compared whatever their case; absence only from a complete
answer)."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from shared.context.bulk_lookups import (
    FILTER_MAX_VALUES,
    KINDS,
    bulk_url,
    chunks,
    compact,
    filter_for,
    odata_string,
    read_list,
    single_url,
)
from shared.context.lookups import BATCH_SIZE, Lookup, batches

USER, DEVICE = KINDS["user"], KINDS["device"]


def test_a_single_quote_in_a_value_is_doubled_as_odata_string_literals_require():
    assert odata_string("abc") == "'abc'"
    assert odata_string("o'brien") == "'o''brien'"
    assert odata_string("'; drop") == "'''; drop'"
    assert filter_for(USER, ["a", "o'b"]) == "id in ('a','o''b')"
    assert filter_for(DEVICE, ["x", "y'"]) == "deviceId eq 'x' or deviceId eq 'y'''"


def test_users_are_named_with_in_and_devices_with_eq_or_and_both_select_their_fields():
    url = bulk_url(USER, ["a b", "c&d"])
    path, query = urlsplit(url).path, dict(parse_qsl(urlsplit(url).query))
    assert path == "/users" and query["$filter"] == "id in ('a b','c&d')"  # encoded in the URL, decoded here
    assert query["$select"].split(",") == list(USER.fields)
    url = bulk_url(DEVICE, ["x"])
    assert dict(parse_qsl(urlsplit(url).query))["$filter"] == "deviceId eq 'x'"
    assert single_url(USER, "a/b") == f"/users/a%2Fb?$select={','.join(USER.fields)}"
    assert single_url(DEVICE, "x") == url


def test_a_filter_names_1_to_15_entities_and_the_split_fills_each_request():
    assert FILTER_MAX_VALUES == 15
    filter_for(USER, [str(i) for i in range(15)])
    for wrong in ([], [str(i) for i in range(16)]):
        with pytest.raises(ValueError, match="1 to 15"):
            filter_for(DEVICE, wrong)
    keys = [str(i) for i in range(31)]
    assert [len(c) for c in chunks(keys)] == [15, 15, 1] and [k for c in chunks(keys) for k in c] == keys
    assert chunks([]) == []


def test_a_list_answer_is_read_by_key_whatever_the_case_and_is_complete_only_without_a_next_link():
    body = {"value": [{"id": "ABC-1", "displayName": "A"}, {"id": "abc-1", "displayName": "dup"}, {"id": None},
                      "junk", {"id": "def-2"}]}
    listing = read_list(USER, body)
    assert listing is not None and listing.complete
    assert set(listing.found) == {"abc-1", "def-2"} and listing.found["abc-1"]["displayName"] == "A"
    paged = read_list(DEVICE, {"value": [{"deviceId": "D-1"}], "@odata.nextLink": "https://graph/next"})
    assert paged is not None and not paged.complete and set(paged.found) == {"d-1"}
    assert read_list(USER, {"id": "abc"}) is None and read_list(USER, None) is None


def test_compact_keeps_the_selected_fields_that_have_a_value_in_field_order():
    item = {"jobTitle": "Engineer", "id": "u1", "department": None, "extra": 1, "accountEnabled": False}
    assert list(compact(USER, item).items()) == [("id", "u1"), ("accountEnabled", False), ("jobTitle", "Engineer")]


def test_lookups_go_in_as_few_batches_as_possible_in_order():
    def sizes(count: int) -> list[int]:
        lookups = [Lookup(i, f"/users/{i}") for i in range(count)]
        chunks_ = batches(lookups)
        assert [lookup.key for chunk in chunks_ for lookup in chunk] == list(range(count))  # each once, in order
        return [len(chunk) for chunk in chunks_]

    assert BATCH_SIZE == 20
    assert sizes(0) == [] and sizes(1) == [1] and sizes(20) == [20] and sizes(40) == [20, 20]
    assert sizes(23) == [20, 3] and sizes(41) == [20, 20, 1]
