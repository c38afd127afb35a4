"""Tamper-evident audit log: every issuance, lookup, transcoding, key change and purge.

Each entry's ``hash`` is SHA-256 over the previous entry's hash and the entry's own canonical
JSON, so changing, removing or reordering any entry breaks every hash after it.  Entries carry
pseudonymous subject ids only — never a name or ID number.

A chain alone cannot tell that its tail was cut off, or that whoever holds the database rewrote
it from the start.  So the auditor — a different party from the operator who runs the store —
notes the ``checkpoint`` (``seq:hash``) that each verification prints, keeps it outside the store,
and passes it back next time as a *checkpoint*: the log must still hold that very entry.
"""
from __future__ import annotations

import hashlib
import json
from typing import Any, Callable, Iterable, Iterator

from standard import idcard
from store.contract import MakeEntry, Store

GENESIS = "0" * 64
DUPLICATES = "!duplicate_members"      # set by read_entry on a stored entry no two readers read alike


def read_entry(text: str) -> dict:
    """A stored entry, as the chain checks it.  JSON readers disagree on an object with a member
    twice (Python keeps the last, SQLite's ``json_extract`` the first), so a row rewritten with
    duplicate members could say one thing to the ops figures and another to the chain.  Such an
    entry comes back marked with :data:`DUPLICATES` (the names), which :func:`verify_chain`
    reports as a broken entry and which never hashes to the stored ``hash``."""
    repeated: list[str] = []

    def pairs(items: list[tuple[str, Any]]) -> dict:
        seen: dict = {}
        for key, value in items:
            if key in seen:
                repeated.append(key)
            seen[key] = value
        return seen

    entry = json.loads(text, object_pairs_hook=pairs)
    if repeated and isinstance(entry, dict):
        entry[DUPLICATES] = sorted(set(repeated))
    return entry


def canonical(entry: dict) -> bytes:
    body = {k: v for k, v in entry.items() if k != "hash"}
    return json.dumps(body, ensure_ascii=False, sort_keys=True, separators=(",", ":")).encode()


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def masked(value: Any) -> Any:
    """``value`` with every resident ID number in its text masked (:func:`standard.idcard.mask_in_text`):
    the log is never purged, and a reason or a reference is free text someone typed."""
    if isinstance(value, str):
        return idcard.mask_in_text(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [masked(v) for v in value]
    return value


def next_entry(last: dict | None, at: int, actor: dict, action: str, subject: str | None = None,
               result: str = "ok", detail: dict | None = None) -> dict:
    entry = {"seq": (last["seq"] + 1) if last else 1, "at": at, "prev": last["hash"] if last else GENESIS,
             "actor": actor, "action": action, "subject": subject, "result": result,
             "detail": detail or {}}
    entry["hash"] = entry_hash(entry)
    return entry


def parse_checkpoint(text: str) -> tuple[int, str]:
    seq, _, digest = str(text).partition(":")
    if not seq.isdigit() or len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
        raise ValueError("a checkpoint is SEQ:SHA256HEX, as printed in 'checkpoint'")
    return int(seq), digest


def verify_chain(entries: Iterable[dict], checkpoint: tuple[int, str] | None = None) -> dict:
    """Walk the chain; report the first broken link (or that all is intact).  With a
    ``checkpoint`` (seq, hash) noted earlier, the entry at that seq must still have that hash."""
    prev_hash, expected_seq, count = GENESIS, 1, 0
    for entry in entries:
        if checkpoint and entry.get("seq") == checkpoint[0] and entry.get("hash") != checkpoint[1]:
            return {"intact": False, "entries": count, "broken_at": checkpoint[0],
                    "problem": "checkpoint differs: the log was rewritten"}
        problem = None
        if DUPLICATES in entry:
            problem = f"entry has duplicate JSON members ({', '.join(entry[DUPLICATES])}): readers disagree on it"
        elif entry.get("seq") != expected_seq:
            problem = "sequence gap or reorder"
        elif entry.get("prev") != prev_hash:
            problem = "link to previous entry broken"
        elif entry.get("hash") != entry_hash(entry):
            problem = "entry altered"
        if problem:
            return {"intact": False, "entries": count, "broken_at": entry.get("seq"), "problem": problem}
        prev_hash, expected_seq, count = entry["hash"], expected_seq + 1, count + 1
    if checkpoint and checkpoint[0] > count:
        return {"intact": False, "entries": count, "broken_at": count + 1,
                "problem": "checkpoint missing: entries were removed from the end"}
    return {"intact": True, "entries": count, "head": prev_hash, "checkpoint": f"{count}:{prev_hash}"}


class AuditLog:
    def __init__(self, store: Store, clock: Callable[[], float]) -> None:
        self.store = store
        self.clock = clock

    def record(self, actor: dict, action: str, subject: str | None = None, result: str = "ok",
               **detail: Any) -> dict:
        return self.store.append_audit(self.entry(actor, action, subject, result, **detail))

    def entry(self, actor: dict, action: str, subject: str | None = None, result: str = "ok",
              **detail: Any) -> MakeEntry:
        """The entry-maker ``record`` appends, for a store write that must carry its own entry
        (``Store.record_issuance``)."""
        actor, detail = masked(actor), masked(detail)
        return lambda last: next_entry(last, int(self.clock()), actor, action, subject, result, detail)

    def entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]:
        return self.store.audit_entries(after_seq, limit)

    def verify(self, checkpoint: tuple[int, str] | None = None) -> dict:
        return verify_chain(self._all(), checkpoint)

    def _all(self) -> Iterator[dict]:
        after = 0
        while True:
            page = self.store.audit_entries(after, 1000)
            yield from page
            if len(page) < 1000:
                return
            after = page[-1]["seq"]
