"""Fault injection for Graph paths: error statuses, latency, dropped connections and truncated bodies.

Rules come from ``sim.set_faults(**knobs)`` (replaces all rules) or ``sim.add_faults(**knobs)`` (adds one). Each rule
can be limited to paths containing a substring, to one tenant and, for the rate-based knobs, to a number of
occurrences. ``*_next`` knobs are exact counters (the next N matching requests), rates draw from an RNG seeded
from the simulator seed.
The token endpoint is only affected by rules created with ``token_endpoint=True``.
"""

from __future__ import annotations

import random
import threading
from dataclasses import dataclass, field


@dataclass
class FaultRule:
    error_rate: dict[int, float] = field(default_factory=dict)
    fail_next: list[int] = field(default_factory=list)
    latency_ms: float = 0.0
    reset_rate: float = 0.0
    reset_next: int = 0
    truncate_rate: float = 0.0
    truncate_next: int = 0
    path: str | None = None  # only requests whose path contains this substring
    tenant: str | None = None  # only requests of this tenant (Graph: the token's; token endpoint: the path's)
    times: int | None = None  # the rule's rate-based knobs (and latency) stop after this many hits
    retry_after: float | None = None  # Retry-After seconds on injected 429/503 answers
    token_endpoint: bool = False  # apply to the token endpoint (and only there) instead of Graph paths

    def exhausted(self) -> bool:
        if self.fail_next or self.reset_next or self.truncate_next:
            return False
        if self.times is not None and self.times <= 0:
            return True
        return not (self.error_rate or self.latency_ms or self.reset_rate or self.truncate_rate)


@dataclass(frozen=True)
class FaultDecision:
    latency_s: float = 0.0
    action: str | None = None  # None | "status" | "reset" | "truncate"
    status: int = 0
    retry_after: float | None = None


NO_FAULT = FaultDecision()


def make_rule(**knobs: object) -> FaultRule:
    """A rule from keyword knobs (also accepts JSON-ish input: string status keys, lists)."""
    unknown = set(knobs) - set(FaultRule.__dataclass_fields__)
    if unknown:
        raise TypeError(f"unknown fault knobs: {sorted(unknown)}")
    rule = FaultRule(**knobs)  # type: ignore[arg-type]
    rule.error_rate = {int(k): float(v) for k, v in (rule.error_rate or {}).items()}
    rule.fail_next = [int(s) for s in rule.fail_next or []]
    for status in [*rule.error_rate, *rule.fail_next]:
        if not 400 <= status <= 599:
            raise ValueError(f"fault status must be 4xx or 5xx, not {status}")
    return rule


class FaultInjector:
    def __init__(self, seed: int):
        self._rng = random.Random(f"faults:{seed}")
        self._lock = threading.Lock()
        self._rules: list[FaultRule] = []

    def set(self, **knobs: object) -> None:
        rule = make_rule(**knobs)
        with self._lock:
            self._rules = [rule]

    def add(self, **knobs: object) -> None:
        rule = make_rule(**knobs)
        with self._lock:
            self._rules.append(rule)

    def clear(self) -> None:
        with self._lock:
            self._rules = []

    @property
    def active(self) -> bool:
        return bool(self._rules)

    def decide(self, path: str, *, token_endpoint: bool = False, tenant: str | None = None) -> FaultDecision:
        """What to do to this request. Counters are consumed here, so call it once per request."""
        if not self._rules:
            return NO_FAULT
        latency = 0.0
        with self._lock:
            for rule in self._rules:
                if rule.token_endpoint != token_endpoint or (rule.path and rule.path not in path):
                    continue
                if rule.tenant and rule.tenant != tenant:
                    continue
                counted = rule.times is None or rule.times > 0
                if rule.latency_ms and counted:
                    latency += rule.latency_ms / 1000.0
                decision = self._action(rule, counted)
                if decision is not None:
                    self._rules = [r for r in self._rules if not r.exhausted()]
                    return FaultDecision(latency, *decision)
                if rule.latency_ms and counted and rule.times is not None:
                    rule.times -= 1
            self._rules = [r for r in self._rules if not r.exhausted()]
        return FaultDecision(latency) if latency else NO_FAULT

    def _action(self, rule: FaultRule, counted: bool) -> tuple[str, int, float | None] | None:
        if rule.reset_next > 0:
            rule.reset_next -= 1
            return "reset", 0, None
        if rule.fail_next:
            return "status", rule.fail_next.pop(0), rule.retry_after
        if rule.truncate_next > 0:
            rule.truncate_next -= 1
            return "truncate", 0, None
        if not counted:
            return None
        found: tuple[str, int, float | None] | None = None
        if rule.reset_rate and self._rng.random() < rule.reset_rate:
            found = ("reset", 0, None)
        else:
            for status, rate in rule.error_rate.items():
                if self._rng.random() < rate:
                    found = ("status", status, rule.retry_after)
                    break
            else:
                if rule.truncate_rate and self._rng.random() < rule.truncate_rate:
                    found = ("truncate", 0, None)
        if found is not None and rule.times is not None:
            rule.times -= 1
        return found
