"""The store's indices: their names, mappings, settings and the templates that make them.

Layout (``P`` is the index prefix, default ``healthcode``)::

    P-scans-YYYY.MM.DD   scan events, one index per UTC day of the event (read as P-scans-*)
    P-audit-YYYY.MM      audit entries, one index per UTC month, doc id = seq (read as P-audit-*)
    P-sequences          the audit head: one document holding the last entry (optimistic concurrency)
    P-codes              issued codes, doc id = jti
    P-revoked            withdrawn codes, doc id = jti
    P-online             online codes' signed answers, doc id = code id
    P-residents          doc id = hash(sub, region)
    P-dependents         doc id = hash(holder_sub, dependent_sub)
    P-ratelimit          one document per rate-limit key: the hit times inside the window

Every index has an explicit mapping with ``dynamic: strict`` (an unexpected field is an error, not a
silently new column), installed as composable index templates (``PUT _index_template``) on start-up;
a server without index templates gets the fixed indices created with their mappings and the dated
ones created on first use (:meth:`Indices.ensure_dated`).

Every index is made with ``replicas`` replicas: on a cluster of two or more data nodes each shard
has a copy on another node, so losing one node loses no acknowledged write.  A single node leaves
the replicas unassigned (health yellow) and works.  ``shards`` gives an index kind more than one
primary shard (:func:`parse_shards`); a template applies to indices made after it, so a new count
reaches a fixed index only when it is made again, and the dated ones from their next day or month.

Where the server has ILM (a full distribution) and a retention is given, the daily scan indices
also get an ILM delete policy (``P-scans``, retention + 1 day counted from the day in the index
name).  Whether it has ILM is found out, not assumed: an unknown ``_ilm`` route (404/405, or 400
"no handler found", as the integration-test distribution answers) or a 403 means "no ILM here",
and :attr:`Indices.ilm` stays False.
"""
from __future__ import annotations

import calendar
import logging
import re
import time
from typing import Any, Iterable

from elasticsearch import ApiError, Elasticsearch

from .errors import http_status, missing_feature

log = logging.getLogger(__name__)

DEFAULT_PREFIX = "healthcode"
TEMPLATE_PRIORITY = 200            # above the built-in logs-*-*/metrics-*-* templates (100)

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
    "sequences": {"seq": _LONG, "entry": _STORED_ONLY, "group": _STORED_ONLY, "updated_at": _LONG,
                  "writer": _STORED_ONLY},
    # the entry itself is kept as its exact JSON text: the hash chain must survive the round trip
    "audit": {"seq": _LONG, "at": _LONG, "action": _kw(), "subject": _kw(), "hash": _kw(),
              "result": _kw(), "entry": _STORED_ONLY},
}
FIXED_KINDS = ("codes", "revoked", "online", "residents", "dependents", "ratelimit", "sequences")


MAX_SHARDS = 1024                  # Elasticsearch's own ceiling for one index's primaries


def parse_shards(text: str) -> dict[str, int]:
    """Primary shards per index kind from ``"4"`` (every kind) or ``"codes=4,audit=4"`` (the kinds
    named; the rest keep one).  Raises ValueError naming what is wrong."""
    text = text.strip()
    if not text:
        return {}

    def count(raw: str) -> int:
        raw = raw.strip()
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SHARDS:
            raise ValueError(f"a shard count is a whole number from 1 to {MAX_SHARDS}, not {raw!r}")
        return int(raw)

    if "=" not in text:
        return dict.fromkeys(MAPPINGS, count(text))
    shards: dict[str, int] = {}
    for part in text.split(","):
        kind, sep, raw = part.partition("=")
        kind = kind.strip()
        if not sep or kind not in MAPPINGS:
            raise ValueError(f"shards are kind=count pairs with kinds from {', '.join(MAPPINGS)}, not {part.strip()!r}")
        shards[kind] = count(raw)
    return shards


def day_start(index: str) -> int | None:
    """Start (epoch s, UTC) of the day in a daily index name, or None."""
    m = _DAY_RE.search(index)
    if not m:
        return None
    try:
        return calendar.timegm(time.strptime("".join(m.groups()), "%Y%m%d"))
    except ValueError:
        return None


class Indices:
    """The indices under one prefix on one cluster.  :meth:`setup` installs their templates (or,
    without index templates, creates the fixed indices); ``ilm``, ``templates`` and
    ``template_names`` say what the server turned out to support."""

    def __init__(self, client: Elasticsearch, prefix: str = DEFAULT_PREFIX, replicas: int = 1,
                 shards: dict[str, int] | None = None) -> None:
        if not _PREFIX_RE.match(prefix):
            raise ValueError(f"index prefix must be lowercase letters, digits, '.', '_' or '-': {prefix!r}")
        if not isinstance(replicas, int) or replicas < 0:
            raise ValueError("replicas must be a whole number >= 0")
        shards = dict(shards or {})
        for kind, n in shards.items():
            if kind not in MAPPINGS or not isinstance(n, int) or not 1 <= n <= MAX_SHARDS:
                raise ValueError(f"shards: {kind!r}={n!r} is not an index kind with 1 to {MAX_SHARDS} shards")
        self.client = client
        self.prefix = prefix
        self.replicas = replicas
        self.shards = shards
        self.ilm = False
        self.templates = True
        self.template_names: list[str] = []
        self._known: set[str] = set()               # indices known to exist (no-template mode)

    # -- names ----------------------------------------------------------------------------------
    def index(self, kind: str) -> str:
        return f"{self.prefix}-{kind}"

    def scans_index(self, at: int) -> str:
        return f"{self.prefix}-scans-{time.strftime('%Y.%m.%d', time.gmtime(at))}"

    def audit_index(self, at: int) -> str:
        return f"{self.prefix}-audit-{time.strftime('%Y.%m', time.gmtime(at))}"

    @property
    def scans_pattern(self) -> str:
        return f"{self.prefix}-scans-*"

    @property
    def audit_pattern(self) -> str:
        return f"{self.prefix}-audit-*"

    def pattern(self, kind: str) -> str:
        """Every index of ``kind``: the fixed index, or the dated ones' wildcard."""
        return {"scans": self.scans_pattern, "audit": self.audit_pattern}.get(kind) or self.index(kind)

    # -- set-up -----------------------------------------------------------------------------------
    def _mapping(self, kind: str) -> dict:
        return {"dynamic": "strict", "properties": MAPPINGS[kind]}

    def _settings(self, kind: str) -> dict:
        settings: dict[str, Any] = {"index.number_of_replicas": self.replicas,
                                    "index.number_of_shards": self.shards.get(kind, 1)}
        if kind == "scans" and self.ilm:
            settings.update({"index.lifecycle.name": f"{self.prefix}-scans",
                             "index.lifecycle.parse_origination_date": True})   # the day in the index name
        return settings

    def setup(self, retention_days: int | None = None) -> None:
        """Install the templates (and the ILM policy, given a retention) and create the fixed indices."""
        if retention_days:
            self._put_ilm_policy(retention_days)
        for kind in MAPPINGS:
            name = self.index(kind)
            pattern = [self.pattern(kind)]
            template = {"mappings": self._mapping(kind)}
            if self._settings(kind):
                template["settings"] = self._settings(kind)
            try:
                self.client.indices.put_index_template(name=name, index_patterns=pattern, template=template,
                                                       priority=TEMPLATE_PRIORITY,
                                                       meta={"managed_by": "healthcode"})
            except ApiError as exc:
                if self.template_names or not missing_feature(exc):
                    raise
                log.warning("index templates unavailable (%s); creating indices with mappings", exc)
                self.templates = False
                break
            self.template_names.append(name)
        for kind in FIXED_KINDS:
            self._create(self.index(kind), kind)
        try:        # the new indices' primaries are active before the first write (a busy node may be slow)
            self.client.cluster.health(index=[self.index(kind) for kind in FIXED_KINDS], wait_for_status="yellow",
                                       timeout="30s")
        except ApiError as exc:
            log.warning("indices not yet active (%s); writes may answer store_unavailable", http_status(exc))
        try:        # audit indices made before "result" was indexed (operations figures) learn it
            self.client.indices.put_mapping(index=self.audit_pattern, properties={"result": _kw()},
                                            allow_no_indices=True, ignore_unavailable=True)
        except ApiError as exc:
            log.warning("could not add result to the audit mapping (%s)", http_status(exc))
        try:        # a head index made before heads named their writer and group learns the fields
            self.client.indices.put_mapping(index=self.index("sequences"),
                                            properties={"writer": _STORED_ONLY, "group": _STORED_ONLY})
        except ApiError as exc:
            log.warning("could not add writer and group to the audit head mapping (%s)", http_status(exc))

    def _put_ilm_policy(self, retention_days: int) -> None:
        # min_age counts from the day in the index name (its start), so one extra day keeps every
        # event for at least retention_days; the store's purge() does the exact cut.
        policy = {"phases": {"hot": {"actions": {}},
                             "delete": {"min_age": f"{int(retention_days) + 1}d",
                                        "actions": {"delete": {}}}}}
        try:
            self.client.ilm.put_lifecycle(name=f"{self.prefix}-scans", policy=policy)
            self.ilm = True
        except ApiError as exc:
            if not (missing_feature(exc) or http_status(exc) == 403):      # 403: no manage_ilm privilege
                raise
            log.info("no ILM on this server (%s); old scan indices are dropped by purge()", http_status(exc))

    def _create(self, name: str, kind: str) -> None:
        body: dict[str, Any] = {"mappings": self._mapping(kind)}
        if self._settings(kind):
            body["settings"] = self._settings(kind)
        try:
            self.client.indices.create(index=name, **body)
        except ApiError as exc:
            if http_status(exc) != 400 or "already_exists" not in str(exc):
                raise
        self._known.add(name)

    def ensure_dated(self, names: Iterable[str], kind: str) -> None:
        """Without index templates, a dated index must be created (with its mapping) before use."""
        if self.templates:
            return
        for name in names:
            if name not in self._known:
                self._create(name, kind)

    def forget(self, names: Iterable[str]) -> None:
        """``names`` were deleted: a later write creates them again."""
        self._known.difference_update(names)
