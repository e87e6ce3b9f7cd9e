"""The simulator's small drawing helpers: GUIDs from a seeded RNG, and cumulative weights for weighted picks."""

from __future__ import annotations

import random
from typing import Any

Item = dict[str, Any]


def guid(rng: random.Random) -> str:
    h = "%032x" % rng.getrandbits(128)  # noqa: UP031 - hot path
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) & 3]}{h[17:20]}-{h[20:]}"


def weighted(table: dict[str, int]) -> tuple[list[str], list[int]]:
    keys = list(table)
    cum, total = [], 0
    for k in keys:
        total += table[k]
        cum.append(total)
    return keys, cum
