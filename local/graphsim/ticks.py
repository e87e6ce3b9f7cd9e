"""Graph timestamps as integer 100-ns ticks since the Unix epoch.

Graph writes DateTimeOffset values with seven fractional digits (``2026-11-20T08:15:32.1234567Z``). Keeping them as
integers makes comparisons exact to the tick and lets the store sort and bisect on plain ints.
"""

from __future__ import annotations

import calendar
import re
import time

TICKS_PER_SECOND = 10_000_000

_LITERAL = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2})(?::(\d{2})(?:\.(\d{1,7}))?)?(Z|[+-]\d{2}:\d{2})\Z", re.IGNORECASE
)


def now_ticks() -> int:
    """The wall clock in ticks (microsecond resolution, as the OS gives it)."""
    return time.time_ns() // 100


_DAY_PREFIX: dict[int, str] = {}  # days since epoch -> "YYYY-MM-DDT"
_DAY_TICKS: dict[str, int] = {}  # "YYYY-MM-DD" -> ticks at midnight


def format_ticks(ticks: int) -> str:
    """``2026-11-20T08:15:32.1234567Z`` for a tick count (hot path: called several times per generated item)."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    days, rem = divmod(seconds, 86400)
    prefix = _DAY_PREFIX.get(days)
    if prefix is None:
        t = time.gmtime(days * 86400)
        prefix = _DAY_PREFIX[days] = "%04d-%02d-%02dT" % (t.tm_year, t.tm_mon, t.tm_mday)  # noqa: UP031
    hours, rem = divmod(rem, 3600)
    minutes, secs = divmod(rem, 60)
    return "%s%02d:%02d:%02d.%07dZ" % (prefix, hours, minutes, secs, fraction)  # noqa: UP031 - fastest form


def parse_timestamp(text: str) -> int | None:
    """Ticks for an ISO-8601 DateTimeOffset with 0-7 fractional digits and ``Z`` or ``+hh:mm``; None if malformed."""
    # Fast path for the canonical form the simulator itself writes.
    if len(text) == 28 and text[10] == "T" and text[19] == "." and text[27] == "Z":
        base = _DAY_TICKS.get(text[:10])
        if base is not None:
            try:
                return (
                    base
                    + (int(text[11:13]) * 3600 + int(text[14:16]) * 60 + int(text[17:19])) * TICKS_PER_SECOND
                    + int(text[20:27])
                )
            except ValueError:
                pass
    m = _LITERAL.match(text)
    if m is None:
        return None
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    if not (1 <= month <= 12 and 1 <= day <= 31 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    try:
        seconds = calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))
    except (OverflowError, ValueError):
        return None
    if day > calendar.monthrange(year, month)[1]:
        return None
    fraction = int((m.group(7) or "").ljust(7, "0"))
    zone = m.group(8)
    offset = 0
    if zone not in ("Z", "z"):
        sign = -1 if zone[0] == "-" else 1
        offset = sign * (int(zone[1:3]) * 3600 + int(zone[4:6]) * 60)
    if len(_DAY_TICKS) < 100_000:
        _DAY_TICKS.setdefault(text[:10], calendar.timegm((year, month, day, 0, 0, 0, 0, 0, 0)) * TICKS_PER_SECOND)
    return (seconds - offset) * TICKS_PER_SECOND + fraction
