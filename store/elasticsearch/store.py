"""The :class:`~store.Store` contract on an Elasticsearch cluster.

Read-your-writes (``refresh``: ``"wait_for"`` by default, ``True`` in the tests, ``False`` for
fire-and-forget) is paid where it is rare, not on the hot path.  What a request writes on every
issuance or kiosk lookup — the issued code, the resident, the online status, the audit entry — is
written without waiting for a refresh: residents, online statuses, revocation checks, rate limits
and the audit head are read back by id with the real-time GET, which sees a write at once.  The
few reads that search those kinds (revoking or listing a person's codes, counting outstanding
codes, listing audit entries, counts) first ``_refresh`` the index they search
(:func:`.queries.searchable`), so a code is revocable and listed, and an audit entry readable,
the moment its write returned — on any gateway.  Rarer writes read back by search (revocations,
dependents) keep ``refresh`` on the write itself.  Bulk scan ingest sends ``refresh=wait_for`` on
the bulk request itself (or with ``True`` one ``_refresh`` of the touched daily indices after the
whole batch — never a refresh per document).

Bulk ingest (:meth:`ElasticsearchStore.add_scans`) raises :class:`ScanBulkError` if any item
fails, after the others were stored and made visible; ``error.failed`` lists the events that were
not stored, so a caller can retry exactly those.  Scan documents get client-side ids, so a request
the client retries after a timeout overwrites rather than duplicates.

The official client talks to the server with its default headers (``compatible-with`` its own
major version, which is the server's: pyproject pins the client to scripts/elasticsearch-version's
major).

Nothing stored here contains a plain ID number: the interface only carries pseudonymous subject
ids, keyed name hashes and sealed (encrypted) personal data.
"""
from __future__ import annotations

import hashlib
import json
import logging
import random
import secrets
import threading
import time
from typing import Any, Iterable, Sequence

from elastic_transport import TransportError
from elasticsearch import ApiError, ConflictError, Elasticsearch, helpers

from store.contract import Dependent, IssuedRecord, MakeEntry, Resident, ScanEvent, Store

from . import retention
from .audit import AuditChain
from .errors import ScanBulkError, raise_unavailable, unavailable
from .indices import DEFAULT_PREFIX, Indices
from .queries import composite, get, get_existing, search_all, searchable

log = logging.getLogger(__name__)

BULK_CHUNK = 5_000
HIT_ATTEMPTS = 50
COUNT_KINDS = {"scans": "scans", "codes": "codes", "residents": "residents", "audit": "audit",
               "dependents": "dependents", "revoked": "revoked", "online": "online"}
SCAN_FIELDS = ("at", "valid", "format", "region", "status", "code_id", "error", "place", "device")


def _doc_id(*parts: str) -> str:
    return hashlib.sha256(json.dumps(parts, ensure_ascii=False).encode()).hexdigest()


class ElasticsearchStore(Store):
    """The store on Elasticsearch.  ``urls``: one URL or several (``http://host:9200``);
    ``client_options`` go to :class:`elasticsearch.Elasticsearch` (``api_key``, ``basic_auth``,
    ``ca_certs``…).  Every index has ``replicas`` replicas and ``shards[kind]`` primaries (default 1);
    ``retention_days`` adds an ILM delete
    policy for the daily scan indices where the server has ILM (:mod:`.indices`)."""

    def __init__(self, urls: str | Sequence[str], *, prefix: str = DEFAULT_PREFIX,
                 request_timeout: float = 30.0, max_retries: int = 3, retry_on_timeout: bool = True,
                 replicas: int = 1, shards: dict[str, int] | None = None, refresh: bool | str = "wait_for",
                 retention_days: int | None = None, bulk_chunk: int = BULK_CHUNK,
                 purge_timeout: float = 3600.0, **client_options: Any) -> None:
        if refresh not in (True, False, "wait_for"):
            raise ValueError("refresh must be True, False or 'wait_for'")
        hosts = [urls] if isinstance(urls, str) else list(urls)
        client = Elasticsearch(hosts, request_timeout=request_timeout, max_retries=max_retries,
                               retry_on_timeout=retry_on_timeout, **client_options)
        try:
            self.indices = Indices(client, prefix, replicas, shards)
            self.indices.setup(retention_days)
        except BaseException:
            client.close()
            raise
        self.refresh = refresh
        self.retention_days = retention_days
        self.bulk_chunk = bulk_chunk
        self.purge_timeout = purge_timeout
        self.audit_chain = AuditChain(self.indices, refresh)
        self._token = secrets.token_hex(4)          # makes client-side scan ids unique per instance
        self._ins = time.time_ns() // 1000          # insertion order: µs-based, < 2**53 for centuries
        self._ins_lock = threading.Lock()
        self._last_revoked: list[tuple[str, int]] | None = None   # revoked_jtis' last answer

    # -- the client and the indices (:class:`Indices`), one for every part --------------------
    @property
    def client(self) -> Elasticsearch:
        return self.indices.client

    @client.setter
    def client(self, client: Elasticsearch) -> None:
        self.indices.client = client

    @property
    def prefix(self) -> str:
        return self.indices.prefix

    @property
    def replicas(self) -> int:
        return self.indices.replicas

    @property
    def ilm(self) -> bool:
        return self.indices.ilm

    @property
    def templates(self) -> bool:
        return self.indices.templates

    @property
    def template_names(self) -> list[str]:
        return self.indices.template_names

    @property
    def scans_pattern(self) -> str:
        return self.indices.scans_pattern

    @property
    def audit_pattern(self) -> str:
        return self.indices.audit_pattern

    def index(self, kind: str) -> str:
        return self.indices.index(kind)

    def scans_index(self, at: int) -> str:
        return self.indices.scans_index(at)

    def audit_index(self, at: int) -> str:
        return self.indices.audit_index(at)

    def close(self) -> None:
        self.client.close()

    def _next_ins(self, n: int) -> int:
        with self._ins_lock:
            start = max(self._ins + 1, time.time_ns() // 1000)
            self._ins = start + n - 1
            return start

    # -- issued codes -------------------------------------------------------------------------------
    def record_issued(self, record: IssuedRecord) -> None:
        doc = {"jti": record.jti, "sub": record.sub, "region": record.region, "kind": record.kind,
               "status": record.status, "reasons": list(record.reasons), "iat": record.iat,
               "exp": record.exp, "ins": self._next_ins(1)}
        try:
            self.client.index(index=self.index("codes"), id=record.jti, document=doc, op_type="create")
        except ConflictError:
            # a retried request whose first attempt got through is fine; a reused jti is not
            existing = get_existing(self.client, self.index("codes"), record.jti)
            same = existing and {k: v for k, v in existing["_source"].items() if k != "ins"} == \
                {k: v for k, v in doc.items() if k != "ins"}
            if not same:
                raise

    def latest_status(self, sub: str, region: str) -> IssuedRecord | None:
        query = {"bool": {"filter": [{"term": {"sub": sub}}, {"term": {"region": region}}]}}
        searchable(self.client, self.index("codes"), self.refresh)
        hits = list(search_all(self.client, self.index("codes"), query, [{"iat": "desc"}, {"ins": "desc"}], limit=1))
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
        got = get(self.client, self.index("online"), code_id)
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
        self.indices.ensure_dated(touched, "scans")
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
        hits = search_all(self.client, self.scans_pattern, {"range": {"at": {"gte": since}}},
                          [{"at": "asc"}, {"ins": "asc"}], limit=limit, source={"includes": list(SCAN_FIELDS)})
        out = []
        for h in hits:
            s = h["_source"]
            out.append(ScanEvent(s["at"], bool(s["valid"]), *(s.get(k) for k in SCAN_FIELDS[2:])))
        return out

    def count(self, kind: str) -> int:
        index = self.indices.pattern(COUNT_KINDS[kind])
        searchable(self.client, index, self.refresh)
        return int(self.client.count(index=index, ignore_unavailable=True, allow_no_indices=True)["count"])

    # -- revocation -------------------------------------------------------------------------------------
    def revoke_subject(self, sub: str, at: int) -> list[str]:
        """Withdraw every unexpired code of ``sub``; codes issued afterwards are unaffected.  A code
        already withdrawn keeps its first withdrawal time."""
        query = {"bool": {"filter": [{"term": {"sub": sub}}, {"range": {"exp": {"gt": at}}}]}}
        searchable(self.client, self.index("codes"), self.refresh)
        hits = list(search_all(self.client, self.index("codes"), query, [{"iat": "asc"}, {"ins": "asc"}],
                               source={"includes": ["jti", "exp"]}))
        self._create_revocations([{"jti": h["_source"]["jti"], "sub": sub, "at": at, "exp": h["_source"]["exp"]}
                                  for h in hits])
        return [h["_source"]["jti"] for h in hits]

    def count_outstanding(self, sub: str, at: int) -> int:
        query = {"bool": {"filter": [{"term": {"sub": sub}}, {"range": {"exp": {"gt": at}}}]}}
        searchable(self.client, self.index("codes"), self.refresh)
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
        searchable(self.client, self.index("codes"), self.refresh)
        hits = list(search_all(self.client, self.index("codes"), query, [{"iat": "desc"}, {"ins": "desc"}],
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
            rows = [(h["_source"]["jti"], h["_source"]["exp"]) for h in search_all(
                self.client, self.index("revoked"), {"range": {"exp": {"gt": now}}}, [{"jti": "asc"}],
                source={"includes": ["jti", "exp"]})]
        except (ApiError, TransportError) as exc:
            if self._last_revoked is None or not unavailable(exc):
                raise
            log.warning("revocations unavailable (%s); using the %d read before", exc, len(self._last_revoked))
            rows = self._last_revoked
        self._last_revoked = rows
        return [jti for jti, exp in rows if exp > now]

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
        got = get(self.client, self.index("residents"), _doc_id(sub, region))
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
        hits = search_all(self.client, self.index("dependents"), {"term": {"holder_sub": holder_sub}},
                          [{"created_at": "asc"}, {"dependent_sub": "asc"}])
        return [Dependent(s["holder_sub"], s["dependent_sub"], s["region"], s["relation"], json.loads(s["consent"]),
                          s["created_at"]) for s in (h["_source"] for h in hits)]

    # -- rate limiting --------------------------------------------------------------------------------------
    def hit(self, key: str, at: int, window: int) -> int:
        """One document per key holding the hit times still inside the window, replaced with
        optimistic concurrency (real-time GET, no refresh), so concurrent gateways count exactly."""
        index, doc_id = self.index("ratelimit"), _doc_id(key)
        for attempt in range(HIT_ATTEMPTS):
            got = get(self.client, index, doc_id)
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
    def scan_counts(self, since: int, until: int, bucket: int) -> list[tuple]:
        sources = [{"t": {"histogram": {"field": "at", "interval": int(bucket)}}},
                   *({k: {"terms": {"field": k, "missing_bucket": True}}} for k in ("region", "status", "error"))]
        query = {"range": {"at": {"gte": int(since), "lt": int(until)}}}
        rows = [(int(b["key"]["t"]), b["key"].get("region"), b["key"].get("status"), b["key"].get("error"),
                 b["doc_count"]) for b in composite(self.client, self.scans_pattern, query, sources)]
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
        searchable(self.client, self.indices.audit_pattern, self.refresh)
        rows = [(int(b["key"]["t"]), b["key"]["action"], b["key"].get("result"), b["doc_count"])
                for b in composite(self.client, self.audit_pattern, query, sources)]
        return sorted(rows, key=lambda r: r[0])

    # -- retention ----------------------------------------------------------------------------------------
    def purge(self, before: int) -> dict:
        """Daily scan indices wholly before the cut-off are deleted whole (what ILM does where the
        server has it); the boundary day and the other kinds are deleted by id in bulk
        (:mod:`.retention`)."""
        return retention.purge(self.indices, before, self.bulk_chunk, self.purge_timeout)

    # -- audit (:mod:`.audit`) ----------------------------------------------------------------------------
    def append_audit(self, make_entry: MakeEntry) -> dict:
        return self.audit_chain.append(make_entry)

    def audit_entries(self, after_seq: int = 0, limit: int = 1000) -> list[dict]:
        return self.audit_chain.entries(after_seq, limit)


# Every public method of the contract answers StoreUnavailable when the cluster cannot take it.
PUBLIC_METHODS = tuple(name for name, value in vars(Store).items()
                       if callable(value) and not name.startswith("_") and name != "close")
for _name in PUBLIC_METHODS:
    setattr(ElasticsearchStore, _name, raise_unavailable(getattr(ElasticsearchStore, _name)))
