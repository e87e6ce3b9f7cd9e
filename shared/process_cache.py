"""What a warm worker keeps between invocations (credentials, connection pools, pacing budgets, signing keys), as
caches that one call empties.

Each cache is a small locked mapping created at import time by the module that owns it; `clear_all` empties every
one of them. `shared.runtime.Runtime.reset` calls it, so a test or the dev host that changes the app's settings
starts from nothing without knowing which modules keep what.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Clearable(Protocol):
    def clear(self) -> None: ...


C = TypeVar("C", bound=Clearable)
_all: weakref.WeakSet[Clearable] = weakref.WeakSet()


def register(cache: C) -> C:
    """Have `clear_all` empty `cache` too (a cache with its own structure, e.g. one with expiry)."""
    _all.add(cache)
    return cache


class ProcessCache(Generic[K, V]):
    """A process-wide mapping with a lock, registered for `clear_all`."""

    def __init__(self, what: str) -> None:
        self.what = what  # for a reader of a debugger session: which cache this is
        self._items: dict[K, V] = {}
        self._lock = threading.Lock()
        register(self)

    def get_or_create(self, key: K, create: Callable[[], V]) -> V:
        """The cached value, or `create()` stored under `key` (made under the lock: one value per key, ever)."""
        with self._lock:
            if key not in self._items:
                self._items[key] = create()
            return self._items[key]

    def get(self, key: K) -> V | None:
        with self._lock:
            return self._items.get(key)

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value

    def update(self, key: K, change: Callable[[V | None], V]) -> V:
        """Store `change(current value or None)` under `key`, atomically."""
        with self._lock:
            value = self._items[key] = change(self._items.get(key))
            return value

    def replace_unless_changed(self, key: K, expected: V | None, create: Callable[[], V]) -> V:
        """Put `create()` under `key` if the value there is still `expected` (or absent); otherwise the value another
        caller put there meanwhile."""
        with self._lock:
            current = self._items.get(key)
            if current is not None and current is not expected:
                return current
            fresh = self._items[key] = create()
            return fresh

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()


def clear_all() -> None:
    """Empty every process cache."""
    for cache in list(_all):
        cache.clear()
