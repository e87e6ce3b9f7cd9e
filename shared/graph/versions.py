"""Version timestamps: Graph's DateTimeOffset strings normalised so that string order is time order.

Graph writes up to 7 fractional digits (100 ns ticks), e.g. `2026-11-20T08:15:32.1234567Z`, and ties on a timestamp
happen. Python's datetime keeps only microseconds, so comparing parsed datetimes would merge two distinct versions
that differ in the 7th digit. The normal form keeps all 7 digits: `YYYY-MM-DDTHH:MM:SS.fffffffZ`, always UTC.
"""

from __future__ import annotations

import base64
import hashlib
import re
from datetime import UTC, datetime, timedelta

_PATTERN = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(?:\.(\d+))?(Z|z|[+-]\d{2}:?\d{2})?$"
)


def normalize_version(value: object) -> str | None:
    """The normal form of a DateTimeOffset string, or None when the value is missing or not a timestamp."""
    if not isinstance(value, str):
        return None
    match = _PATTERN.fullmatch(value.strip())
    if not match:
        return None
    date, clock, fraction, offset = match.groups()
    fraction = (fraction or "")[:7].ljust(7, "0")
    if offset and offset not in ("Z", "z") and offset.replace(":", "") not in ("+0000", "-0000"):
        moment = datetime.fromisoformat(f"{date}T{clock}{offset if ':' in offset else offset[:3] + ':' + offset[3:]}")
        utc = moment.astimezone(UTC)
        date, clock = f"{utc.year:04d}-{utc:%m-%d}", utc.strftime("%H:%M:%S")
    return f"{date}T{clock}.{fraction}Z"


def to_datetime(version: str) -> datetime:
    """A normalised version as an aware datetime (microsecond precision: for arithmetic, not for comparison)."""
    return datetime.strptime(version[:26], "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=UTC)


def from_datetime(moment: datetime) -> str:
    """An aware datetime in normal form."""
    utc = moment.astimezone(UTC)
    # The year by hand: strftime's %Y does not pad years before 1000 to four digits on every platform.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S.%f}0Z"


def odata_literal(version: str) -> str:
    """A DateTimeOffset literal for $filter, floored to the whole second (window edges are approximate anyway, and
    a whole-second literal is the form every Graph resource accepts)."""
    return version[:19] + "Z"


def shift(version: str, delta: timedelta) -> str:
    return from_datetime(to_datetime(version) + delta)


def version_key(item_id: str, version: str) -> str:
    """A compact, stable key for (id, version): 72 bits of BLAKE2b, 12 base64 characters."""
    digest = hashlib.blake2b(f"{item_id}\x1f{version}".encode(), digest_size=9).digest()
    return base64.b64encode(digest, altchars=b"-_").decode()
