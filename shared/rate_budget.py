"""Client-side request pacing per tenant and API family, so the app stays under Graph's limits.

Graph counts requests per app per tenant (security: 150 per minute) or per tenant (Identity Protection: 1 per
second) and answers 429 past that. Bouncing off the limit wastes the retry budget and, for Identity Protection,
starves every other app of the tenant. So each (tenant, family) gets a pacer that spaces requests evenly: with no
bursts, no window of any length can hold more than its share. A 429 that still happens (another instance, another
app) pushes the pacer's next slot out for every caller in the process, not only the one that saw it.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

# Graph's windows are not documented to the millisecond; a small margin keeps jitter on the wire from turning an
# exactly-at-the-limit pace into a 429.
SAFETY_MARGIN = 1.05


class RatePacer:
    """Hands out request slots at most `rate` per second, evenly spaced. Thread-safe."""

    def __init__(
        self,
        rate_per_second: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if rate_per_second <= 0:
            raise ValueError("rate_per_second must be positive")
        self.interval = SAFETY_MARGIN / rate_per_second
        self._clock = clock
        self._sleep = sleep
        self._next_free = 0.0
        self._lock = threading.Lock()

    def acquire(self, slots: int = 1) -> float:
        """Wait for `slots` consecutive slots (a $batch of 20 uses 20). Returns the seconds waited."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            self._next_free = start + slots * self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def hold_until(self, moment: float) -> None:
        """No slot before `moment` (a clock() value): Graph told us to back off."""
        with self._lock:
            self._next_free = max(self._next_free, moment)


class RateBudgets:
    """The pacers of one process, keyed by (tenant, family)."""

    def __init__(self, rates: dict[str, float]) -> None:
        self._rates = dict(rates)
        self._pacers: dict[tuple[str, str], RatePacer] = {}
        self._lock = threading.Lock()

    def pacer(self, tenant_id: str, family: str) -> RatePacer:
        key = (tenant_id, family)
        with self._lock:
            pacer = self._pacers.get(key)
            if pacer is None:
                pacer = self._pacers[key] = RatePacer(self._rates[family])
            return pacer


_budgets: dict[tuple[tuple[str, float], ...], RateBudgets] = {}
_budgets_lock = threading.Lock()


def shared_budgets(rates: dict[str, float]) -> RateBudgets:
    """Budgets shared by every client of the process that uses the same rates, so two streams of one family in one
    worker (alerts and incidents) draw from one budget, as Graph counts them."""
    key = tuple(sorted(rates.items()))
    with _budgets_lock:
        budgets = _budgets.get(key)
        if budgets is None:
            budgets = _budgets[key] = RateBudgets(rates)
        return budgets
