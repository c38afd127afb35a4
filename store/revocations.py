"""Online revocation from memory: the withdrawn code ids as a set, kept equal to the store's.

A SQLite query per verify was a tenth of the verify path.  :class:`RevocationSet` holds every
revoked ``jti`` in a Python set and asks the store for its *revocation generation* (two
counters that triggers bump in the same transaction as each insert or delete in
``revoked_codes``) at most once every ``recheck`` seconds; when the generation moved it reads
just the new rows (or everything, after a purge deleted some).

Freshness, as the README says: a revocation made through this process's :class:`Service` is
seen by the very next verification (it calls :meth:`refresh`); one committed by another process
(another gunicorn worker, the CLI, an issuer sharing the data directory) is seen by every
verification that starts more than ``recheck`` seconds (10 ms by default) after its commit.  A
recheck is a store query; at 1 ms a serving worker made one on nearly every request (in a verify
loop ~1.1 µs of a ~80 µs verify), at 10 ms one in every hundred or so.

Stores without a generation (Elasticsearch) are asked per verify (:func:`revocation_check`); while
such a store cannot answer, verification goes on with the signed trust list's revocations and the
withdrawals this process has already seen (:class:`_AskTheStore`).
"""
from __future__ import annotations

import threading
import time
from collections import OrderedDict
from typing import Any, Callable, Iterable

from standard.errors import StoreUnavailable
from store.contract import Store

RECHECK_SECONDS = 0.010


class RevocationSet:
    """``jti in revocations``; thread-safe.  ``store`` provides ``revocation_generation()`` and
    ``revoked_rows(after_rowid)`` → [(rowid, jti)]."""

    def __init__(self, store: Store, recheck: float = RECHECK_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.store, self.recheck, self.clock = store, recheck, clock
        self._lock = threading.Lock()
        self._jtis: set[str] = set()
        self._generation: Any = None
        self._last_rowid = 0
        self._checked = float("-inf")
        self.refresh()

    def __contains__(self, jti: object) -> bool:
        if self.clock() - self._checked >= self.recheck:
            self.refresh()
        return jti in self._jtis

    def revoked_among(self, jtis: Iterable[str | None]) -> set[str]:
        """The revoked ones among ``jtis`` (None entries allowed): one set intersection, as fresh
        as ``in``."""
        if self.clock() - self._checked >= self.recheck:
            self.refresh()
        return self._jtis.intersection(jtis)

    def refresh(self) -> None:
        """Bring the set up to the store's state now (cheap when nothing changed)."""
        with self._lock:
            now = self.clock()
            generation = self.store.revocation_generation()
            if generation != self._generation:
                full = self._generation is None or generation[1] != self._generation[1]
                rows = self.store.revoked_rows(0 if full else self._last_rowid)
                if full:                     # a purge deleted rows: rowids may be reused
                    self._jtis = {jti for _, jti in rows}
                    self._last_rowid = 0
                else:
                    self._jtis.update(jti for _, jti in rows)
                self._last_rowid = max([self._last_rowid, *(rowid for rowid, _ in rows)])
                self._generation = generation
            self._checked = now

    def __len__(self) -> int:
        return len(self._jtis)


class _AskTheStore:
    """The fallback: one store query per verify (backends without a revocation generation).

    Verification needs no store, so a store that cannot answer (``StoreUnavailable``) does not
    stop it: the code is then checked against the signed trust list's revocation list alone, as
    an offline verifier checks it, and against the codes this process already found withdrawn
    (a withdrawal is final, so those are remembered: the last ``REMEMBERED`` of them)."""

    REMEMBERED = 100_000

    def __init__(self, store: Store) -> None:
        self.store = store
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()
        self.unanswered = 0                 # checks the store could not answer

    def __contains__(self, jti: str) -> bool:
        try:
            revoked = self.store.is_revoked(jti)
        except StoreUnavailable:
            with self._lock:
                self.unanswered += 1
                return jti in self._seen
        if revoked:
            with self._lock:
                self._seen[jti] = None
                self._seen.move_to_end(jti)
                while len(self._seen) > self.REMEMBERED:
                    self._seen.popitem(last=False)
        return revoked

    def revoked_among(self, jtis: Iterable[str | None]) -> set[str]:
        """The revoked ones among ``jtis`` (None entries allowed): each distinct one asked."""
        return {jti for jti in set(jtis) if jti is not None and jti in self}

    def refresh(self) -> None:
        pass


def revocation_check(store: Store, recheck: float = RECHECK_SECONDS) -> RevocationSet | _AskTheStore:
    """The fastest correct ``jti in …`` this store allows."""
    if store.revocation_generation() is not None:
        return RevocationSet(store, recheck)
    return _AskTheStore(store)
