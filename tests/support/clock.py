"""A clock tests move by hand, for everything that takes a ``clock`` callable (the service, the
rate limiter, the circuit breaker, the status client): no test sleeps to let time pass."""
from __future__ import annotations

import time

MINUTE = 60


class Clock:
    """Starts at the real time (whole seconds) so issued codes look ordinary; ``advance`` moves it."""

    def __init__(self, start: float | None = None):
        self.value = float(start if start is not None else int(time.time()))

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds

    def to_minute_start(self, offset: float = 1) -> None:
        """Forward to ``offset`` seconds into the next minute: a whole one-minute window ahead."""
        self.value = (int(self.value) // MINUTE + 1) * MINUTE + offset
