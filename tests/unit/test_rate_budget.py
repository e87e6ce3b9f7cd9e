import threading

import pytest

from shared.graph.pacing import SAFETY_MARGIN, RateBudgets, RatePacer


def padded(window: float) -> float:
    """The window a pacer keeps for one of Graph's: the relative margin."""
    return window * SAFETY_MARGIN


class FakeClock:
    def __init__(self):
        self.now = 0.0
        self.lock = threading.Lock()

    def __call__(self):
        return self.now

    def sleep(self, seconds):
        with self.lock:
            self.now += seconds


def test_pacer_spaces_requests_so_no_window_exceeds_the_rate():
    clock = FakeClock()
    pacer = RatePacer(150, 60.0, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(400):
        pacer.acquire()
        starts.append(clock.now)
    # any 60 s window holds at most 150 request starts
    worst = max(sum(1 for t in starts if s <= t < s + 60) for s in starts)
    assert worst <= 150
    assert starts[1] - starts[0] == pytest.approx(padded(60) / 150)


def test_a_batch_takes_one_slot_per_inner_request():
    clock = FakeClock()
    pacer = RatePacer(100, 100.0, clock=clock, sleep=clock.sleep)
    pacer.acquire(20)
    waited = pacer.acquire()
    assert waited == pytest.approx(20 * padded(100) / 100)


def test_hold_until_pushes_every_caller():
    clock = FakeClock()
    pacer = RatePacer(100, 1.0, clock=clock, sleep=clock.sleep)
    pacer.hold_until(5.0)
    assert pacer.acquire() == 5.0


def test_budgets_are_per_tenant_and_family():
    budgets = RateBudgets({"security": (150, 60.0), "identityProtection": (1, 1.0)})
    assert budgets.pacer("t1", "security") is budgets.pacer("t1", "security")
    assert budgets.pacer("t1", "security") is not budgets.pacer("t2", "security")
    assert budgets.pacer("t1", "identityProtection").interval == pytest.approx(padded(1.0))


def _worst_window(grants: list[tuple[float, int]], window: float) -> int:
    return max(sum(n for t, n in grants if s <= t < s + window) for s, _ in grants)


def test_batches_of_twenty_never_put_more_than_the_limit_into_a_minute():
    # Evenly spaced full batches (20 slots each, 8.4 s apart) would put 8 x 20 = 160 requests into one minute.
    clock = FakeClock()
    pacer = RatePacer(150, 60.0, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(40):
        pacer.acquire(20)
        grants.append((clock.now, 20))
    assert _worst_window(grants, 60.0) <= 140  # 7 whole batches fit in 150
    assert grants[-1][0] < 40 * 60 / 7 * 1.1  # and the pace stays close to 7 batches a minute


def test_mixed_singles_and_batches_from_threads_stay_within_the_window():
    clock = FakeClock()
    pacer = RatePacer(150, 60.0, clock=clock, sleep=lambda s: None)  # grants are recorded at their start times

    def worker(slots):
        for _ in range(30):
            pacer.acquire(slots)

    threads = [threading.Thread(target=worker, args=(n,)) for n in (1, 1, 20, 7)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    grant_log = sorted(pacer._granted)
    assert sum(n for _, n in grant_log) == 30 * (1 + 1 + 20 + 7)
    assert _worst_window(grant_log, 60.0) <= 150


def test_a_grant_larger_than_the_limit_waits_for_an_empty_window():
    clock = FakeClock()
    pacer = RatePacer(1, 1.0, clock=clock, sleep=clock.sleep)
    pacer.acquire()
    assert pacer.acquire(3) == pytest.approx(padded(1.0))


def test_a_long_mixed_run_keeps_the_bound_and_the_pace_after_old_grants_expire():
    # Hundreds of minutes of grants: the window sums must follow expiry exactly, or the pacer either lets a window
    # overflow (sum too low) or waits for room it already has (sum too high).
    import random

    rng = random.Random(7)
    clock = FakeClock()
    pacer = RatePacer(150, 60.0, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(1500):
        slots = rng.choice((1, 1, 1, 5, 20))
        pacer.acquire(slots)
        grants.append((clock.now, slots))
    assert _worst_window(grants, 60.0) <= 150
    ideal = sum(n for _, n in grants) / 150 * padded(60.0)
    assert clock.now < ideal * 1.15


def test_the_next_slot_waits_an_interval_from_the_last_answer():
    # A request sent late (a busy process, a token request) is answered late: the next one must not follow it to
    # Graph sooner than the interval, even though its own slot was due earlier.
    clock = FakeClock()
    pacer = RatePacer(1, 1.0, clock=clock, sleep=clock.sleep)
    pacer.acquire()
    clock.now = 0.9  # the first request left 0.8 s late and came back at 0.9
    pacer.answered()
    assert pacer.acquire() == pytest.approx(padded(1.0))  # 0.9 + 1.05, not the slot's 1.05


def test_an_unspaced_budget_bursts_up_to_its_limit_and_never_past_it_in_any_window():
    """Identity and access is a token bucket: its whole budget may go at once; a window never holds more."""
    clock = FakeClock()
    pacer = RatePacer(3000, 10.0, False, clock=clock, sleep=clock.sleep)
    grants = []
    for _ in range(12):  # the 228 lookups of 3,258 entities in full batches: no wait at all
        assert pacer.acquire(20) == 0.0
        pacer.answered()
        grants.append((clock.now, 20))
    assert clock.now == 0.0
    for _ in range(400):  # then far past the budget: the trailing window decides
        pacer.acquire(20)
        grants.append((clock.now, 20))
    assert _worst_window(grants, padded(10.0)) <= 3000
    assert clock.now == pytest.approx(2 * padded(10.0), rel=0.01)  # 8,240 slots: the third window's share
