"""The storage contract: status records, issued codes, scan events, audit entries and the
:class:`Store` interface every backend implements (the contract suite, tests/test_store_contract.py,
runs on each)."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Iterable, NamedTuple

# Makes the next audit entry from the last one (None: the log is empty); see store.audit.
MakeEntry = Callable[[dict | None], dict]


class ScanEvent(NamedTuple):
    """One scan, without personal data.  A named tuple (immutable, fields by name): a batch
    records hundreds a request, and a frozen dataclass cost ~1 µs each to build, a tuple ~0.3;
    SQLite binds it as the row it is (``valid`` a bool: stored 1 or 0)."""
    at: int
    valid: bool
    format: str | None
    region: str | None
    status: str | None
    code_id: str | None
    error: str | None = None
    place: str | None = None
    device: str | None = None


@dataclass(frozen=True)
class IssuedRecord:
    jti: str
    sub: str
    region: str
    kind: str
    status: str
    reasons: tuple
    iat: int
    exp: int


@dataclass(frozen=True)
class Resident:
    """What an issuer keeps about a person: pseudonym, keyed hash of the name (to check a
    helper's typing without keeping the name readable), current colour, and the encrypted
    name + ID number needed to reprint a card (None when not kept)."""
    sub: str
    region: str
    name_hmac: str
    status: str
    reasons: tuple
    updated_at: int
    pii_sealed: str | None = None


@dataclass(frozen=True)
class Dependent:
    holder_sub: str
    dependent_sub: str
    region: str
    relation: str
    consent: dict
    created_at: int


class Store(abc.ABC):
    """What the gateway needs from a data store.  All times are epoch seconds."""

    @abc.abstractmethod
    def record_issued(self, record: IssuedRecord) -> None: ...

    @abc.abstractmethod
    def latest_status(self, sub: str, region: str) -> IssuedRecord | None: ...

    @abc.abstractmethod
    def add_scans(self, events: list[ScanEvent]) -> None: ...

    @abc.abstractmethod
    def scans(self, since: int = 0, limit: int = 100) -> list[ScanEvent]: ...

    def count_scans(self) -> int:
        return self.count("scans")

    def ping(self) -> None:
        """Raise when the store does not answer; cheap, for /healthz (a count of 30 days of scan
        events is not).  Backends override it with their cheapest round trip."""
        self.count_scans()

    @abc.abstractmethod
    def revoke_subject(self, sub: str, at: int) -> list[str]: ...

    @abc.abstractmethod
    def count_outstanding(self, sub: str, at: int) -> int:
        """How many unexpired codes of ``sub`` there are: what :meth:`revoke_subject` would withdraw
        at most (the trust list's room is checked before a withdrawal is stored)."""

    @abc.abstractmethod
    def revoke_codes(self, jtis: Iterable[str], sub: str, at: int, exp: int) -> list[str]:
        """Withdraw codes known only by id (foreign certificates a data manager revokes); the ids
        that were not withdrawn already.  ``exp`` is how long offline verifiers must be told."""

    @abc.abstractmethod
    def outstanding_codes(self, sub: str, region: str, now: int, limit: int = 100) -> list[IssuedRecord]:
        """The person's codes of ``region`` that are neither expired nor withdrawn, newest first,
        at most ``limit`` (a lost printed card is found here and withdrawn by its id)."""

    @abc.abstractmethod
    def is_revoked(self, jti: str) -> bool: ...

    @abc.abstractmethod
    def revoked_jtis(self, now: int) -> list[str]: ...

    def revocation_generation(self) -> Any:
        """A value that changes whenever a code is revoked or a revocation purged, cheap to read
        (store/revocations.py keeps revoked ids in memory with it); None: not supported, ask
        ``is_revoked`` per verify."""
        return None

    def revoked_rows(self, after_rowid: int = 0) -> list[tuple[int, str]]:
        """(rowid, jti) of revocations after ``after_rowid``, for backends with a generation."""
        raise NotImplementedError

    @abc.abstractmethod
    def purge(self, before: int) -> dict:
        """Delete scan events, expired codes and residents untouched since ``before``."""

    # -- online codes (issuer side): code id → the signed status its region serves ----------
    @abc.abstractmethod
    def put_online(self, code_id: str, region: str, answer: str, exp: int) -> None:
        """Keep an online code's signed answer (masked claims only) until ``exp``; purged after."""

    @abc.abstractmethod
    def online_answer(self, code_id: str, region: str) -> str | None:
        """The signed answer of ``region``'s online code ``code_id``, or None."""

    # -- residents (issuer side) ----------------------------------------------------------
    @abc.abstractmethod
    def upsert_resident(self, resident: Resident) -> None: ...

    @abc.abstractmethod
    def get_resident(self, sub: str, region: str) -> Resident | None: ...

    # -- dependents -------------------------------------------------------------------------
    @abc.abstractmethod
    def add_dependent(self, dependent: Dependent) -> None:
        """Bind (or re-bind, replacing relation and consent) a dependent to a holder."""

    @abc.abstractmethod
    def dependents(self, holder_sub: str) -> list[Dependent]: ...

    # -- rate limiting ----------------------------------------------------------------------
    @abc.abstractmethod
    def hit(self, key: str, at: int, window: int) -> int:
        """Record one use of ``key`` at ``at``; return the uses within the last ``window`` s."""

    # -- audit log (hash chain; see store.audit) --------------------------------------------
    @abc.abstractmethod
    def append_audit(self, make_entry: MakeEntry) -> dict:
        """Atomically: read the last entry, call ``make_entry(last_or_None)`` for the new
        entry (a dict with ``seq`` and ``hash``), and store it.  Returns the new entry."""

    @abc.abstractmethod
    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]: ...

    def record_issuance(self, record: IssuedRecord, resident: Resident | None, make_entry: MakeEntry,
                        online_answer: str | None = None) -> dict:
        """An issued code, the resident's new colour and the audit entry that says so, kept so
        that no issued code can exist without its entry (a crash at any point included).

        This default writes the audit entry first, then the code, then the resident: a crash in
        between leaves an entry for a code that was never handed out (the caller gets its code only
        after this returns), never a code without an entry.  Backends with transactions (SQLite)
        write all three in one.  An online code's signed status (``online_answer``) is kept with
        its code, after it (a code whose status is missing answers ``not_found``: refused, never
        a colour)."""
        entry = self.append_audit(make_entry)
        self.record_issued(record)
        if online_answer is not None:
            self.put_online(record.jti, record.region, online_answer, record.exp)
        if resident is not None:
            self.upsert_resident(resident)
        return entry

    @abc.abstractmethod
    def count(self, kind: str) -> int:
        """Rows/documents of one kind: scans, codes, residents, audit (for tests and metrics)."""

    # -- operations figures (no personal data: counts only) ------------------------------------
    @abc.abstractmethod
    def scan_counts(self, since: int, until: int, bucket: int) -> list[tuple]:
        """Scan events with ``since <= at < until``, counted per (bucket start, region, status,
        error); bucket starts are multiples of ``bucket`` seconds since the epoch.  Computed in
        the store (GROUP BY / an aggregation), so the answer is small whatever the traffic."""

    @abc.abstractmethod
    def audit_counts(self, since: int, until: int, bucket: int, actions: Iterable[str]) -> list[tuple]:
        """Audit entries of ``actions`` with ``since <= at < until``, counted per (bucket start,
        action, result)."""

    def add_scan(self, event: ScanEvent) -> None:
        self.add_scans([event])

    def close(self) -> None:
        pass


