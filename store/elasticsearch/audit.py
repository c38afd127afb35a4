"""The audit hash chain on Elasticsearch, appended atomically across processes.

The head document in ``P-sequences`` is replaced only with ``if_seq_no``/``if_primary_term`` of the
head that was read (a 409 means another appender won: re-read and re-make the entries).  The winner
then copies the entries into their monthly index with ``op_type=create`` (doc id = seq), one bulk
request for the group; if it died in between, the next appender (or reader) finds the head not
yet copied (one ``mget`` for the group) and copies it — the head
carries every entry its write appended (``entry``, the last, and ``group``, the ones before), so
nothing of a group is lost with its writer.  Readers of the entries refresh first, so an entry is
listed the moment its append returned.  Ids are unique only per index, so the head — not ``create``
on a dated index — is what makes a sequence number unique.

Group commit: the head is one document that every gateway replaces in turn, so appends are serial
across the cluster.  Within one process, appends that arrive while a head write is in flight wait
for it and then go together: one thread (the leader) makes their entries in arrival order, each
chained to the one before, and moves the head once for all of them (at most :data:`MAX_GROUP`).
Each caller still gets its own entry back only after it is stored; a failure fails every caller of
that group and appends none of its entries.

Each head names the attempt that wrote it (``writer``): a head write the client sent again after
its answer was lost (a node died mid-request) meets itself as a 409, and is recognised instead of
appending the same entries twice.  A 409 proves a document exists (or, on the head, that it moved
past the version read), but a GET may be served by a replica the write has not reached yet and
answer "not found" or the old version for a moment: the document is asked for again
(``queries.get_existing``) before it is compared, never taken for a different one.
"""
from __future__ import annotations

import json
import random
import secrets
import threading
import time

from elasticsearch import ConflictError, Elasticsearch

from store.audit import read_entry
from store.contract import MakeEntry

from standard.errors import StoreUnavailable

from .errors import RETRY_AFTER_SECONDS, UNAVAILABLE_STATUSES, AuditConflict
from .indices import Indices
from .queries import get, get_existing, search_all, searchable

HEAD_ID = "audit"
APPEND_ATTEMPTS = 200
MAX_GROUP = 64                  # entries one head write appends at most


class _Waiting:
    """One caller's append: its entry-maker, and what the group's leader made of it."""
    __slots__ = ("make_entry", "done", "entry", "error", "lead")

    def __init__(self, make_entry: MakeEntry) -> None:
        self.make_entry = make_entry
        self.done = threading.Event()
        self.entry: dict | None = None
        self.error: BaseException | None = None
        self.lead = False                     # woken to lead the next group, not with a result


def _text(entry: dict) -> str:
    """The entry as stored: its exact JSON text, so the hash chain survives the round trip."""
    return json.dumps(entry, ensure_ascii=False, sort_keys=True)


class AuditChain:
    """The audit log of one store: ``refresh`` is the store's (see :class:`ElasticsearchStore`)."""

    def __init__(self, indices: Indices, refresh: bool | str) -> None:
        self.indices = indices
        self.refresh = refresh
        self._copied = 0                      # highest seq this instance knows is copied
        self._lock = threading.Lock()         # guards the queue and the lead (group commit)
        self._queue: list[_Waiting] = []
        self._leading = False

    @property
    def client(self) -> Elasticsearch:
        return self.indices.client

    def append(self, make_entry: MakeEntry) -> dict:
        me = _Waiting(make_entry)
        with self._lock:
            self._queue.append(me)
            lead = not self._leading
            self._leading = True
        if not lead:
            me.done.wait()
            lead = me.lead                    # the last leader handed the next group to this caller
        if lead:
            self._lead()
        if me.error is not None:
            raise me.error
        assert me.entry is not None
        return me.entry

    def _lead(self) -> None:
        """Append the queue's first group (which holds the leader's own append), answer its callers,
        and hand the lead to the next caller still waiting — or give it up."""
        with self._lock:
            group, self._queue = self._queue[:MAX_GROUP], self._queue[MAX_GROUP:]
        try:
            entries = self._append_group([w.make_entry for w in group])
            for waiting, entry in zip(group, entries):
                waiting.entry = entry
        except BaseException as exc:          # every caller of the group learns why, none appended
            for waiting in group:
                waiting.error = exc
        with self._lock:
            if self._queue:
                self._queue[0].lead = True
                self._queue[0].done.set()
            else:
                self._leading = False
        for waiting in group:
            waiting.done.set()

    def _append_group(self, makers: list[MakeEntry]) -> list[dict]:
        heads = self.indices.index("sequences")
        for attempt in range(APPEND_ATTEMPTS):
            got = get(self.client, heads, HEAD_ID)
            last = read_entry(got["_source"]["entry"]) if got else self._last_copied_entry()
            if got is not None and last is not None:
                self._copy(self._head_entries(got), winner=False)   # finish a group whose writer died midway
            entries: list[dict] = []
            for make_entry in makers:
                entries.append(make_entry(entries[-1] if entries else last))
            writer = secrets.token_hex(8)                 # names this attempt in the head it writes
            head = {"seq": entries[-1]["seq"], "updated_at": int(time.time()), "writer": writer,
                    "entry": _text(entries[-1]), "group": [_text(e) for e in entries[:-1]]}
            try:
                if got is None:
                    self.client.index(index=heads, id=HEAD_ID, document=head, op_type="create")
                else:
                    self.client.index(index=heads, id=HEAD_ID, document=head,
                                      if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"])
            except ConflictError:
                # Another appender moved the head first — or this very write did, and the client
                # sent it again after its answer was lost (a node died mid-request): then the head
                # names this attempt, and the entries are appended, once.  The 409 proves the head
                # moved past ``got``: a read still showing ``got`` (or nothing) came from a replica
                # behind the primary and is asked again, so this attempt is never mistaken for a
                # lost one and its entries appended a second time.
                now = get_existing(self.client, heads, HEAD_ID, replaced=got)
                if now["_source"].get("writer") != writer:
                    time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
                    continue
            self._copy(entries, winner=True)
            return entries
        raise RuntimeError("audit log head stayed contended; entry not appended")

    @staticmethod
    def _head_entries(head: dict) -> list[dict]:
        """Every entry the head's write appended, in order."""
        source = head["_source"]
        return [read_entry(text) for text in source.get("group") or ()] + [read_entry(source["entry"])]

    def entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]:
        self._repair_tail()
        searchable(self.client, self.indices.audit_pattern, self.refresh)
        hits = search_all(self.client, self.indices.audit_pattern, {"range": {"seq": {"gt": after_seq}}},
                          [{"seq": "asc"}], limit=limit, source={"includes": ["entry"]})
        return [read_entry(h["_source"]["entry"]) for h in hits]

    def _copy(self, entries: list[dict], winner: bool) -> None:
        """Store ``entries`` (the head's group, or what just became the head) in their monthly
        indices, once each, in one bulk request (a group costs one round trip, not one per entry).
        The appender that moved the head creates them; anyone else first asks, in one ``mget``,
        which are there.  A failure stops at the first entry not stored: what this instance
        counts as copied is always a prefix of the chain."""
        todo = [(self.indices.audit_index(int(e.get("at") or time.time())), e) for e in entries
                if e["seq"] > self._copied]
        if not todo:
            return
        if not winner:
            found = self.client.mget(docs=[{"_index": index, "_id": str(e["seq"])} for index, e in todo])["docs"]
            missing = []
            for (index, entry), doc in zip(todo, found):
                if doc.get("found"):
                    self._check_same(doc, entry)
                else:
                    missing.append((index, entry))
            if not missing:
                self._copied = max(self._copied, todo[-1][1]["seq"])
                return
            todo = missing
        self.indices.ensure_dated(sorted({index for index, _ in todo}), "audit")
        operations: list[dict] = []
        for index, entry in todo:
            doc = {"seq": entry["seq"], "at": int(entry.get("at") or time.time()), "action": entry.get("action"),
                   "subject": entry.get("subject"), "hash": entry.get("hash"), "result": entry.get("result"),
                   "entry": _text(entry)}
            operations += [{"create": {"_index": index, "_id": str(entry["seq"])}},
                           {k: v for k, v in doc.items() if v is not None}]
        items = self.client.bulk(operations=operations)["items"]
        for (index, entry), item in zip(todo, items):
            result = item.get("create", {})
            status = result.get("status", 0)
            if status == 409:                              # another appender copied it first
                self._check_same(get_existing(self.client, index, str(entry["seq"])), entry)
            elif not 200 <= status < 300:
                kind = (result.get("error") or {}).get("type", "unknown")
                if status in UNAVAILABLE_STATUSES:
                    raise StoreUnavailable(f"the data store cannot take this request now (audit entry: HTTP "
                                           f"{status}, {kind}); try again in {RETRY_AFTER_SECONDS} s",
                                           retry_after=RETRY_AFTER_SECONDS)
                raise RuntimeError(f"audit entry {entry['seq']} not stored: HTTP {status}, {kind}")
            self._copied = max(self._copied, entry["seq"])

    @staticmethod
    def _check_same(existing: dict | None, entry: dict) -> None:
        if existing is None or existing["_source"].get("hash") != entry.get("hash"):
            raise AuditConflict(f"audit seq {entry['seq']} already holds a different entry")

    def _last_copied_entry(self) -> dict | None:
        """No head document (new log, or the head index was lost): continue from the highest entry."""
        pattern = self.indices.audit_pattern
        self.client.indices.refresh(index=pattern, ignore_unavailable=True, allow_no_indices=True)
        hits = list(search_all(self.client, pattern, {"match_all": {}}, [{"seq": "desc"}], limit=1))
        return read_entry(hits[0]["_source"]["entry"]) if hits else None

    def _repair_tail(self) -> None:
        got = get(self.client, self.indices.index("sequences"), HEAD_ID)
        if got is not None and got["_source"]["seq"] > self._copied:
            self._copy(self._head_entries(got), winner=False)
