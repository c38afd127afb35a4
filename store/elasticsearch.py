"""Elasticsearch store: the :class:`~store.Store` contract on an Elasticsearch cluster.

Layout (``P`` is the index prefix, default ``healthcode``)::

    P-scans-YYYY.MM.DD   scan events, one index per UTC day of the event (read as P-scans-*)
    P-audit-YYYY.MM      audit entries, one index per UTC month, doc id = seq (read as P-audit-*)
    P-sequences          the audit head: one document holding the last entry (optimistic concurrency)
    P-codes              issued codes, doc id = jti
    P-revoked            withdrawn codes, doc id = jti
    P-residents          doc id = hash(sub, region)
    P-dependents         doc id = hash(holder_sub, dependent_sub)
    P-ratelimit          one document per rate-limit key: the hit times inside the window

Every index has an explicit mapping with ``dynamic: strict`` (an unexpected field is an error, not a
silently new column), installed as composable index templates (``PUT _index_template``) on start-up;
a server without index templates gets the fixed indices created with their mappings and the dated
ones created on first use.

Retention.  Where the server has ILM (a full distribution) and ``retention_days`` is given, the daily
scan indices also get an ILM delete policy (``P-scans``, retention + 1 day counted from the day in
the index name).  Whether it has ILM is found out, not assumed: an unknown ``_ilm`` route (404/405,
or 400 "no handler found", as the integration-test distribution answers) or a 403 means "no ILM
here", and ``ilm`` stays False.  :meth:`ElasticsearchStore.purge` works on every server: whole daily
scan indices older than the cut-off are dropped, and the boundary day and the other kinds are
deleted by id in bulk (searched a page at a time), because ``_delete_by_query`` lives in the reindex
module, which not every server has.

Read-your-writes (``refresh``: ``"wait_for"`` by default, ``True`` in the tests, ``False`` for
fire-and-forget) is paid where it is rare, not on the hot path.  What a request writes on every
issuance or kiosk lookup — the issued code, the resident, the online status, the audit entry — is
written without waiting for a refresh: residents, online statuses, revocation checks, rate limits
and the audit head are read back by id with the real-time GET, which sees a write at once.  The
few reads that search those kinds (revoking or listing a person's codes, counting outstanding
codes, listing audit entries, counts) first ``_refresh`` the index they search, so a code is
revocable and listed, and an audit entry readable, the moment its write returned — on any
gateway.  Rarer writes read back by search (revocations, dependents) keep ``refresh`` on the
write itself.  Bulk scan ingest sends ``refresh=wait_for`` on the bulk request itself (or with
``True`` one ``_refresh`` of the touched daily indices after the whole batch — never a refresh per
document).

Bulk ingest (:meth:`add_scans`) raises :class:`ScanBulkError` if any item fails, after the others
were stored and made visible; ``error.failed`` lists the events that were not stored, so a caller
can retry exactly those.  Scan documents get client-side ids, so a request the client retries after
a timeout overwrites rather than duplicates.

The audit chain is appended atomically across processes: the head document in ``P-sequences`` is
replaced only with ``if_seq_no``/``if_primary_term`` of the head that was read (a 409 means another
appender won: re-read and re-make the entry).  The winner then copies the entry into its monthly
index with ``op_type=create`` (doc id = seq); if it died in between, the next appender (or reader)
finds the head not yet copied and copies it (readers of the entries refresh first, so an entry is
listed the moment its append returned).  Ids are unique only per index, so the
head — not ``create`` on a dated index — is what makes a sequence number unique.  Each head names
the attempt that wrote it (``writer``): a head write the client sent again after its answer was
lost (a node died mid-request) meets itself as a 409, and is recognised instead of appending the
same entry twice.
A 409 proves a document exists, but a GET may be served by a replica the write has not reached
yet and answer "not found" for a moment: the document is asked for again (up to
``EXISTING_WAIT`` seconds) before it is compared, never taken for a different one.

The official client talks to the server with its default headers (``compatible-with`` its own
major version, which is the server's: pyproject pins the client to scripts/elasticsearch-version's
major).

Every index is made with ``replicas`` replicas (default 1; ``HEALTHCODE_ES_REPLICAS``): on a cluster
of two or more data nodes each shard has a copy on another node, so losing one node loses no
acknowledged write.  A single node leaves the replicas unassigned (health yellow) and works.

When the cluster cannot take a request — no answer at all (connection refused or reset, a
timeout, after the client's own retries on the other nodes) or an answer of 429, 502, 503 or 504
(rejected for load, no elected master, no active copy of a shard) — every public method raises
:class:`standard.errors.StoreUnavailable` (``store_unavailable``, HTTP 503 with ``Retry-After``)
instead of the client's exception; any other error is left as it is.  Bulk scan ingest still
reports item failures as :class:`ScanBulkError` (the events that were not stored).

Nothing stored here contains a plain ID number: the interface only carries pseudonymous subject
ids, keyed name hashes and sealed (encrypted) personal data.
"""
from __future__ import annotations

import calendar
import functools
import hashlib
import json
import logging
import os
import random
import re
import secrets
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from elastic_transport import TransportError
from elasticsearch import ApiError, ConflictError, Elasticsearch, NotFoundError, helpers

from standard.errors import StoreUnavailable
from store.audit import read_entry
from store.contract import Dependent, IssuedRecord, MakeEntry, Resident, ScanEvent, Store

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "healthcode"
TEMPLATE_PRIORITY = 200            # above the built-in logs-*-*/metrics-*-* templates (100)
BULK_CHUNK = 5_000
PAGE = 5_000                       # search page size (below the default 10 000 result window)
AUDIT_HEAD_ID = "audit"
AUDIT_APPEND_ATTEMPTS = 200
EXISTING_WAIT = 5.0           # seconds a document a 409 proved to exist may stay unreadable on a replica
HIT_ATTEMPTS = 50
UNAVAILABLE_STATUSES = (429, 502, 503, 504)   # busy, no master, no copy of a shard, gateway timeout
RETRY_AFTER_SECONDS = 5

_PREFIX_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,150}$")
_DAY_RE = re.compile(r"-(\d{4})\.(\d{2})\.(\d{2})$")


def _kw(**extra: Any) -> dict:
    return {"type": "keyword", **extra}


_STORED_ONLY = _kw(index=False, doc_values=False)   # kept in _source, not searchable
_LONG = {"type": "long"}

MAPPINGS = {
    "scans": {"at": _LONG, "valid": {"type": "boolean"}, "format": _kw(), "region": _kw(),
              "status": _kw(), "code_id": _kw(), "error": _kw(), "place": _kw(), "device": _kw(),
              "ins": _LONG},
    "codes": {"jti": _kw(), "sub": _kw(), "region": _kw(), "kind": _kw(), "status": _kw(),
              "reasons": _kw(), "iat": _LONG, "exp": _LONG, "ins": _LONG},
    "revoked": {"jti": _kw(), "sub": _kw(), "at": _LONG, "exp": _LONG},
    "online": {"region": _kw(), "answer": _STORED_ONLY, "exp": _LONG},
    "residents": {"sub": _kw(), "region": _kw(), "name_hmac": _kw(), "status": _kw(), "reasons": _kw(),
                  "updated_at": _LONG, "pii_sealed": _STORED_ONLY},
    "dependents": {"holder_sub": _kw(), "dependent_sub": _kw(), "region": _kw(), "relation": _kw(),
                   "consent": _STORED_ONLY, "created_at": _LONG},
    "ratelimit": {"key": _kw(), "hits": _LONG, "n": _LONG, "last": _LONG},
    "sequences": {"seq": _LONG, "entry": _STORED_ONLY, "updated_at": _LONG, "writer": _STORED_ONLY},
    # the entry itself is kept as its exact JSON text: the hash chain must survive the round trip
    "audit": {"seq": _LONG, "at": _LONG, "action": _kw(), "subject": _kw(), "hash": _kw(),
              "result": _kw(), "entry": _STORED_ONLY},
}
FIXED_KINDS = ("codes", "revoked", "online", "residents", "dependents", "ratelimit", "sequences")
COUNT_KINDS = {"scans": "scans", "codes": "codes", "residents": "residents", "audit": "audit",
               "dependents": "dependents", "revoked": "revoked", "online": "online"}
SCAN_FIELDS = ("at", "valid", "format", "region", "status", "code_id", "error", "place", "device")


class ScanBulkError(helpers.BulkIndexError):
    """Some scan events were not stored.  ``failed`` is [(event, error item)], ``errors`` the raw
    bulk items (as in :class:`elasticsearch.helpers.BulkIndexError`), ``stored`` how many were."""

    def __init__(self, message: str, failed: list, stored: int):
        super().__init__(message, [item for _, item in failed])
        self.failed = failed
        self.stored = stored


class AuditConflict(RuntimeError):
    """A different audit entry already holds this sequence number (e.g. the head was deleted)."""


def _doc_id(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


def _utc_day(at: int) -> str:
    return time.strftime("%Y.%m.%d", time.gmtime(at))


def _utc_month(at: int) -> str:
    return time.strftime("%Y.%m", time.gmtime(at))


def _day_start(index: str) -> int | None:
    """Start (epoch s, UTC) of the day in a daily index name, or None."""
    m = _DAY_RE.search(index)
    if not m:
        return None
    try:
        return calendar.timegm(time.strptime("".join(m.groups()), "%Y%m%d"))
    except ValueError:
        return None


def _status(exc: ApiError) -> int:
    return getattr(getattr(exc, "meta", None), "status", 0) or 0


def _missing_feature(exc: ApiError) -> bool:
    """The server has no such API (unknown route), as opposed to rejecting what was sent."""
    status = _status(exc)
    return status in (404, 405) or (status == 400 and "no handler found" in str(exc))


class ElasticsearchStore(Store):
    """The store on Elasticsearch.  ``urls``: one URL or several (``http://host:9200``);
    ``client_options`` go to :class:`elasticsearch.Elasticsearch` (``api_key``, ``basic_auth``,
    ``ca_certs``…)."""

    def __init__(self, urls: str | Sequence[str], *, prefix: str = DEFAULT_PREFIX,
                 request_timeout: float = 30.0, max_retries: int = 3, retry_on_timeout: bool = True,
                 replicas: int = 1, refresh: bool | str = "wait_for",
                 retention_days: int | None = None, bulk_chunk: int = BULK_CHUNK,
                 purge_timeout: float = 3600.0, **client_options: Any) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"index prefix must be lowercase letters, digits, '.', '_' or '-': {prefix!r}")
        if refresh not in (True, False, "wait_for"):
            raise ValueError("refresh must be True, False or 'wait_for'")
        hosts = [urls] if isinstance(urls, str) else list(urls)
        if not isinstance(replicas, int) or replicas < 0:
            raise ValueError("replicas must be a whole number >= 0")
        self.client = Elasticsearch(hosts, request_timeout=request_timeout, max_retries=max_retries,
                                    retry_on_timeout=retry_on_timeout, **client_options)
        self.prefix = prefix
        self.refresh = refresh
        self.retention_days = retention_days
        self.bulk_chunk = bulk_chunk
        self.purge_timeout = purge_timeout
        self.replicas = replicas
        self._token = secrets.token_hex(4)          # makes client-side scan ids unique per instance
        self._ins = time.time_ns() // 1000          # insertion order: µs-based, < 2**53 for centuries
        self._ins_lock = threading.Lock()
        self._audit_copied = 0                      # highest seq this instance knows is copied
        self._known: set[str] = set()               # dated indices known to exist (no-template mode)
        self._last_revoked: list[tuple[str, int]] | None = None   # revoked_jtis' last answer
        self.ilm = False
        self.templates = True
        self.template_names: list[str] = []
        try:
            self._setup()
        except BaseException:
            self.client.close()
            raise

    # -- names ----------------------------------------------------------------------------------
    def index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def scans_index(self, at: int) -> str:
        return f"{self.prefix}-scans-{_utc_day(at)}"

    def audit_index(self, at: int) -> str:
        return f"{self.prefix}-audit-{_utc_month(at)}"

    @property
    def scans_pattern(self) -> str:
        return f"{self.prefix}-scans-*"

    @property
    def audit_pattern(self) -> str:
        return f"{self.prefix}-audit-*"

    def _pattern(self, kind: str) -> str:
        return {"scans": self.scans_pattern, "audit": self.audit_pattern}.get(kind) or self.index(kind)

    # -- set-up -----------------------------------------------------------------------------------
    def _mapping(self, kind: str) -> dict:
        return {"dynamic": "strict", "properties": MAPPINGS[kind]}

    def _settings(self, kind: str) -> dict:
        settings: dict[str, Any] = {"index.number_of_replicas": self.replicas}
        if kind == "scans" and self.ilm:
            settings.update({"index.lifecycle.name": f"{self.prefix}-scans",
                             "index.lifecycle.parse_origination_date": True})   # the day in the index name
        return settings

    def _setup(self) -> None:
        if self.retention_days:
            self._put_ilm_policy(self.retention_days)
        for kind in MAPPINGS:
            name = f"{self.prefix}-{kind}"
            pattern = [self._pattern(kind) if kind in ("scans", "audit") else self.index(kind)]
            template = {"mappings": self._mapping(kind)}
            if self._settings(kind):
                template["settings"] = self._settings(kind)
            try:
                self.client.indices.put_index_template(name=name, index_patterns=pattern, template=template,
                                                       priority=TEMPLATE_PRIORITY,
                                                       meta={"managed_by": "healthcode"})
            except ApiError as exc:
                if self.template_names or not _missing_feature(exc):
                    raise
                log.warning("index templates unavailable (%s); creating indices with mappings", exc)
                self.templates = False
                break
            self.template_names.append(name)
        for kind in FIXED_KINDS:
            self._create_index(self.index(kind), kind)
        try:        # audit indices made before "result" was indexed (operations figures) learn it
            self.client.indices.put_mapping(index=self.audit_pattern, properties={"result": _kw()},
                                            allow_no_indices=True, ignore_unavailable=True)
        except ApiError as exc:
            log.warning("could not add result to the audit mapping (%s)", _status(exc))
        try:        # a head index made before heads named their writer learns the field
            self.client.indices.put_mapping(index=self.index("sequences"), properties={"writer": _STORED_ONLY})
        except ApiError as exc:
            log.warning("could not add writer to the audit head mapping (%s)", _status(exc))

    def _put_ilm_policy(self, retention_days: int) -> None:
        # min_age counts from the day in the index name (its start), so one extra day keeps every
        # event for at least retention_days; purge() does the exact cut.
        policy = {"phases": {"hot": {"actions": {}},
                             "delete": {"min_age": f"{int(retention_days) + 1}d",
                                        "actions": {"delete": {}}}}}
        try:
            self.client.ilm.put_lifecycle(name=f"{self.prefix}-scans", policy=policy)
            self.ilm = True
        except ApiError as exc:
            if not (_missing_feature(exc) or _status(exc) == 403):      # 403: no manage_ilm privilege
                raise
            log.info("no ILM on this server (%s); old scan indices are dropped by purge()", _status(exc))

    def _create_index(self, name: str, kind: str) -> None:
        body: dict[str, Any] = {"mappings": self._mapping(kind)}
        if self._settings(kind):
            body["settings"] = self._settings(kind)
        try:
            self.client.indices.create(index=name, **body)
        except ApiError as exc:
            if _status(exc) != 400 or "already_exists" not in str(exc):
                raise
        self._known.add(name)

    def _ensure_dated(self, names: Iterable[str], kind: str) -> None:
        """Without index templates, a dated index must be created (with its mapping) before use."""
        if self.templates:
            return
        for name in names:
            if name not in self._known:
                self._create_index(name, kind)

    def close(self) -> None:
        self.client.close()

    # -- helpers ------------------------------------------------------------------------------------
    def _next_ins(self, n: int) -> int:
        with self._ins_lock:
            start = max(self._ins + 1, time.time_ns() // 1000)
            self._ins = start + n - 1
            return start

    def _search_all(self, index: str, query: dict, sort: list, limit: int | None = None,
                    source: bool | Mapping[str, Any] = True) -> Iterator[dict]:
        """Every hit (or the first ``limit``) in ``sort`` order, paged with search_after."""
        got, after = 0, None
        while limit is None or got < limit:
            size = PAGE if limit is None else min(PAGE, limit - got)
            kw: dict[str, Any] = {"search_after": after} if after is not None else {}
            hits = self.client.search(index=index, query=query, sort=sort, size=size, source=source,
                                      track_total_hits=False, ignore_unavailable=True,
                                      allow_no_indices=True, **kw)["hits"]["hits"]
            yield from hits
            got += len(hits)
            if len(hits) < size:
                return
            after = hits[-1]["sort"]

    def _get(self, index: str, doc_id: str) -> dict | None:
        try:
            return self.client.get(index=index, id=doc_id).body
        except NotFoundError:
            return None

    def _delete_matching(self, index: str, query: dict) -> int:
        """Delete every document matching ``query``, by id in bulk: a page of ids is searched, the
        page deleted with one bulk request (refreshed, so the next search no longer sees it), and
        so on until nothing matches.  This needs no ``_delete_by_query`` (the integration-test
        distribution has no reindex module) and holds one page of ids in memory.  Bounded: at most
        count/PAGE + 2 rounds; documents that start to match meanwhile wait for the next purge."""
        client = self.client.options(request_timeout=self.purge_timeout)
        client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)
        total = int(client.count(index=index, query=query, ignore_unavailable=True, allow_no_indices=True)["count"])
        deleted = 0
        for _ in range(total // PAGE + 2):
            hits = client.search(index=index, query=query, size=PAGE, source=False, track_total_hits=False,
                                 ignore_unavailable=True, allow_no_indices=True)["hits"]["hits"]
            if not hits:
                break
            actions = [{"_op_type": "delete", "_index": h["_index"], "_id": h["_id"]} for h in hits]
            errors = []
            for ok, item in helpers.streaming_bulk(client, actions, chunk_size=self.bulk_chunk, refresh=True,
                                                   raise_on_error=False, max_retries=3):
                result = item.get("delete", {})
                if ok and result.get("result") == "deleted":
                    deleted += 1
                elif result.get("status") != 404:                     # 404: someone else deleted it
                    errors.append(item)
            if errors:
                raise helpers.BulkIndexError(f"purge: {len(errors)} documents in {index} were not deleted", errors)
        return deleted

    # -- issued codes -------------------------------------------------------------------------------
    def record_issued(self, record: IssuedRecord) -> None:
        doc = {"jti": record.jti, "sub": record.sub, "region": record.region, "kind": record.kind,
               "status": record.status, "reasons": list(record.reasons), "iat": record.iat,
               "exp": record.exp, "ins": self._next_ins(1)}
        try:
            self.client.index(index=self.index("codes"), id=record.jti, document=doc, op_type="create")
        except ConflictError:
            # a retried request whose first attempt got through is fine; a reused jti is not
            existing = self._get_existing(self.index("codes"), record.jti)
            same = existing and {k: v for k, v in existing["_source"].items() if k != "ins"} == \
                {k: v for k, v in doc.items() if k != "ins"}
            if not same:
                raise

    def _searchable(self, index: str) -> None:
        """Make every write acknowledged so far visible to the search that follows (skipped with
        ``refresh=False``).  Only the rare reads call it; the hot writes do not wait."""
        if self.refresh:
            self.client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)

    def latest_status(self, sub: str, region: str) -> IssuedRecord | None:
        self._searchable(self.index("codes"))
        hits = list(self._search_all(
            self.index("codes"), {"bool": {"filter": [{"term": {"sub": sub}}, {"term": {"region": region}}]}},
            [{"iat": "desc"}, {"ins": "desc"}], limit=1))
        if not hits:
            return None
        s = hits[0]["_source"]
        return IssuedRecord(s["jti"], s["sub"], s["region"], s["kind"], s["status"], tuple(s.get("reasons") or ()),
                            s["iat"], s["exp"])

    # -- online codes -----------------------------------------------------------------------------------
    def put_online(self, code_id: str, region: str, answer: str, exp: int) -> None:
        self.client.index(index=self.index("online"), id=code_id, op_type="create",
                          document={"region": region, "answer": answer, "exp": exp})

    def online_answer(self, code_id: str, region: str) -> str | None:
        got = self._get(self.index("online"), code_id)
        source = got["_source"] if got else None
        return source["answer"] if source and source.get("region") == region else None

    # -- scans ----------------------------------------------------------------------------------------
    def add_scans(self, events: list[ScanEvent]) -> None:
        events = list(events)
        if not events:
            return
        base = self._next_ins(len(events))
        by_id: dict[str, ScanEvent] = {}
        actions, touched = [], set()
        for i, e in enumerate(events):
            index = self.scans_index(e.at)
            touched.add(index)
            doc_id = f"{self._token}{base + i:x}"
            by_id[doc_id] = e
            doc = {k: v for k, v in zip(SCAN_FIELDS, (e.at, bool(e.valid), e.format, e.region, e.status,
                                                      e.code_id, e.error, e.place, e.device)) if v is not None}
            doc["ins"] = base + i
            actions.append({"_index": index, "_id": doc_id, "_source": doc})
        self._ensure_dated(touched, "scans")
        bulk_kw: dict[str, Any] = {"refresh": "wait_for"} if self.refresh == "wait_for" else {}
        failed = []
        for ok, item in helpers.streaming_bulk(self.client, actions, chunk_size=self.bulk_chunk,
                                               raise_on_error=False, raise_on_exception=True,
                                               max_retries=3, initial_backoff=0.5, max_backoff=10,
                                               **bulk_kw):
            if not ok:
                detail = next(iter(item.values()))
                failed.append((by_id.get(detail.get("_id")), item))
        if self.refresh is True:
            self.client.indices.refresh(index=",".join(sorted(touched)), ignore_unavailable=True)
        if failed:
            first = next(iter(failed[0][1].values())).get("error")
            reason = first.get("type", "") + ": " + str(first.get("reason", "")) if isinstance(first, dict) \
                else str(first)
            message = (f"{len(failed)} of {len(events)} scan events were not stored "
                       f"(first error: {reason})")
            log.error("bulk scan ingest: %s", message)
            raise ScanBulkError(message, failed, len(events) - len(failed))

    def scans(self, since: int = 0, limit: int = 100) -> list[ScanEvent]:
        hits = self._search_all(self.scans_pattern, {"range": {"at": {"gte": since}}},
                                [{"at": "asc"}, {"ins": "asc"}], limit=limit, source={"includes": list(SCAN_FIELDS)})
        out = []
        for h in hits:
            s = h["_source"]
            out.append(ScanEvent(s["at"], bool(s["valid"]), *(s.get(k) for k in SCAN_FIELDS[2:])))
        return out

    def count(self, kind: str) -> int:
        index = self._pattern(COUNT_KINDS[kind])
        self._searchable(index)
        return int(self.client.count(index=index, ignore_unavailable=True, allow_no_indices=True)["count"])

    # -- revocation -------------------------------------------------------------------------------------
    def revoke_subject(self, sub: str, at: int) -> list[str]:
        """Withdraw every unexpired code of ``sub``; codes issued afterwards are unaffected.  A code
        already withdrawn keeps its first withdrawal time."""
        self._searchable(self.index("codes"))
        hits = list(self._search_all(
            self.index("codes"), {"bool": {"filter": [{"term": {"sub": sub}}, {"range": {"exp": {"gt": at}}}]}},
            [{"iat": "asc"}, {"ins": "asc"}], source={"includes": ["jti", "exp"]}))
        self._create_revocations([{"jti": h["_source"]["jti"], "sub": sub, "at": at, "exp": h["_source"]["exp"]}
                                  for h in hits])
        return [h["_source"]["jti"] for h in hits]

    def count_outstanding(self, sub: str, at: int) -> int:
        query = {"bool": {"filter": [{"term": {"sub": sub}}, {"range": {"exp": {"gt": at}}}]}}
        self._searchable(self.index("codes"))
        return int(self.client.count(index=self.index("codes"), query=query, ignore_unavailable=True,
                                     allow_no_indices=True)["count"])

    def revoke_codes(self, jtis: Iterable[str], sub: str, at: int, exp: int) -> list[str]:
        return self._create_revocations([{"jti": jti, "sub": sub, "at": at, "exp": exp}
                                         for jti in dict.fromkeys(jtis)])

    def _create_revocations(self, docs: list[dict]) -> list[str]:
        """``create`` each revocation (doc id = jti); the ids that were new (409 = already there)."""
        if not docs:
            return []
        actions = [{"_op_type": "create", "_index": self.index("revoked"), "_id": d["jti"], "_source": d}
                   for d in docs]
        bulk_kw: dict[str, Any] = {"refresh": self.refresh} if self.refresh else {}
        errors, created = [], []
        for ok, item in helpers.streaming_bulk(self.client, actions, chunk_size=self.bulk_chunk,
                                               raise_on_error=False, max_retries=3, **bulk_kw):
            result = next(iter(item.values()))
            if ok:
                created.append(result["_id"])
            elif result.get("status") != 409:                                   # 409: already revoked
                errors.append(item)
        if errors:
            raise helpers.BulkIndexError(f"{len(errors)} revocations were not stored", errors)
        return created

    def outstanding_codes(self, sub: str, region: str, now: int, limit: int = 100) -> list[IssuedRecord]:
        query = {"bool": {"filter": [{"term": {"sub": sub}}, {"term": {"region": region}},
                                     {"range": {"exp": {"gt": now}}}]}}
        self._searchable(self.index("codes"))
        hits = list(self._search_all(self.index("codes"), query, [{"iat": "desc"}, {"ins": "desc"}],
                                     limit=limit + 1000))
        jtis = [h["_source"]["jti"] for h in hits]
        revoked: set[str] = set()
        for i in range(0, len(jtis), 1000):
            found = self.client.mget(index=self.index("revoked"), ids=jtis[i:i + 1000], source=False)
            revoked.update(d["_id"] for d in found["docs"] if d.get("found"))
        out: list[IssuedRecord] = []
        for h in hits:
            s = h["_source"]
            if s["jti"] not in revoked and len(out) < limit:
                out.append(IssuedRecord(s["jti"], s["sub"], s["region"], s["kind"], s["status"],
                                        tuple(s.get("reasons") or ()), s["iat"], s["exp"]))
        return out

    def is_revoked(self, jti: str) -> bool:
        return bool(self.client.exists(index=self.index("revoked"), id=jti))

    def revoked_jtis(self, now: int) -> list[str]:
        """Withdrawn codes that have not yet expired: what offline verifiers must be told.  While
        the cluster cannot answer, the last list this instance read (less what expired since)
        stands in, so re-signing the trust list — and with it verification — goes on."""
        try:
            rows = [(h["_source"]["jti"], h["_source"]["exp"]) for h in self._search_all(
                self.index("revoked"), {"range": {"exp": {"gt": now}}}, [{"jti": "asc"}],
                source={"includes": ["jti", "exp"]})]
        except (ApiError, TransportError) as exc:
            if self._last_revoked is None or not unavailable(exc):
                raise
            log.warning("revocations unavailable (%s); using the %d read before", exc, len(self._last_revoked))
            rows = self._last_revoked
        self._last_revoked = rows
        return [jti for jti, exp in rows if exp > now]

    # -- retention ----------------------------------------------------------------------------------------
    def purge(self, before: int) -> dict:
        """Scan indices whose whole day is before the cut-off are deleted whole (what ILM does where
        the server has it); the boundary day and the other kinds are deleted by id in bulk
        (:meth:`_delete_matching`)."""
        dropped, dropped_docs, boundary = self._old_scan_indices(before)
        counts = {"scan_events": dropped_docs, "scan_indices_dropped": len(dropped)}
        for i in range(0, len(dropped), 50):
            self.client.indices.delete(index=",".join(dropped[i:i + 50]), ignore_unavailable=True)
        self._known.difference_update(dropped)
        for index in boundary:
            counts["scan_events"] += self._delete_matching(index, {"range": {"at": {"lt": before}}})
        counts["issued_codes"] = self._delete_matching(self.index("codes"), {"range": {"exp": {"lt": before}}})
        counts["revoked_codes"] = self._delete_matching(self.index("revoked"), {"range": {"exp": {"lt": before}}})
        counts["online_codes"] = self._delete_matching(self.index("online"), {"range": {"exp": {"lt": before}}})
        counts["residents"] = self._delete_matching(self.index("residents"),
                                                    {"range": {"updated_at": {"lt": before}}})
        stale = {"range": {"last": {"lt": before}}}
        self.client.indices.refresh(index=self.index("ratelimit"))     # hit() writes without refresh
        hits = self.client.search(index=self.index("ratelimit"), query=stale, size=0,
                                  aggs={"n": {"sum": {"field": "n"}}})
        self._delete_matching(self.index("ratelimit"), stale)
        counts["rate_hits"] = int((hits.get("aggregations") or {}).get("n", {}).get("value") or 0)
        return counts

    def _old_scan_indices(self, before: int) -> tuple[list[str], int, list[str]]:
        existing = self.client.indices.get_alias(index=self.scans_pattern, expand_wildcards="open",
                                                 allow_no_indices=True, ignore_unavailable=True)
        dropped, boundary = [], []
        for name in existing:
            start = _day_start(name)
            if start is None:
                boundary.append(name)                 # not a daily index: purge it by id
            elif start + 86400 <= before:
                dropped.append(name)
            elif start < before:
                boundary.append(name)
        docs = 0
        if dropped:
            self.client.indices.refresh(index=",".join(dropped) if len(dropped) <= 50 else self.scans_pattern,
                                        ignore_unavailable=True)
            for i in range(0, len(dropped), 50):
                docs += int(self.client.count(index=",".join(dropped[i:i + 50]), ignore_unavailable=True)["count"])
        return sorted(dropped), docs, boundary

    # -- residents ------------------------------------------------------------------------------------------
    def upsert_resident(self, r: Resident) -> None:
        doc = {"sub": r.sub, "region": r.region, "name_hmac": r.name_hmac, "status": r.status,
               "reasons": list(r.reasons), "updated_at": r.updated_at}
        doc_id = _doc_id(r.sub, r.region)
        if r.pii_sealed is not None:
            self.client.index(index=self.index("residents"), id=doc_id, document={**doc, "pii_sealed": r.pii_sealed})
        else:     # a partial update leaves any sealed data already there (coalesce)
            self.client.update(index=self.index("residents"), id=doc_id, doc=doc, doc_as_upsert=True,
                               retry_on_conflict=5)

    def get_resident(self, sub: str, region: str) -> Resident | None:
        got = self._get(self.index("residents"), _doc_id(sub, region))
        if got is None:
            return None
        s = got["_source"]
        return Resident(s["sub"], s["region"], s["name_hmac"], s["status"], tuple(s.get("reasons") or ()),
                        s["updated_at"], s.get("pii_sealed"))

    # -- dependents ---------------------------------------------------------------------------------------
    def add_dependent(self, d: Dependent) -> None:
        # consent is stored as JSON text, so a re-bind replaces it instead of merging objects
        change = {"region": d.region, "relation": d.relation,
                  "consent": json.dumps(d.consent, ensure_ascii=False, sort_keys=True)}
        full = {"holder_sub": d.holder_sub, "dependent_sub": d.dependent_sub, "created_at": d.created_at, **change}
        self.client.update(index=self.index("dependents"), id=_doc_id(d.holder_sub, d.dependent_sub),
                           doc=change, upsert=full, refresh=self.refresh, retry_on_conflict=5)

    def dependents(self, holder_sub: str) -> list[Dependent]:
        hits = self._search_all(self.index("dependents"), {"term": {"holder_sub": holder_sub}},
                                [{"created_at": "asc"}, {"dependent_sub": "asc"}])
        return [Dependent(s["holder_sub"], s["dependent_sub"], s["region"], s["relation"], json.loads(s["consent"]),
                          s["created_at"]) for s in (h["_source"] for h in hits)]

    # -- rate limiting --------------------------------------------------------------------------------------
    def hit(self, key: str, at: int, window: int) -> int:
        """One document per key holding the hit times still inside the window, replaced with
        optimistic concurrency (real-time GET, no refresh), so concurrent gateways count exactly."""
        index, doc_id = self.index("ratelimit"), _doc_id(key)
        for attempt in range(HIT_ATTEMPTS):
            got = self._get(index, doc_id)
            hits = [t for t in (got["_source"]["hits"] if got else []) if t > at - window] + [at]
            doc = {"key": key, "hits": hits, "n": len(hits), "last": max(hits)}
            try:
                if got is None:
                    self.client.index(index=index, id=doc_id, document=doc, op_type="create")
                else:
                    self.client.index(index=index, id=doc_id, document=doc, if_seq_no=got["_seq_no"],
                                      if_primary_term=got["_primary_term"])
                return len(hits)
            except ConflictError:
                time.sleep(random.uniform(0, 0.002 * (attempt + 1)))
        raise RuntimeError(f"rate limit counter for {key!r} stayed contended")

    # -- operations figures -----------------------------------------------------------------------------
    def _composite(self, index: str, query: dict, sources: list) -> Iterator[dict]:
        """Every bucket of a composite aggregation, paged with after_key (bounded memory)."""
        after = None
        while True:
            composite = {"size": 1000, "sources": sources, **({"after": after} if after else {})}
            res = self.client.search(index=index, size=0, query=query, aggs={"c": {"composite": composite}},
                                     ignore_unavailable=True, allow_no_indices=True)
            agg = (res.get("aggregations") or {}).get("c") or {}
            yield from agg.get("buckets", [])
            after = agg.get("after_key")
            if not after or len(agg.get("buckets", [])) < 1000:
                return

    def scan_counts(self, since: int, until: int, bucket: int) -> list[tuple]:
        sources = [{"t": {"histogram": {"field": "at", "interval": int(bucket)}}},
                   *({k: {"terms": {"field": k, "missing_bucket": True}}} for k in ("region", "status", "error"))]
        query = {"range": {"at": {"gte": int(since), "lt": int(until)}}}
        rows = [(int(b["key"]["t"]), b["key"].get("region"), b["key"].get("status"), b["key"].get("error"),
                 b["doc_count"]) for b in self._composite(self.scans_pattern, query, sources)]
        return sorted(rows, key=lambda r: r[0])

    def audit_counts(self, since: int, until: int, bucket: int, actions: Iterable[str]) -> list[tuple]:
        actions = list(actions)
        if not actions:
            return []
        sources = [{"t": {"histogram": {"field": "at", "interval": int(bucket)}}},
                   {"action": {"terms": {"field": "action"}}},
                   {"result": {"terms": {"field": "result", "missing_bucket": True}}}]
        query = {"bool": {"filter": [{"range": {"at": {"gte": int(since), "lt": int(until)}}},
                                     {"terms": {"action": actions}}]}}
        self._searchable(self.audit_pattern)
        rows = [(int(b["key"]["t"]), b["key"]["action"], b["key"].get("result"), b["doc_count"])
                for b in self._composite(self.audit_pattern, query, sources)]
        return sorted(rows, key=lambda r: r[0])

    # -- audit ----------------------------------------------------------------------------------------------
    def append_audit(self, make_entry: MakeEntry) -> dict:
        heads = self.index("sequences")
        for attempt in range(AUDIT_APPEND_ATTEMPTS):
            got = self._get(heads, AUDIT_HEAD_ID)
            last = read_entry(got["_source"]["entry"]) if got else self._last_copied_entry()
            if got is not None and last is not None:
                self._copy_audit(last, winner=False)      # finish an append whose writer died midway
            entry = make_entry(last)
            writer = secrets.token_hex(8)                 # names this attempt in the head it writes
            head = {"seq": entry["seq"], "updated_at": int(time.time()), "writer": writer,
                    "entry": json.dumps(entry, ensure_ascii=False, sort_keys=True)}
            try:
                if got is None:
                    self.client.index(index=heads, id=AUDIT_HEAD_ID, document=head, op_type="create")
                else:
                    self.client.index(index=heads, id=AUDIT_HEAD_ID, document=head,
                                      if_seq_no=got["_seq_no"], if_primary_term=got["_primary_term"])
            except ConflictError:
                # Another appender moved the head first — or this very write did, and the client
                # sent it again after its answer was lost (a node died mid-request): then the head
                # names this attempt, and the entry is appended, once.
                now = self._get(heads, AUDIT_HEAD_ID)
                if not (now is not None and now["_source"].get("writer") == writer):
                    time.sleep(random.uniform(0, min(0.05, 0.002 * (attempt + 1))))
                    continue
            self._copy_audit(entry, winner=True)
            return entry
        raise RuntimeError("audit log head stayed contended; entry not appended")

    def _copy_audit(self, entry: dict, winner: bool) -> None:
        """Store ``entry`` (the head, or what just became the head) in its monthly index, once.
        The appender that moved the head creates it; anyone else first looks whether it is there."""
        seq = entry["seq"]
        if seq <= self._audit_copied:
            return
        at = int(entry.get("at") or time.time())
        index = self.audit_index(at)
        if not winner:
            existing = self._get(index, str(seq))
            if existing is not None:
                self._check_same(existing, entry)
                self._audit_copied = max(self._audit_copied, seq)
                return
        doc = {"seq": seq, "at": at, "action": entry.get("action"), "subject": entry.get("subject"),
               "hash": entry.get("hash"), "result": entry.get("result"), "entry": json.dumps(entry, ensure_ascii=False, sort_keys=True)}
        self._ensure_dated([index], "audit")
        try:
            self.client.index(index=index, id=str(seq), document={k: v for k, v in doc.items() if v is not None},
                              op_type="create")
        except ConflictError:                        # another appender copied it first
            self._check_same(self._get_existing(index, str(seq)), entry)
        self._audit_copied = max(self._audit_copied, seq)

    def _get_existing(self, index: str, doc_id: str) -> dict:
        """A document a 409 just proved exists.  A GET may be served by a replica the write has not
        reached yet (it answers "not found" for a moment), so it is asked again for up to
        ``EXISTING_WAIT`` seconds; still not found means the cluster cannot answer now."""
        deadline = time.monotonic() + EXISTING_WAIT
        while True:
            got = self._get(index, doc_id)
            if got is not None:
                return got
            if time.monotonic() > deadline:
                raise StoreUnavailable(f"the data store cannot take this request now ({index}/{doc_id} "
                                       f"not yet readable); try again in {RETRY_AFTER_SECONDS} s",
                                       retry_after=RETRY_AFTER_SECONDS)
            time.sleep(0.02)

    @staticmethod
    def _check_same(existing: dict | None, entry: dict) -> None:
        if existing is None or existing["_source"].get("hash") != entry.get("hash"):
            raise AuditConflict(f"audit seq {entry['seq']} already holds a different entry")

    def _last_copied_entry(self) -> dict | None:
        """No head document (new log, or the head index was lost): continue from the highest entry."""
        self.client.indices.refresh(index=self.audit_pattern, ignore_unavailable=True, allow_no_indices=True)
        hits = list(self._search_all(self.audit_pattern, {"match_all": {}}, [{"seq": "desc"}], limit=1))
        return read_entry(hits[0]["_source"]["entry"]) if hits else None

    def _repair_audit_tail(self) -> None:
        got = self._get(self.index("sequences"), AUDIT_HEAD_ID)
        if got is not None:
            entry = read_entry(got["_source"]["entry"])
            if entry["seq"] > self._audit_copied:
                self._copy_audit(entry, winner=False)

    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]:
        self._repair_audit_tail()
        self._searchable(self.audit_pattern)
        hits = self._search_all(self.audit_pattern, {"range": {"seq": {"gt": after_seq}}}, [{"seq": "asc"}],
                                limit=limit, source={"includes": ["entry"]})
        return [read_entry(h["_source"]["entry"]) for h in hits]


def from_env(settings: Any = None, environ: Mapping[str, str] | None = None) -> ElasticsearchStore:
    """The store named by the environment: HEALTHCODE_ES_URL (one URL or several, comma-separated),
    optional HEALTHCODE_ES_PREFIX (default "healthcode"), HEALTHCODE_ES_API_KEY, and
    HEALTHCODE_ES_REPLICAS (replicas of every index, default 1).  Retention (for the ILM policy)
    comes from ``settings.retention_days`` or HEALTHCODE_RETENTION_DAYS."""
    env = os.environ if environ is None else environ
    raw = env.get("HEALTHCODE_ES_URL", "")
    urls = [u.strip() for u in raw.split(",") if u.strip()]
    if not urls:
        raise ValueError("HEALTHCODE_STORE=elasticsearch needs HEALTHCODE_ES_URL (e.g. http://127.0.0.1:9200)")
    retention = getattr(settings, "retention_days", None) or env.get("HEALTHCODE_RETENTION_DAYS") or None
    options: dict[str, Any] = {}
    if env.get("HEALTHCODE_ES_API_KEY"):
        options["api_key"] = env["HEALTHCODE_ES_API_KEY"]
    replicas = env.get("HEALTHCODE_ES_REPLICAS", "").strip() or "1"
    if not replicas.isdigit():
        raise ValueError(f"HEALTHCODE_ES_REPLICAS must be a whole number >= 0, not {replicas!r}")
    return ElasticsearchStore(urls, prefix=env.get("HEALTHCODE_ES_PREFIX") or DEFAULT_PREFIX,
                              replicas=int(replicas),
                              retention_days=int(retention) if retention else None, **options)


def unavailable(exc: BaseException) -> bool:
    """The cluster could not take the request (as opposed to refusing what was sent)."""
    if isinstance(exc, ApiError):
        return _status(exc) in UNAVAILABLE_STATUSES
    return isinstance(exc, TransportError)


def _raise_unavailable(method: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (ApiError, TransportError) as exc:
            if not unavailable(exc):
                raise
            what = f"HTTP {_status(exc)}" if isinstance(exc, ApiError) else type(exc).__name__
            log.warning("Elasticsearch cannot take %s now (%s): %s", method.__name__, what, exc)
            raise StoreUnavailable(f"the data store cannot take this request now ({what}); "
                                   f"try again in {RETRY_AFTER_SECONDS} s",
                                   retry_after=RETRY_AFTER_SECONDS) from exc
    return wrapper


PUBLIC_METHODS = ("record_issued", "latest_status", "put_online", "online_answer", "add_scans", "add_scan",
                  "scans", "count", "count_scans", "ping", "revoke_subject", "revoke_codes", "is_revoked",
                  "revoked_jtis", "purge", "upsert_resident", "get_resident", "add_dependent", "dependents",
                  "hit", "scan_counts", "audit_counts", "append_audit", "audit_entries", "record_issuance")
for _name in PUBLIC_METHODS:
    setattr(ElasticsearchStore, _name, _raise_unavailable(getattr(ElasticsearchStore, _name)))
