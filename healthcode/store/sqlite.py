"""SQLite store: one file, WAL journal so scans keep flowing while a purge or report reads.

One connection per thread (sqlite3 objects are not shareable); writes are single statements or
explicit transactions, so a crash never leaves half a batch.
"""
from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path

from . import IssuedRecord, ScanEvent, Store

SCHEMA = """
CREATE TABLE IF NOT EXISTS issued_codes (
    jti TEXT PRIMARY KEY, sub TEXT NOT NULL, region TEXT NOT NULL, kind TEXT NOT NULL,
    status TEXT NOT NULL, reasons TEXT NOT NULL, iat INTEGER NOT NULL, exp INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS issued_by_subject ON issued_codes (sub, region, iat);
CREATE INDEX IF NOT EXISTS issued_by_iat ON issued_codes (iat);
CREATE TABLE IF NOT EXISTS scan_events (
    id INTEGER PRIMARY KEY, at INTEGER NOT NULL, valid INTEGER NOT NULL, format TEXT,
    region TEXT, status TEXT, code_id TEXT, error TEXT, place TEXT, device TEXT);
CREATE INDEX IF NOT EXISTS scans_by_time ON scan_events (at);
CREATE TABLE IF NOT EXISTS revoked_codes (
    jti TEXT PRIMARY KEY, sub TEXT NOT NULL, at INTEGER NOT NULL, exp INTEGER NOT NULL);
"""


class SqliteStore(Store):
    def __init__(self, path: str | Path):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        with self._conn() as conn:
            conn.executescript(SCHEMA)

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=30, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("PRAGMA busy_timeout=30000")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    # -- issued codes --------------------------------------------------------------------------
    def record_issued(self, record: IssuedRecord) -> None:
        self._conn().execute(
            "INSERT INTO issued_codes VALUES (?,?,?,?,?,?,?,?)",
            (record.jti, record.sub, record.region, record.kind, record.status,
             json.dumps(list(record.reasons)), record.iat, record.exp))

    def latest_status(self, sub: str, region: str) -> IssuedRecord | None:
        row = self._conn().execute(
            "SELECT jti, sub, region, kind, status, reasons, iat, exp FROM issued_codes "
            "WHERE sub = ? AND region = ? ORDER BY iat DESC, rowid DESC LIMIT 1", (sub, region)).fetchone()
        if row is None:
            return None
        return IssuedRecord(*row[:5], tuple(json.loads(row[5])), row[6], row[7])

    # -- scans --------------------------------------------------------------------------------
    def add_scans(self, events: list[ScanEvent]) -> None:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            conn.executemany(
                "INSERT INTO scan_events (at, valid, format, region, status, code_id, error, place, device)"
                " VALUES (?,?,?,?,?,?,?,?,?)",
                [(e.at, int(e.valid), e.format, e.region, e.status, e.code_id, e.error, e.place, e.device)
                 for e in events])
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def scans(self, since: int = 0, limit: int = 100) -> list[ScanEvent]:
        rows = self._conn().execute(
            "SELECT at, valid, format, region, status, code_id, error, place, device FROM scan_events"
            " WHERE at >= ? ORDER BY at, id LIMIT ?", (since, limit)).fetchall()
        return [ScanEvent(r[0], bool(r[1]), *r[2:]) for r in rows]

    def count_scans(self) -> int:
        return self._conn().execute("SELECT count(*) FROM scan_events").fetchone()[0]

    # -- revocation ---------------------------------------------------------------------------
    def revoke_subject(self, sub: str, at: int) -> list[str]:
        """Withdraw every unexpired code of ``sub``; codes issued afterwards are unaffected."""
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")
        try:
            jtis = [r[0] for r in conn.execute(
                "SELECT jti FROM issued_codes WHERE sub = ? AND exp > ?", (sub, at))]
            conn.execute(
                "INSERT OR IGNORE INTO revoked_codes SELECT jti, sub, ?, exp FROM issued_codes"
                " WHERE sub = ? AND exp > ?", (at, sub, at))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return jtis

    def is_revoked(self, jti: str) -> bool:
        return self._conn().execute(
            "SELECT 1 FROM revoked_codes WHERE jti = ?", (jti,)).fetchone() is not None

    def revoked_jtis(self, now: int) -> list[str]:
        """Withdrawn codes that have not yet expired: what offline verifiers must be told."""
        return [r[0] for r in self._conn().execute(
            "SELECT jti FROM revoked_codes WHERE exp > ? ORDER BY jti", (now,))]

    # -- retention ----------------------------------------------------------------------------
    def purge(self, before: int) -> dict:
        conn = self._conn()
        conn.execute("BEGIN")
        try:
            scans = conn.execute("DELETE FROM scan_events WHERE at < ?", (before,)).rowcount
            codes = conn.execute("DELETE FROM issued_codes WHERE exp < ?", (before,)).rowcount
            revs = conn.execute("DELETE FROM revoked_codes WHERE exp < ?", (before,)).rowcount
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return {"scan_events": scans, "issued_codes": codes, "revoked_codes": revs}
