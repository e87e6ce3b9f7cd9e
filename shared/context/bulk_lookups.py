"""Up to 15 users or devices per directory request: the filter that names them, and what its answer proves.

Graph filters users on `id` with `in` and devices on `deviceId` with `eq` (`in` is not among the operators the device
resource lists for it), so the enrichment asks `GET /users?$filter=id in ('a','b',…)` and
`GET /devices?$filter=deviceId eq 'a' or deviceId eq 'b' or …`, both with `$select`. Graph takes at most 15 values in
such a filter by default and answers a 16th with 400 "Too many child clauses …" (docs/graph-notes.md), so a request
names at most FILTER_MAX_VALUES entities (15 GUIDs make a URL of about 1,200 characters, under the 2,048 Graph
allows even for advanced queries). A list GET of users costs 2 resource units, `$select` 1 less: one request answers
for 15 users at 1 unit where 15 single GETs cost 15.

An entity the answer does not contain is "not found" only when the answer is complete (no `@odata.nextLink`): a
paged answer proves nothing about the entities on pages not read. Keys compare case-insensitively (they are GUIDs).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

FILTER_MAX_VALUES = 15  # Graph's default limit on the values of one `in` (or `or`) filter

USER_FIELDS = ("id", "userPrincipalName", "displayName", "accountEnabled", "userType", "department", "jobTitle",
               "createdDateTime", "onPremisesSyncEnabled")
DEVICE_FIELDS = ("id", "deviceId", "displayName", "operatingSystem", "operatingSystemVersion", "trustType",
                 "isCompliant", "isManaged", "approximateLastSignInDateTime")


@dataclass(frozen=True)
class EntityKind:
    name: str  # user | device
    collection: str  # the Graph collection: users | devices
    key_field: str  # the property an alert's evidence names: id | deviceId
    fields: tuple[str, ...]  # $select, and what bridgeContext keeps


KINDS = {kind.name: kind for kind in (EntityKind("user", "users", "id", USER_FIELDS),
                                      EntityKind("device", "devices", "deviceId", DEVICE_FIELDS))}


def odata_string(value: str) -> str:
    """An OData string literal: the value in single quotes, a single quote inside it doubled."""
    return "'" + value.replace("'", "''") + "'"


def filter_for(kind: EntityKind, keys: Sequence[str]) -> str:
    """The `$filter` naming `keys` (1 to FILTER_MAX_VALUES of them)."""
    if not 1 <= len(keys) <= FILTER_MAX_VALUES:
        raise ValueError(f"a filter names 1 to {FILTER_MAX_VALUES} entities, not {len(keys)}")
    if kind.name == "user":
        return f"id in ({','.join(odata_string(key) for key in keys)})"
    return " or ".join(f"{kind.key_field} eq {odata_string(key)}" for key in keys)


def bulk_url(kind: EntityKind, keys: Sequence[str]) -> str:
    """One request for up to FILTER_MAX_VALUES entities of a kind."""
    return f"/{kind.collection}?$filter={quote(filter_for(kind, keys), safe='')}&$select={','.join(kind.fields)}"


def single_url(kind: EntityKind, key: str) -> str:
    """One request for one entity: the fallback where a directory refuses the multi-value filter."""
    if kind.name == "user":
        return f"/users/{quote(key, safe='')}?$select={','.join(kind.fields)}"
    return bulk_url(kind, [key])


def chunks(keys: Sequence[str], size: int = FILTER_MAX_VALUES) -> list[list[str]]:
    return [list(keys[start:start + size]) for start in range(0, len(keys), size)]


def compact(kind: EntityKind, item: dict[str, Any]) -> dict[str, Any]:
    """What bridgeContext keeps of a directory object: its selected fields that have a value."""
    return {field: item[field] for field in kind.fields if item.get(field) is not None}


@dataclass(frozen=True)
class ListAnswer:
    found: dict[str, dict[str, Any]]  # the objects of the answer, by their lower-cased key
    complete: bool  # no @odata.nextLink: what is not in `found` does not exist


def read_list(kind: EntityKind, body: Any) -> ListAnswer | None:
    """The objects of a list answer by key, or None when `body` is not a list answer."""
    if not isinstance(body, dict) or not isinstance(body.get("value"), list):
        return None
    found: dict[str, dict[str, Any]] = {}
    for item in body["value"]:
        key = item.get(kind.key_field) if isinstance(item, dict) else None
        if isinstance(key, str) and key:
            found.setdefault(key.lower(), item)
    return ListAnswer(found, complete=not body.get("@odata.nextLink"))
