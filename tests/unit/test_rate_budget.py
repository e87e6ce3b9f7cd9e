import threading

from shared.rate_budget import SAFETY_MARGIN, RateBudgets, RatePacer


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
    pacer = RatePacer(150 / 60, clock=clock, sleep=clock.sleep)
    starts = []
    for _ in range(400):
        pacer.acquire()
        starts.append(clock.now)
    # any 60 s window holds at most 150 request starts
    worst = max(sum(1 for t in starts if s <= t < s + 60) for s in starts)
    assert worst <= 150
    assert starts[1] - starts[0] == 60 / 150 * SAFETY_MARGIN


def test_a_batch_takes_one_slot_per_inner_request():
    clock = FakeClock()
    pacer = RatePacer(1.0, clock=clock, sleep=clock.sleep)
    pacer.acquire(20)
    waited = pacer.acquire()
    assert waited == 20 * SAFETY_MARGIN


def test_hold_until_pushes_every_caller():
    clock = FakeClock()
    pacer = RatePacer(100.0, clock=clock, sleep=clock.sleep)
    pacer.hold_until(5.0)
    assert pacer.acquire() == 5.0


def test_budgets_are_per_tenant_and_family():
    budgets = RateBudgets({"security": 2.5, "identityProtection": 1.0})
    assert budgets.pacer("t1", "security") is budgets.pacer("t1", "security")
    assert budgets.pacer("t1", "security") is not budgets.pacer("t2", "security")
    assert budgets.pacer("t1", "identityProtection").interval == SAFETY_MARGIN
