"""The machinery of a mapping table: rows that say, one OCSF attribute at a time, where its value comes from.

A table is a tuple of `Row`s. Each row names the OCSF attribute it fills (a dotted path), the Graph fields it reads
(so the fields no row reads can be kept in `unmapped`, and so the documentation can say what each attribute is made
of), and a function of the Graph object. A row whose function returns None leaves its attribute out: OCSF wants
absent attributes rather than nulls. `apply` runs a table; nothing else in the package sets attributes one by one, so
the table is the whole mapping of a class and a reviewer can read it line by line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from shared.graph.versions import normalize_version, to_datetime

Item = Mapping[str, Any]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Row:
    target: str  # dotted OCSF path, e.g. "finding_info.uid"
    fields: tuple[str, ...]  # the Graph fields it reads ("" when it reads none: a constant)
    value: Callable[[Item], Any]
    note: str = ""

    @property
    def source(self) -> str:
        """What the row is made of, in the documentation's words."""
        return self.note if not self.fields else ", ".join(f"`{f}`" for f in self.fields) + (
            f": {self.note}" if self.note else "")


def epoch_ms(value: object) -> int | None:
    """A Graph DateTimeOffset as OCSF's timestamp_t: whole milliseconds since the epoch (Graph's 7th digit and the
    microseconds are dropped, as OCSF keeps milliseconds)."""
    version = normalize_version(value)
    if version is None:
        return None
    return (to_datetime(version) - _EPOCH) // timedelta(milliseconds=1)


def text(value: object) -> str | None:
    """A non-empty string, or None."""
    return value if isinstance(value, str) and value else None


def present(value: Any) -> Any:
    """The value, or None when it is empty ("" , [] or {}): OCSF wants absent attributes, not empty ones."""
    return None if value in ("", [], {}) else value


def non_empty(values: Iterable[Any] | None) -> list[Any] | None:
    """A list without Nones, or None when nothing is left (OCSF wants an absent array rather than an empty one)."""
    kept = [v for v in values or () if v is not None and v != {}]
    return kept or None


def compact(mapping: Mapping[str, Any]) -> dict[str, Any] | None:
    """A dict without None values, or None when nothing is left."""
    kept = {k: v for k, v in mapping.items() if v is not None}
    return kept or None


def version_uid(item: Item, version_field: str) -> str | None:
    """metadata.uid: one OCSF event per exported version, so the Graph id and the version together."""
    identifier, version = text(item.get("id")), normalize_version(item.get(version_field))
    return f"{identifier}/{version}" if identifier and version else identifier


# --- row builders: the words a table is written in


def const(target: str, value: Any, note: str = "") -> Row:
    return Row(target, (), lambda _item: value, f"always `{json.dumps(value)}`" + (f" ({note})" if note else ""))


def copy(target: str, field: str, note: str = "") -> Row:
    return Row(target, (field,), lambda item: present(item.get(field)), note)


def timestamp(target: str, field: str, note: str = "") -> Row:
    return Row(target, (field,), lambda item: epoch_ms(item.get(field)), note or "epoch milliseconds")


def derived(target: str, fields: tuple[str, ...], function: Callable[[Item], Any], note: str) -> Row:
    return Row(target, fields, function, note)


# --- running a table


def set_path(record: dict[str, Any], path: str, value: Any) -> None:
    *parents, leaf = path.split(".")
    node = record
    for part in parents:
        node = node.setdefault(part, {})
    node[leaf] = value


def apply(table: tuple[Row, ...], item: Item) -> dict[str, Any]:
    record: dict[str, Any] = {}
    for row in table:
        value = row.value(item)
        if value is not None:
            set_path(record, row.target, value)
    return record


def fields_read(table: tuple[Row, ...]) -> frozenset[str]:
    return frozenset(field for row in table for field in row.fields)


def unmapped(table: tuple[Row, ...], item: Item) -> dict[str, Any] | None:
    """The Graph object's fields that no row of the table reads (null ones dropped), for OCSF's `unmapped`."""
    known = fields_read(table)
    return compact({key: present(value) for key, value in item.items() if key not in known}) or None
