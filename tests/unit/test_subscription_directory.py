"""The webhook's cache of subscription records: an unknown subscription id reloads it from storage, but a valid
notification never waits for that reload (Graph gives a delivery 3 s, and storage can be slow)."""

import threading
import time

from shared.webhooks.notifications import SubscriptionDirectory
from shared.webhooks.state import SubscriptionRecord, SubscriptionState

TENANT = "5b1c4a4e-7d6b-4f0e-9f3c-2a7e8d9c0b1a"


def state(*subscription_ids: str) -> SubscriptionState:
    return SubscriptionState({
        sid: SubscriptionRecord(key=sid, tenant=TENANT, resource="security/alerts", change_type="updated",
                                streams=["alerts"], client_state=f"secret-{sid}", subscription_id=sid)
        for sid in subscription_ids
    })


class SlowStorage:
    """A loader whose reads after the first one block until released, as a slow storage account would."""

    def __init__(self, *subscription_ids: str) -> None:
        self.state = state(*subscription_ids)
        self.calls = 0
        self.reading = threading.Event()
        self.release = threading.Event()

    def __call__(self) -> SubscriptionState:
        self.calls += 1
        if self.calls > 1:
            self.reading.set()
            assert self.release.wait(10)
        return self.state


def test_a_known_subscription_is_answered_while_an_unknown_one_reloads():
    storage = SlowStorage("known")
    directory = SubscriptionDirectory(storage)
    assert directory.lookup("known", TENANT, directory.clock())[0][1] == "secret-known"  # the first load
    unknown_answer = []
    unknown = threading.Thread(target=lambda: unknown_answer.append(
        directory.lookup("unknown", TENANT, directory.clock())))
    unknown.start()
    try:
        assert storage.reading.wait(5), "the unknown id should have started a reload"
        started = time.monotonic()
        answer = directory.lookup("known", TENANT, directory.clock())
        waited = time.monotonic() - started
    finally:
        storage.release.set()
        unknown.join(10)
    assert answer[0][1] == "secret-known"
    assert waited < 0.5, f"a valid notification waited {waited:.2f} s for a reload it did not need"
    assert unknown_answer == [[]] and directory.loads == 2


def test_unknown_ids_that_arrive_together_share_one_reload():
    storage = SlowStorage("known")
    directory = SubscriptionDirectory(storage)
    directory.lookup("known", TENANT, directory.clock())
    arrived = directory.clock()
    threads = [threading.Thread(target=directory.lookup, args=(f"unknown-{n}", TENANT, arrived)) for n in range(5)]
    for thread in threads:
        thread.start()
    assert storage.reading.wait(5)
    time.sleep(0.2)  # the others are waiting for that reload now
    storage.release.set()
    for thread in threads:
        thread.join(10)
    assert directory.loads == 2 and storage.calls == 2


def test_an_expired_cache_answers_at_once_and_refreshes_in_the_background():
    now = [0.0]
    storage = SlowStorage("known")
    directory = SubscriptionDirectory(storage, ttl=60, clock=lambda: now[0])
    directory.lookup("known", TENANT, now[0])
    storage.state = state("known", "added")
    now[0] = 61.0
    try:
        assert directory.lookup("known", TENANT, now[0])[0][1] == "secret-known"  # not waiting for storage
        assert storage.reading.wait(5), "the expired cache should be refreshed"
    finally:
        storage.release.set()
    deadline = time.monotonic() + 5
    while directory.loads < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert directory.lookup("added", TENANT, 0.0)[0][1] == "secret-added"
