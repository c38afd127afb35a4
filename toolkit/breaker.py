"""A circuit breaker per upstream: consecutive failures open it (fail fast) for a cooldown,
then one request may probe.  Shared by the gateway's issuer client (kiosk lookups) and the
online-code status client (checkpoints): a region that does not answer costs its callers one
timeout, not one per waiting person, and is not hammered while it recovers.
"""
from __future__ import annotations

import threading
import time
from typing import Callable


class CircuitBreaker:
    """Consecutive failures per issuer; open (fail fast) for a cooldown, then half-open."""

    def __init__(self, failures: int = 5, cooldown: float = 10.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.failures, self.cooldown, self.clock = failures, cooldown, clock
        self._state: dict[str, tuple[int, float]] = {}      # key: (failures in a row, open until)
        self._lock = threading.Lock()

    def allow(self, key: str) -> bool:
        with self._lock:
            count, until = self._state.get(key, (0, 0.0))
            if count < self.failures:
                return True
            if self.clock() >= until:                        # half-open: one probe, others wait
                self._state[key] = (count, self.clock() + self.cooldown)
                return True
            return False

    def record(self, key: str, ok: bool) -> None:
        with self._lock:
            if ok:
                self._state.pop(key, None)
            else:
                count, _ = self._state.get(key, (0, 0.0))
                self._state[key] = (count + 1, self.clock() + self.cooldown)
