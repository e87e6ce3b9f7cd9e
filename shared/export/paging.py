"""How one export pass walks a Graph collection until the data proves it has read everything.

Graph documents `@odata.nextLink` as the way to page, but it has been seen to leave it out on alerts_v2 while more
items match, and to clamp `$top` instead of refusing it (docs/graph-notes.md, "Paging"). So a page without a
nextLink ends a query only when it cannot have been cut short: it holds fewer items than were asked for, on an API
that does not return short pages. Otherwise the pass continues from the data, with a narrower window:

- the page came oldest first: from its newest version on (`ge`: versions sharing that timestamp are read again and
  the engine drops the ones it already wrote);
- the page came newest first (Graph's default order): up to and including its oldest version;
- no order: the window is split in two at the middle of the page's time span.

Window edges taken from the data are exact (all 7 fractional digits, as Graph wrote them), so the window shrinks
with every query. When every version of a cut page shares one timestamp, no time filter can narrow it: that
timestamp is read with `$skip`, which Graph refuses beyond 500, so at most `MAX_SKIP` + one page (1,500 alerts)
of versions sharing one timestamp can be reached. Beyond that the pass records the timestamp as a limit it hit,
and the run summary reports it. Collections without a time filter (snapshot streams) are read with `$skip` only.

Everything here is state in `PassState` (saved with the checkpoint after every page), so a pass resumes after a
crash where it stopped, and pure logic: the engine does the requests and the writing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from shared.export.checkpoints import PassState
from shared.export.streams import Stream
from shared.graph.versions import from_datetime, odata_literal, shift, to_datetime

MAX_SKIP = 500  # Graph's documented `$skip` limit for the security API (docs/graph-notes.md, "Paging")
TICKS_PER_SECOND = 10_000_000  # Graph's DateTimeOffset values carry 100 ns ticks (7 fractional digits)


def next_tick(version: str) -> str:
    """The smallest version after `version` (normal form): `lt next_tick(v)` means "at or before v"."""
    ticks = int(version[20:27]) + 1
    if ticks < TICKS_PER_SECOND:
        return f"{version[:20]}{ticks:07d}Z"
    return shift(version[:19] + ".0000000Z", timedelta(seconds=1))


@dataclass(frozen=True)
class Page:
    """What the pager needs to know of one answer."""

    versions: list[str]  # the items' normalised versions, in the order Graph returned them ("" when missing)
    next_link: str | None
    asked: int  # the $top this query sent (0: none)
    fresh: int  # items of the page not written before


def start_pass(pass_state: PassState) -> None:
    pass_state.window_low = pass_state.low
    pass_state.window_high = pass_state.high
    pass_state.skip = 0
    pass_state.pending = []


def window_of(pass_state: PassState) -> tuple[str, str | None]:
    """The window of the query in progress (a checkpoint from before windows existed: the pass's own)."""
    return pass_state.window_low or pass_state.low, pass_state.window_high or pass_state.high


def query_params(stream: Stream, pass_state: PassState, *, top: bool, orderby: bool,
                 extra: dict[str, str] | None = None) -> dict[str, str]:
    """The parameters of the next query of the pass (when there is no nextLink to follow)."""
    params: dict[str, str] = {}
    if top:
        params["$top"] = str(stream.page_cap)
    if stream.filterable:
        low, high = window_of(pass_state)
        # The pass's own edges come from the clock and are floored to the second, as they always were; edges taken
        # from the data are exact, or a window could not shrink below one second.
        low_text = odata_literal(low) if low == pass_state.low else low
        clauses = [f"{stream.cursor_field} ge {low_text}"]
        if high:
            high_text = odata_literal(high) if high == pass_state.high else high
            clauses.append(f"{stream.cursor_field} lt {high_text}")
        params["$filter"] = " and ".join(clauses)
        # Only once the nextLink has failed us: a pass that pages with nextLinks never sends an option that Graph
        # does not document for alerts_v2 (and the engine drops it when Graph refuses it). $skip keeps the order of
        # the query whose matches it skips.
        wanted = pass_state.ordered if pass_state.skip else continuing(pass_state) and not pass_state.linked
        if orderby and wanted:
            params["$orderby"] = f"{stream.cursor_field} asc"
    if pass_state.skip:
        params["$skip"] = str(pass_state.skip)
    params.update(extra or {})
    return params


def continuing(pass_state: PassState) -> bool:
    """True once the pass has left its first query (it is continuing from the data)."""
    low, high = window_of(pass_state)
    return bool(pass_state.skip or pass_state.pending or low != pass_state.low or high != pass_state.high)


def advance(stream: Stream, pass_state: PassState, page: Page) -> bool:
    """Move the pass past `page`; True when the pass has read everything in its window."""
    first_page = pass_state.taken == 0
    pass_state.taken += len(page.versions)
    if page.next_link:
        pass_state.next_link, pass_state.linked = page.next_link, True
        return False
    pass_state.next_link = None
    position = pass_state.skip + pass_state.taken  # how far into the query's matches its pages reached
    pass_state.taken = 0
    full = page.asked > 0 and len(page.versions) >= page.asked
    # Without a $top (Graph refused it) the page size is Graph's to choose, so no page proves the end by itself.
    maybe_cut = full or ((stream.short_pages or page.asked == 0) and page.fresh > 0)
    low, high = window_of(pass_state)

    if pass_state.skip or not stream.filterable:
        if not maybe_cut:
            return _next_window(pass_state)
        if pass_state.skip < MAX_SKIP:
            pass_state.skip = min(position, MAX_SKIP)
            return False
        pass_state.limit_hits.append(low if stream.filterable else "whole collection")
        return _next_window(pass_state)
    if not maybe_cut:
        return _next_window(pass_state)

    versions = [v for v in page.versions if v]
    if not versions:
        return _next_window(pass_state)
    oldest, newest = min(versions), max(versions)
    if oldest == newest:
        # Every version of a page that may have been cut short is one timestamp: a time filter cannot narrow it
        # further, so that timestamp is read with $skip; the rest of the window waits its turn.
        rest: list[list[str | None]] = [[low, oldest]] if low < oldest else []
        if high is None or next_tick(oldest) < high:
            rest.append([next_tick(oldest), high])
        pass_state.pending[:0] = rest
        pass_state.window_low, pass_state.window_high = oldest, next_tick(oldest)
        # The page was the first of a query whose matches at that timestamp came first: skip what it held.
        pass_state.skip = min(position, MAX_SKIP) if first_page else 0
        return False
    if versions == sorted(versions):
        pass_state.window_low = newest  # oldest first: the unread versions are at or after the newest one seen
    elif versions == sorted(versions, reverse=True):
        pass_state.window_high = next_tick(oldest)  # newest first: at or before the oldest one seen
    else:
        middle = _middle(oldest, newest)  # no usable order: halve the page's time span
        pass_state.pending[:0] = [[middle, high]]
        pass_state.window_high = middle
    return False


def _middle(oldest: str, newest: str) -> str:
    """A version after `oldest` and at or before `newest`."""
    start, end = to_datetime(oldest), to_datetime(newest)
    middle = from_datetime(start + (end - start) / 2)
    return middle if oldest < middle <= newest else newest


def _next_window(pass_state: PassState) -> bool:
    if not pass_state.pending:
        return True
    low, high = pass_state.pending.pop(0)
    pass_state.window_low, pass_state.window_high, pass_state.skip = low, high, 0
    return False
