"""Dropping a query option Graph refuses (shared/graph/query_options.py), remembered in its owner's dict."""

from __future__ import annotations

from typing import Any

import pytest

from shared.graph.client import GraphError
from shared.graph.query_options import RefusedOptions, send_adapting


def refused_options() -> tuple[RefusedOptions, dict[str, dict[str, Any]]]:
    kept: dict[str, dict[str, Any]] = {}  # the owner's dict (the export's checkpoint field)
    return RefusedOptions(kept), kept


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
    options, kept = refused_options()
    send, sent = graph_refusing("$top")
    learned: list[str] = []
    answer, params = send_adapting(send, {"$top": "500", "$orderby": "x asc", "$filter": "f"}, options,
                                   lambda option, _: learned.append(option))
    assert answer == "page" and params == {"$orderby": "x asc", "$filter": "f"}
    assert learned == ["$top"] and "$top" in options and list(kept) == ["$top"]
    assert "not supported" in kept["$top"]["error"]
    assert len(sent) == 2  # the message named $top: no guessing


def test_a_400_that_no_dropped_option_cures_is_raised_and_nothing_is_remembered():
    options, kept = refused_options()
    send, sent = graph_refusing("$filter")
    with pytest.raises(GraphError):
        send_adapting(send, {"$top": "500", "$filter": "f"}, options, lambda *_: None)
    assert kept == {}
    assert sent == [{"$top": "500", "$filter": "f"}, {"$filter": "f"}]
