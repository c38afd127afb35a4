"""Elasticsearch store: the :class:`~store.Store` contract on an Elasticsearch cluster.

    indices.py    index names, mappings, templates, replicas and the ILM policy
    store.py      ElasticsearchStore: codes, online codes, scans, revocation, residents,
                  dependents, rate limits, operations figures
    audit.py      the audit hash chain, appended atomically across processes
    retention.py  purge: old daily indices dropped whole, the rest deleted by id in bulk
    queries.py    paged reads and deletes (one page in memory)
    errors.py     what a cluster failure means to callers (store_unavailable, ScanBulkError)

:func:`from_env` makes the store the environment names.
"""
from __future__ import annotations

import os
from typing import Any, Mapping

from .errors import AuditConflict, ScanBulkError, unavailable
from .indices import DEFAULT_PREFIX, MAPPINGS, parse_shards
from .store import ElasticsearchStore

__all__ = ["AuditConflict", "DEFAULT_PREFIX", "ElasticsearchStore", "MAPPINGS", "ScanBulkError", "from_env",
           "unavailable"]


def from_env(settings: Any = None, environ: Mapping[str, str] | None = None) -> ElasticsearchStore:
    """The store named by the environment: HEALTHCODE_ES_URL (one URL or several, comma-separated),
    optional HEALTHCODE_ES_PREFIX (default "healthcode"), HEALTHCODE_ES_API_KEY, and
    HEALTHCODE_ES_REPLICAS (replicas of every index, default 1) and HEALTHCODE_ES_SHARDS (primary
    shards: one count for every index, or ``codes=4,audit=4``; default 1).  Retention (for the ILM policy)
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
    try:
        shards = parse_shards(env.get("HEALTHCODE_ES_SHARDS", ""))
    except ValueError as exc:
        raise ValueError(f"HEALTHCODE_ES_SHARDS: {exc}") from None
    return ElasticsearchStore(urls, prefix=env.get("HEALTHCODE_ES_PREFIX") or DEFAULT_PREFIX,
                              replicas=int(replicas), shards=shards,
                              retention_days=int(retention) if retention else None, **options)
