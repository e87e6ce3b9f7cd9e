"""Graph's throttling, per tenant and API family, with sliding windows (docs/graph-notes.md).

- security (alerts_v2, incidents and their actions, counted together): 150 requests per 60 s per app per tenant;
  429 answers carry ``Retry-After`` (seconds, fractional).
- identityProtection (the four risk resources and their actions): 1 request per second per tenant for all apps;
  429 answers carry no ``Retry-After``.

``scale`` multiplies the allowed rate by shrinking the window (scale 20: 150 per 3 s, 1 per 50 ms). Rejected
requests do not enter the window, so waiting ``Retry-After`` is always enough.
"""

from __future__ import annotations

import threading
import time
from collections import deque

from .directory import DIRECTORY, INTUNE
from .resources import IDENTITY, SECURITY

# family -> (requests allowed, window seconds at scale 1.0, per app?)
LIMITS: dict[str, tuple[int, float, bool]] = {
    SECURITY: (150, 60.0, True),
    IDENTITY: (1, 1.0, False),
    DIRECTORY: (3500, 10.0, True),  # identity and access: resource units per app and tenant (1 per GET with $select)
    INTUNE: (2000, 20.0, True),  # Intune devices (managedDevices): requests per app and tenant
}


class Throttler:
    def __init__(self, enabled: bool = True, scale: float = 1.0):
        if scale <= 0:
            raise ValueError("throttle_scale must be > 0")
        self.enabled = enabled
        self.scale = scale
        self._lock = threading.Lock()
        self._windows: dict[tuple[str, str, str], deque[float]] = {}
        self.throttled: dict[str, int] = {SECURITY: 0, IDENTITY: 0}  # directory counted once it throttles

    def check(self, family: str, tenant: str, client_id: str) -> float | None:
        """Admit one request (None) or return the seconds until one would be admitted."""
        if not self.enabled:
            return None
        limit, window, per_app = LIMITS[family]
        window /= self.scale
        key = (family, tenant, client_id if per_app else "")
        now = time.monotonic()
        with self._lock:
            hits = self._windows.setdefault(key, deque())
            while hits and hits[0] <= now - window:
                hits.popleft()
            if len(hits) < limit:
                hits.append(now)
                return None
            self.throttled[family] = self.throttled.get(family, 0) + 1
            return max(hits[0] + window - now, 0.001)

    def reset(self) -> None:
        with self._lock:
            self._windows.clear()
            for family in self.throttled:
                self.throttled[family] = 0
