"""Request counting for anonymous endpoints (scan-and-verify, a stranger's refused lookups,
a credential's audited refusals), per caller in fixed one-minute windows.

Lookups of a person are limited in the store, because each one matters.  Verification is
anonymous, hot and cheap: a store write per request would cost more than the verification
itself.  So a gateway's processes count together in a table mapped from the data directory
(:class:`toolkit.minutecounts.SharedMinuteCounts`: memory reads and writes under a lock, no file
I/O per request) — a caller has one limit whatever worker or instance on the host answers it.
Where the table cannot be opened, each process counts in its own memory (and says so once in
its log): with N processes a caller then gets at most N times the limit.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Callable

from gateway.credentials import Credentials, bearer
from gateway.proxy import limit_key, network_key
from standard.errors import RateLimited
from toolkit.minutecounts import SharedMinuteCounts

log = logging.getLogger(__name__)

WINDOW = 60
MAX_KEYS = 100_000          # memory stays bounded whatever the number of clients
TABLE_FILE = "minute-counts"          # in the data directory (toolkit/minutecounts.py)


class SharedTable:
    """The data directory's shared count table, opened on first use (commands that count
    nothing never map it); None where it cannot be opened."""

    def __init__(self, data_dir: Path):
        self.path = Path(data_dir) / TABLE_FILE
        self._table: SharedMinuteCounts | None = None
        self._failed = False
        self._lock = threading.Lock()

    def get(self) -> SharedMinuteCounts | None:
        if self._table is None and not self._failed:
            with self._lock:
                if self._table is None and not self._failed:
                    try:
                        self._table = SharedMinuteCounts(self.path)
                    except OSError as exc:
                        self._failed = True
                        self._warn(exc)
        return self._table

    def give_up(self, exc: OSError) -> None:
        """Count in this process's memory from now on (the table failed while in use)."""
        with self._lock:
            if not self._failed:
                self._table, self._failed = None, True           # the mapping goes with the object
                self._warn(exc)

    def _warn(self, exc: OSError) -> None:
        log.warning("per-minute limits counted per process: %s cannot be used (%s)",
                    self.path, exc.strerror or type(exc).__name__)

    def close(self) -> None:
        with self._lock:
            if self._table is not None:
                self._table.close()
                self._table, self._failed = None, True


class MinuteCounter:
    """Uses per key in the current one-minute window of ``clock`` (seconds, like ``time.time``):
    in ``shared`` under ``name`` (every process on the data directory together), else in memory."""

    def __init__(self, max_keys: int = MAX_KEYS, clock: Callable[[], float] = time.time,
                 shared: SharedTable | None = None, name: str = ""):
        self.max_keys, self.clock = max_keys, clock
        self.shared, self._prefix = shared, name + "\0"
        self._window = -1
        self._counts: dict[str, int] = {}
        self._lock = threading.Lock()

    def add(self, key: str, now: float | None = None, amount: int = 1) -> tuple[int, int]:
        """Count ``amount`` uses of ``key`` at ``now`` (default: the counter's clock);
        (uses in this minute, seconds until it ends)."""
        now = self.clock() if now is None else now
        window = int(now) // WINDOW
        table = self.shared.get() if self.shared is not None else None
        if table is not None:
            try:
                return table.add(self._prefix + key, window, amount), (window + 1) * WINDOW - int(now)
            except OSError as exc:            # the record lock refused, or the table closed at shutdown
                assert self.shared is not None
                self.shared.give_up(exc)
        with self._lock:
            if window != self._window:
                self._window, self._counts = window, {}
            if key not in self._counts and len(self._counts) >= self.max_keys:
                self._counts.clear()                    # a flood of new clients: start over
            count = self._counts[key] = self._counts.get(key, 0) + amount
        return count, (window + 1) * WINDOW - int(now)

    def charge(self, client: str, limit: int, network_limit: int, what: str, now: float | None = None,
               amount: int = 1) -> None:
        """Count ``amount`` of ``what`` against ``client`` (a :func:`~gateway.proxy.limit_key`)
        and, for an IPv6 /64, against its /48 as well (a /48 is 65 536 /64s, and tunnel brokers
        give one away); RateLimited past ``limit`` or ``network_limit`` this minute."""
        now = self.clock() if now is None else now
        count, reset = self.add(client, now, amount)
        if count > limit:
            raise RateLimited(f"too many {what} from this client this minute", retry_after=max(reset, 1))
        network = network_key(client)
        if network is not None:
            count, reset = self.add(network, now, amount)
            if count > network_limit:
                raise RateLimited(f"too many {what} from this network this minute", retry_after=max(reset, 1))


def verification_caller(credentials: Credentials, authorization: str, address: str) -> str:
    """Whom a verification is charged to, on the fast path and in the view alike: the credential
    a ``Bearer`` token names (any role), else the address the connection came from — an IPv6
    client's /64 — never a header the client writes, like X-Forwarded-For."""
    who = credentials.caller(bearer(authorization))
    return f"cred:{who.id}" if who is not None else limit_key(address)
