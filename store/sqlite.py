"""SQLite store: one file, WAL journal so scans keep flowing while a purge or report reads.

One connection per thread (sqlite3 objects are not shareable); writes are single statements or
explicit transactions, so a crash never leaves half a batch.
"""
from __future__ import annotations

import contextlib
import json
import sqlite3
import threading
from itertools import chain
from pathlib import Path
from typing import Iterable, Iterator

from store.audit import read_entry
from store.contract import Dependent, IssuedRecord, MakeEntry, Resident, ScanEvent, Store

# rows a scan INSERT takes, largest first (the last must be 1); 32 rows are 288 parameters, under
# the 999 of SQLite builds before 3.32
SCAN_ROWS_A_STATEMENT = (32, 8, 1)
SCAN_COLUMNS = ScanEvent._fields
_INSERT_SCANS = {size: f"INSERT INTO scan_events ({', '.join(SCAN_COLUMNS)}) VALUES "
                       + ",".join(["(" + ",".join("?" * len(SCAN_COLUMNS)) + ")"] * size) for size in SCAN_ROWS_A_STATEMENT}
COUNT_TABLES = {"scans": "scan_events", "codes": "issued_codes", "residents": "residents",
                "audit": "audit_log", "dependents": "dependents", "revoked": "revoked_codes", "online": "online_codes"}

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
CREATE TABLE IF NOT EXISTS residents (
    sub TEXT NOT NULL, region TEXT NOT NULL, name_hmac TEXT NOT NULL, status TEXT NOT NULL,
    reasons TEXT NOT NULL, updated_at INTEGER NOT NULL, pii_sealed TEXT, PRIMARY KEY (sub, region));
CREATE TABLE IF NOT EXISTS dependents (
    holder_sub TEXT NOT NULL, dependent_sub TEXT NOT NULL, region TEXT NOT NULL,
    relation TEXT NOT NULL, consent TEXT NOT NULL, created_at INTEGER NOT NULL,
    PRIMARY KEY (holder_sub, dependent_sub));
CREATE TABLE IF NOT EXISTS rate_hits (key TEXT NOT NULL, at INTEGER NOT NULL);
CREATE INDEX IF NOT EXISTS rate_by_key ON rate_hits (key, at);
CREATE TABLE IF NOT EXISTS audit_log (seq INTEGER PRIMARY KEY, entry TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS online_codes (
    code_id TEXT PRIMARY KEY, region TEXT NOT NULL, answer TEXT NOT NULL, exp INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS revoked_codes (
    jti TEXT PRIMARY KEY, sub TEXT NOT NULL, at INTEGER NOT NULL, exp INTEGER NOT NULL);
-- bumped in the same transaction as every change to revoked_codes: verifiers keep the revoked
-- ids in memory and re-read only when this moves (store/revocations.py)
CREATE TABLE IF NOT EXISTS revocation_generation (
    id INTEGER PRIMARY KEY CHECK (id = 0), inserted INTEGER NOT NULL, deleted INTEGER NOT NULL);
INSERT OR IGNORE INTO revocation_generation VALUES (0, 0, 0);
CREATE TRIGGER IF NOT EXISTS revoked_codes_inserted AFTER INSERT ON revoked_codes BEGIN
    UPDATE revocation_generation SET inserted = inserted + 1 WHERE id = 0; END;
CREATE TRIGGER IF NOT EXISTS revoked_codes_deleted AFTER DELETE ON revoked_codes BEGIN
    UPDATE revocation_generation SET deleted = deleted + 1 WHERE id = 0; END;
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

    def ping(self) -> None:
        self._conn().execute("SELECT 1 FROM scan_events LIMIT 1").fetchall()

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
        return IssuedRecord(row[0], row[1], row[2], row[3], row[4], tuple(json.loads(row[5])), row[6], row[7])

    # -- scans --------------------------------------------------------------------------------
    def add_scans(self, events: list[ScanEvent]) -> None:
        """One transaction; the rows in order, up to :data:`SCAN_ROWS_A_STATEMENT` an INSERT (a
        row a statement cost SQLite ~0.6 µs more a row: a batch's 500 scans are the gateway's
        largest write)."""
        events = events if isinstance(events, list) else list(events)
        if sum(map(len, events)) != len(SCAN_COLUMNS) * len(events):     # rows are flattened below
            raise ValueError(f"a scan event has the {len(SCAN_COLUMNS)} fields of ScanEvent")
        with self._transaction() as conn:
            start = 0
            for size in SCAN_ROWS_A_STATEMENT:
                end = start + (len(events) - start) // size * size
                if end > start:      # a ScanEvent is the row, in column order
                    conn.executemany(_INSERT_SCANS[size], [list(chain.from_iterable(events[i:i + size]))
                                                           for i in range(start, end, size)])
                start = end

    def scans(self, since: int = 0, limit: int = 100) -> list[ScanEvent]:
        rows = self._conn().execute(
            "SELECT at, valid, format, region, status, code_id, error, place, device FROM scan_events"
            " WHERE at >= ? ORDER BY at, id LIMIT ?", (since, limit)).fetchall()
        return [ScanEvent(r[0], bool(r[1]), *r[2:]) for r in rows]

    def scan_counts(self, since: int, until: int, bucket: int) -> list[tuple]:
        return [tuple(r) for r in self._conn().execute(
            "SELECT (at / ?) * ?, region, status, error, count(*) FROM scan_events"
            " WHERE at >= ? AND at < ? GROUP BY 1, 2, 3, 4 ORDER BY 1",
            (int(bucket), int(bucket), int(since), int(until)))]

    def audit_counts(self, since: int, until: int, bucket: int, actions: Iterable[str]) -> list[tuple]:
        actions = list(actions)
        marks = ",".join("?" * len(actions))
        return [tuple(r) for r in self._conn().execute(
            "SELECT (json_extract(entry, '$.at') / ?) * ?, json_extract(entry, '$.action'),"
            " json_extract(entry, '$.result'), count(*) FROM audit_log"
            f" WHERE json_extract(entry, '$.at') >= ? AND json_extract(entry, '$.at') < ?"
            f" AND json_extract(entry, '$.action') IN ({marks}) GROUP BY 1, 2, 3 ORDER BY 1",
            (int(bucket), int(bucket), int(since), int(until), *actions))] if actions else []

    def count(self, kind: str) -> int:
        return self._conn().execute(f"SELECT count(*) FROM {COUNT_TABLES[kind]}").fetchone()[0]

    # -- revocation ---------------------------------------------------------------------------
    def revoke_subject(self, sub: str, at: int) -> list[str]:
        """Withdraw every unexpired code of ``sub``; codes issued afterwards are unaffected."""
        with self._transaction(immediate=True) as conn:
            jtis = [r[0] for r in conn.execute(
                "SELECT jti FROM issued_codes WHERE sub = ? AND exp > ?", (sub, at))]
            conn.execute(
                "INSERT OR IGNORE INTO revoked_codes SELECT jti, sub, ?, exp FROM issued_codes"
                " WHERE sub = ? AND exp > ?", (at, sub, at))
        return jtis

    def count_outstanding(self, sub: str, at: int) -> int:
        return self._conn().execute("SELECT count(*) FROM issued_codes WHERE sub = ? AND exp > ?",
                                    (sub, at)).fetchone()[0]

    def revoke_codes(self, jtis: Iterable[str], sub: str, at: int, exp: int) -> list[str]:
        with self._transaction(immediate=True) as conn:
            return [jti for jti in dict.fromkeys(jtis) if conn.execute(
                "INSERT OR IGNORE INTO revoked_codes VALUES (?, ?, ?, ?)", (jti, sub, at, exp)).rowcount]

    def outstanding_codes(self, sub: str, region: str, now: int, limit: int = 100) -> list[IssuedRecord]:
        rows = self._conn().execute(
            "SELECT jti, sub, region, kind, status, reasons, iat, exp FROM issued_codes c"
            " WHERE sub = ? AND region = ? AND exp > ? AND NOT EXISTS"
            " (SELECT 1 FROM revoked_codes r WHERE r.jti = c.jti)"
            " ORDER BY iat DESC, rowid DESC LIMIT ?", (sub, region, now, limit)).fetchall()
        return [IssuedRecord(r[0], r[1], r[2], r[3], r[4], tuple(json.loads(r[5])), r[6], r[7]) for r in rows]

    def is_revoked(self, jti: str) -> bool:
        return self._conn().execute(
            "SELECT 1 FROM revoked_codes WHERE jti = ?", (jti,)).fetchone() is not None

    def revocation_generation(self) -> tuple[int, int]:
        """(rows ever inserted, rows ever deleted) in revoked_codes, kept by triggers."""
        return self._conn().execute(
            "SELECT inserted, deleted FROM revocation_generation WHERE id = 0").fetchone()

    def revoked_rows(self, after_rowid: int = 0) -> list[tuple[int, str]]:
        return self._conn().execute(
            "SELECT rowid, jti FROM revoked_codes WHERE rowid > ?", (after_rowid,)).fetchall()

    def revoked_jtis(self, now: int) -> list[str]:
        """Withdrawn codes that have not yet expired: what offline verifiers must be told."""
        return [r[0] for r in self._conn().execute(
            "SELECT jti FROM revoked_codes WHERE exp > ? ORDER BY jti", (now,))]

    # -- retention ----------------------------------------------------------------------------
    def purge(self, before: int) -> dict:
        with self._transaction() as conn:
            counts = {
                "scan_events": conn.execute("DELETE FROM scan_events WHERE at < ?", (before,)).rowcount,
                "issued_codes": conn.execute("DELETE FROM issued_codes WHERE exp < ?", (before,)).rowcount,
                "revoked_codes": conn.execute("DELETE FROM revoked_codes WHERE exp < ?", (before,)).rowcount,
                "online_codes": conn.execute("DELETE FROM online_codes WHERE exp < ?", (before,)).rowcount,
                "residents": conn.execute("DELETE FROM residents WHERE updated_at < ?", (before,)).rowcount,
                "rate_hits": conn.execute("DELETE FROM rate_hits WHERE at < ?", (before,)).rowcount,
            }
        return counts

    # -- online codes ---------------------------------------------------------------------------
    def put_online(self, code_id: str, region: str, answer: str, exp: int) -> None:
        self._conn().execute("INSERT INTO online_codes VALUES (?, ?, ?, ?)", (code_id, region, answer, exp))

    def online_answer(self, code_id: str, region: str) -> str | None:
        row = self._conn().execute("SELECT answer FROM online_codes WHERE code_id = ? AND region = ?",
                                   (code_id, region)).fetchone()
        return row[0] if row else None

    # -- residents ----------------------------------------------------------------------------
    def upsert_resident(self, r: Resident) -> None:
        self._conn().execute(
            "INSERT INTO residents VALUES (?,?,?,?,?,?,?) ON CONFLICT (sub, region) DO UPDATE SET "
            "name_hmac = excluded.name_hmac, status = excluded.status, reasons = excluded.reasons, "
            "updated_at = excluded.updated_at, pii_sealed = coalesce(excluded.pii_sealed, pii_sealed)",
            (r.sub, r.region, r.name_hmac, r.status, json.dumps(list(r.reasons)), r.updated_at, r.pii_sealed))

    def get_resident(self, sub: str, region: str) -> Resident | None:
        row = self._conn().execute(
            "SELECT sub, region, name_hmac, status, reasons, updated_at, pii_sealed FROM residents "
            "WHERE sub = ? AND region = ?", (sub, region)).fetchone()
        if row is None:
            return None
        return Resident(row[0], row[1], row[2], row[3], tuple(json.loads(row[4])), row[5], row[6])

    # -- dependents ---------------------------------------------------------------------------
    def add_dependent(self, d: Dependent) -> None:
        self._conn().execute(
            "INSERT INTO dependents VALUES (?,?,?,?,?,?) ON CONFLICT (holder_sub, dependent_sub) "
            "DO UPDATE SET region = excluded.region, relation = excluded.relation, consent = excluded.consent",
            (d.holder_sub, d.dependent_sub, d.region, d.relation, json.dumps(d.consent), d.created_at))

    def dependents(self, holder_sub: str) -> list[Dependent]:
        rows = self._conn().execute(
            "SELECT holder_sub, dependent_sub, region, relation, consent, created_at FROM dependents "
            "WHERE holder_sub = ? ORDER BY created_at, dependent_sub", (holder_sub,)).fetchall()
        return [Dependent(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5]) for r in rows]

    # -- rate limiting ------------------------------------------------------------------------
    def hit(self, key: str, at: int, window: int) -> int:
        with self._transaction() as conn:
            conn.execute("INSERT INTO rate_hits VALUES (?, ?)", (key, at))
            return conn.execute("SELECT count(*) FROM rate_hits WHERE key = ? AND at > ?",
                                (key, at - window)).fetchone()[0]

    # -- audit ----------------------------------------------------------------------------------
    def append_audit(self, make_entry: MakeEntry) -> dict:
        with self._transaction(immediate=True) as conn:
            return self._append_audit(conn, make_entry)

    def record_issuance(self, record: IssuedRecord, resident: Resident | None, make_entry: MakeEntry,
                        online_answer: str | None = None) -> dict:
        """Code (with an online code's signed status), resident and audit entry in one
        transaction: all or none survive a crash."""
        with self._transaction(immediate=True) as conn:
            entry = self._append_audit(conn, make_entry)
            self.record_issued(record)          # same thread, same connection: inside the transaction
            if online_answer is not None:
                self.put_online(record.jti, record.region, online_answer, record.exp)
            if resident is not None:
                self.upsert_resident(resident)
        return entry

    @staticmethod
    def _append_audit(conn: sqlite3.Connection, make_entry: MakeEntry) -> dict:
        row = conn.execute("SELECT entry FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()
        entry = make_entry(read_entry(row[0]) if row else None)
        conn.execute("INSERT INTO audit_log VALUES (?, ?)",
                     (entry["seq"], json.dumps(entry, ensure_ascii=False, sort_keys=True)))
        return entry

    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]:
        rows = self._conn().execute("SELECT entry FROM audit_log WHERE seq > ? ORDER BY seq LIMIT ?",
                                    (after_seq, limit)).fetchall()
        return [read_entry(r[0]) for r in rows]

    @contextlib.contextmanager
    def _transaction(self, immediate: bool = False) -> Iterator[sqlite3.Connection]:
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE" if immediate else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
