"""Dropping a query option Graph refuses (shared/graph/query_options.py), with a stand-in for the blob it is kept in."""

from __future__ import annotations

import pytest

from shared.graph.client import GraphError
from shared.graph.query_options import RefusedOptions, send_adapting


class MemoryBlob:
    url = "memory://query-options/alerts/tenant.json"

    def __init__(self) -> None:
        self.uploads: list[bytes] = []

    def upload_blob(self, data: bytes, overwrite: bool) -> None:
        self.uploads.append(data)


def refused_options() -> tuple[RefusedOptions, MemoryBlob]:
    options = RefusedOptions.__new__(RefusedOptions)
    blob = MemoryBlob()
    options._blob, options.refused = blob, {}  # type: ignore[assignment]
    return options, blob


def graph_refusing(*options: str):
    sent: list[dict[str, str]] = []

    def send(params: dict[str, str]) -> str:
        sent.append(params)
        for option in options:
            if option in params:
                raise GraphError(400, "BadRequest", f"Query option '{option}' is not supported.")
        return "page"

    return send, sent


def test_the_refused_option_is_dropped_remembered_and_reported():
    options, blob = refused_options()
    send, sent = graph_refusing("$top")
    learned: list[str] = []
    answer, params = send_adapting(send, {"$top": "500", "$orderby": "x asc", "$filter": "f"}, options,
                                   lambda option, _: learned.append(option))
    assert answer == "page" and params == {"$orderby": "x asc", "$filter": "f"}
    assert learned == ["$top"] and "$top" in options and len(blob.uploads) == 1
    assert len(sent) == 2  # the message named $top: no guessing


def test_a_400_that_no_dropped_option_cures_is_raised_and_nothing_is_remembered():
    options, blob = refused_options()
    send, sent = graph_refusing("$filter")
    with pytest.raises(GraphError):
        send_adapting(send, {"$top": "500", "$filter": "f"}, options, lambda *_: None)
    assert options.refused == {} and blob.uploads == []
    assert sent == [{"$top": "500", "$filter": "f"}, {"$filter": "f"}]
