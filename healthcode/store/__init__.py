"""Storage interface for status records, issued codes, scan events and the audit log.

SQLite is the embedded default (:mod:`.sqlite`); an Elasticsearch backend implements the same
:class:`Store` contract for national scale.  Nothing stored here contains a plain ID number:
people are known by their pseudonymous subject id.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass


@dataclass(frozen=True)
class ScanEvent:
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

    @abc.abstractmethod
    def count_scans(self) -> int: ...

    @abc.abstractmethod
    def revoke_subject(self, sub: str, at: int) -> list[str]: ...

    @abc.abstractmethod
    def is_revoked(self, jti: str) -> bool: ...

    @abc.abstractmethod
    def revoked_jtis(self, now: int) -> list[str]: ...

    @abc.abstractmethod
    def purge(self, before: int) -> dict: ...

    def add_scan(self, event: ScanEvent) -> None:
        self.add_scans([event])

    def close(self) -> None:
        pass


def open_store(settings) -> Store:
    from .sqlite import SqliteStore
    return SqliteStore(settings.data_dir / "healthcode.sqlite3")
