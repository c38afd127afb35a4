"""Per-process request counting for anonymous endpoints (scan-and-verify).

Lookups of a person are limited in the store, shared by every process, because each one matters.
Verification is anonymous, hot and cheap: a store write per request would cost more than the
verification itself, so each process counts in memory, per client, in fixed one-minute windows.
With N processes a client gets at most N times the limit — the bound is what matters: one
client cannot fill the disk or starve the others.
"""
from __future__ import annotations

import threading
import time
from typing import Callable

from gateway.credentials import Credentials, bearer
from gateway.proxy import limit_key

WINDOW = 60
MAX_KEYS = 100_000          # memory stays bounded whatever the number of clients


class MinuteCounter:
    """Uses per key in the current one-minute window of ``clock`` (seconds, like ``time.time``)."""

    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time):
        self.max_keys, self.clock = max_keys, clock
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, now: float | None = None, amount: int = 1) -> tuple[int, int]:
        """Count ``amount`` uses of ``key`` at ``now`` (default: the counter's clock);
        (uses in this minute, seconds until it ends)."""
        now = self.clock() if now is None else now
        window = int(now) // WINDOW
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            if key not in self._counts and len(self._counts) >= self.max_keys:
                self._counts.clear()                    # a flood of new clients: start over
            count = self._counts[key] = self._counts.get(key, 0) + amount
        return count, (window + 1) * WINDOW - int(now)


def verification_caller(credentials: Credentials, authorization: str, address: str) -> str:
    """Whom a verification is charged to, on the fast path and in the view alike: the credential
    a ``Bearer`` token names (any role), else the address the connection came from — an IPv6
    client's /64 — never a header the client writes, like X-Forwarded-For."""
    who = credentials.caller(bearer(authorization))
    return f"cred:{who.id}" if who is not None else limit_key(address)
