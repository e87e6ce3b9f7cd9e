"""Server-driven paging: the opaque ``$skiptoken`` and taking one page out of a collection.

The token is base64url of a small JSON document: resource, tenant, the query (filter, top, count, expand, select)
and the *position* reached in the filtered, newest-first candidate list. Like a real skip token it is an offset: if
items are added or updated while a client pages, later pages shift (an item can repeat, and an item that moved to
the top is not seen in this pass). Clients dedupe and pick such changes up on their next incremental run.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import asdict, dataclass

from .errors import bad_request
from .odata import CompiledFilter
from .store import Collection, Record


@dataclass(frozen=True)
class PageState:
    resource: str
    tenant: str
    filter: str | None
    top: int
    count: bool
    expand: tuple[str, ...]
    select: tuple[str, ...] | None
    pos: int
    ascending: bool = False  # $orderby=<cursor> asc (observed profile)


def encode_token(state: PageState) -> str:
    raw = json.dumps(asdict(state), separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> PageState:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        return PageState(
            resource=str(data["resource"]),
            tenant=str(data["tenant"]),
            filter=data["filter"],
            top=int(data["top"]),
            count=bool(data["count"]),
            expand=tuple(data["expand"]),
            select=tuple(data["select"]) if data["select"] is not None else None,
            pos=int(data["pos"]),
            ascending=bool(data.get("ascending", False)),
        )
    except (ValueError, KeyError, TypeError, binascii.Error):
        raise bad_request("The $skiptoken is invalid.") from None


@dataclass
class Page:
    records: list[Record]
    next_pos: int | None  # position for the next page, None when this is the last one
    count: int | None


def take_page(
    coll: Collection,
    flt: CompiledFilter | None,
    *,
    pos: int,
    skip: int,
    top: int,
    want_count: bool,
    ascending: bool = False,
) -> Page:
    """Up to ``top`` records newest first (oldest first with ``ascending``), starting at candidate ``pos`` (after
    skipping ``skip`` matches).

    Must be called under the tenant lock; the returned records are immutable snapshots.
    """
    lo, hi = coll.bounds(flt.low, flt.high) if flt else (0, len(coll.order))
    order, records = coll.order, coll.records
    n = hi - lo

    def at(p: int) -> int:
        return lo + p if ascending else hi - 1 - p

    predicate = flt.predicate if flt else None
    if predicate is None:
        start = min(pos + skip, n)
        end = min(start + top, n)
        page = [records[order[at(p)][1]] for p in range(start, end)]
        return Page(page, end if end < n and top > 0 else None, n if want_count else None)
    page = []
    skipped = 0
    p = pos
    while p < n and len(page) < top:
        record = records[order[at(p)][1]]
        p += 1
        if predicate(record.fields):
            if skipped < skip:
                skipped += 1
            else:
                page.append(record)
    next_pos = None
    if top > 0:
        # Only promise a next page if one more match exists (the scan stops at the first).
        for q in range(p, n):
            if predicate(records[order[at(q)][1]].fields):
                next_pos = p
                break
    count = None
    if want_count:
        count = sum(1 for i in range(lo, hi) if predicate(records[order[i][1]].fields))
    return Page(page, next_pos, count)
