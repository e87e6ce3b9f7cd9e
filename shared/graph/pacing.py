"""Client-side request pacing per tenant and API family, so the app stays under Graph's limits.

Graph counts requests per app per tenant (security: 150 per minute) or per tenant (Identity Protection: 1 per
second) and answers 429 past that. Bouncing off the limit wastes the retry budget and, for Identity Protection,
starves every other app of the tenant. So each (tenant, family) gets a pacer that spaces requests evenly: with no
bursts, no window of any length can hold more than its share. A 429 that still happens (another instance, another
app) pushes the pacer's next slot out for every caller in the process, not only the one that saw it.

Spacing the *slots* is not enough where the window is short. Between taking a slot and the request reaching Graph
lie a busy process's scheduling delay, a token request, a TLS handshake: tens to hundreds of milliseconds that vary
from request to request, so two requests slotted 1.05 s apart can reach Graph 0.8 s apart (bench/multi_tenant.py
measured 5-14 % 429s from a loaded instance against Identity Protection's one request a second). The answer is the
one moment the client knows its request has reached Graph: so the next slot also waits one interval from the last
answer (`answered`). For requests of one budget made one after the other, which the fan-out guarantees (one work item
owns a tenant's family at a time), that bounds the gap *at Graph* from below whatever the sender's delays, without
a fixed allowance that slows every request down.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from shared.process_cache import ProcessCache

# Graph's windows are not documented to the millisecond; a small margin keeps jitter on the wire from turning an
# exactly-at-the-limit pace into a 429.
SAFETY_MARGIN = 1.05


class RatePacer:
    """Hands out request slots so that no window of `window` seconds holds more than `limit` requests. Thread-safe.

    Single requests are spaced evenly (window / limit apart). A `$batch` takes one slot per inner request but sends
    them all at once, and even spacing alone does not bound such bursts: full batches of 20 at 150 per minute,
    8.4 s apart, put 8 x 20 = 160 requests into one minute. So every grant is also logged and a grant waits until
    the trailing window has room for all its slots.

    `spaced=False` drops the even spacing and keeps only that bound, for a budget Graph documents as a token bucket
    (identity and access: resource units per 10 s): a bucket lets its whole capacity go at once, and a trailing
    window that never holds more than the capacity is stricter than any bucket of that capacity. Spacing 3,000
    lookups per 10 s 3.5 ms apart made a few hundred lookups a visible share of an export that Graph would have
    answered in one burst.
    """

    def __init__(
        self,
        limit: float,
        window_seconds: float,
        spaced: bool = True,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit <= 0 or window_seconds <= 0:
            raise ValueError("limit and window_seconds must be positive")
        self.limit = limit
        self.window = window_seconds * SAFETY_MARGIN
        self.interval = self.window / limit if spaced else 0.0
        self._clock = clock
        self._sleep = sleep
        self._next_free = 0.0
        self._granted: deque[tuple[float, int]] = deque()  # (start, slots), in start order
        self._granted_slots = 0  # the sum of slots in _granted, kept rather than summed on every grant
        self._lock = threading.Lock()

    def acquire(self, slots: int = 1, *, not_after: float | None = None) -> float | None:
        """Wait for `slots` slots (a $batch of 20 uses 20). Returns the seconds waited, or None without waiting or
        taking anything when the slots would start after `not_after` (a clock() value: the caller's deadline)."""
        with self._lock:
            now = self._clock()
            start = max(now, self._next_free)
            # Drop grants that no window starting from now can see; then, oldest first, wait out grants until the
            # window ending at `start` has room. Grants are in start order because `start` never moves back.
            while self._granted and self._granted[0][0] <= now - self.window:
                self._granted_slots -= self._granted.popleft()[1]
            room = max(self.limit - slots, 0)
            used = self._granted_slots
            for granted_at, n in self._granted:
                if used <= room:
                    break
                start = max(start, granted_at + self.window)
                used -= n
            if not_after is not None and start > not_after:
                return None
            self._granted.append((start, slots))
            self._granted_slots += slots
            self._next_free = start + slots * self.interval
        wait = start - now
        if wait > 0:
            self._sleep(wait)
        return max(wait, 0.0)

    def answered(self) -> None:
        """A request has its answer, so it reached Graph before now: the next slot starts no sooner than one
        interval from now, however late the request was sent. (A `$batch`'s inner requests already hold their slots
        in the trailing window; one interval after its answer is what keeps the next request from following it.)"""
        with self._lock:
            self._next_free = max(self._next_free, self._clock() + self.interval)

    def hold_until(self, moment: float) -> None:
        """No slot before `moment` (a clock() value): Graph told us to back off."""
        with self._lock:
            self._next_free = max(self._next_free, moment)


# A family's budget: (requests, per window seconds), and optionally whether requests are spaced (RatePacer).
Budget = tuple[float, float] | tuple[float, float, bool]


class RateBudgets:
    """The pacers of one process, keyed by (tenant, family)."""

    def __init__(self, limits: dict[str, Budget]) -> None:
        self._limits = dict(limits)  # family -> budget
        self._pacers: dict[tuple[str, str], RatePacer] = {}
        self._lock = threading.Lock()

    def pacer(self, tenant_id: str, family: str) -> RatePacer:
        key = (tenant_id, family)
        with self._lock:
            pacer = self._pacers.get(key)
            if pacer is None:
                pacer = self._pacers[key] = RatePacer(*self._limits[family])
            return pacer


_budgets: ProcessCache[tuple[tuple[str, Budget], ...], RateBudgets] = ProcessCache("rate budgets")


def shared_budgets(limits: dict[str, Budget]) -> RateBudgets:
    """Budgets shared by every client of the process that uses the same rates, so two streams of one family in one
    worker (alerts and incidents) draw from one budget, as Graph counts them."""
    return _budgets.get_or_create(tuple(sorted(limits.items())), lambda: RateBudgets(limits))
