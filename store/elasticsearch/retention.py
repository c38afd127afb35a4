"""Retention: what :meth:`ElasticsearchStore.purge` deletes, on every server.

Daily scan indices whose whole day is before the cut-off are dropped whole (what ILM does where
the server has it); the boundary day and the other kinds are deleted by id in bulk, searched a
page at a time (:func:`queries.delete_matching`), because ``_delete_by_query`` lives in the reindex
module, which not every server has.
"""
from __future__ import annotations

from .indices import Indices, day_start
from .queries import delete_matching

NAMES_PER_REQUEST = 50             # index names joined into one request path


def purge(indices: Indices, before: int, bulk_chunk: int, timeout: float) -> dict:
    """Delete scan events, expired codes and residents untouched since ``before``; what went, by kind."""
    client = indices.client
    dropped, dropped_docs, boundary = _old_scan_indices(indices, before)
    counts = {"scan_events": dropped_docs, "scan_indices_dropped": len(dropped)}
    for names in _groups(dropped):
        client.indices.delete(index=names, ignore_unavailable=True)
    indices.forget(dropped)

    def delete(index: str, query: dict) -> int:
        return delete_matching(client, index, query, bulk_chunk, timeout)

    for index in boundary:
        counts["scan_events"] += delete(index, {"range": {"at": {"lt": before}}})
    counts["issued_codes"] = delete(indices.index("codes"), {"range": {"exp": {"lt": before}}})
    counts["revoked_codes"] = delete(indices.index("revoked"), {"range": {"exp": {"lt": before}}})
    counts["online_codes"] = delete(indices.index("online"), {"range": {"exp": {"lt": before}}})
    counts["residents"] = delete(indices.index("residents"), {"range": {"updated_at": {"lt": before}}})
    stale = {"range": {"last": {"lt": before}}}
    client.indices.refresh(index=indices.index("ratelimit"))     # hit() writes without refresh
    hits = client.search(index=indices.index("ratelimit"), query=stale, size=0,
                         aggs={"n": {"sum": {"field": "n"}}})
    delete(indices.index("ratelimit"), stale)
    counts["rate_hits"] = int((hits.get("aggregations") or {}).get("n", {}).get("value") or 0)
    return counts


def _groups(names: list[str]) -> list[str]:
    return [",".join(names[i:i + NAMES_PER_REQUEST]) for i in range(0, len(names), NAMES_PER_REQUEST)]


def _old_scan_indices(indices: Indices, before: int) -> tuple[list[str], int, list[str]]:
    """(daily indices wholly before ``before``, the documents they hold, indices to trim by id)."""
    client = indices.client
    existing = client.indices.get_alias(index=indices.scans_pattern, expand_wildcards="open",
                                        allow_no_indices=True, ignore_unavailable=True)
    dropped, boundary = [], []
    for name in existing:
        start = day_start(name)
        if start is None:
            boundary.append(name)                 # not a daily index: purge it by id
        elif start + 86400 <= before:
            dropped.append(name)
        elif start < before:
            boundary.append(name)
    docs = 0
    if dropped:
        client.indices.refresh(index=",".join(dropped) if len(dropped) <= NAMES_PER_REQUEST
                               else indices.scans_pattern, ignore_unavailable=True)
        for names in _groups(dropped):
            docs += int(client.count(index=names, ignore_unavailable=True)["count"])
    return sorted(dropped), docs, boundary
