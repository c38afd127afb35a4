"""Reads and deletes that hold one page in memory, whatever the index holds.

Elasticsearch answers at most a result window (10 000 hits) per search; these page through with
``search_after`` (hits), ``after_key`` (aggregation buckets) or repeated searches (deletes).
"""
from __future__ import annotations

import time
from typing import Any, Iterator, Mapping

from elasticsearch import Elasticsearch, NotFoundError, helpers

from standard.errors import StoreUnavailable

from .errors import RETRY_AFTER_SECONDS

PAGE = 5_000                       # search page size (below the default 10 000 result window)
BUCKETS = 1_000                    # composite aggregation page size


def get(client: Elasticsearch, index: str, doc_id: str) -> dict | None:
    """The document (real-time GET: no refresh needed), or None."""
    try:
        return client.get(index=index, id=doc_id).body
    except NotFoundError:
        return None


def search_all(client: Elasticsearch, index: str, query: dict, sort: list, limit: int | None = None,
               source: bool | Mapping[str, Any] = True) -> Iterator[dict]:
    """Every hit (or the first ``limit``) in ``sort`` order, paged with search_after."""
    got, after = 0, None
    while limit is None or got < limit:
        size = PAGE if limit is None else min(PAGE, limit - got)
        kw: dict[str, Any] = {"search_after": after} if after is not None else {}
        hits = client.search(index=index, query=query, sort=sort, size=size, source=source,
                             track_total_hits=False, ignore_unavailable=True,
                             allow_no_indices=True, **kw)["hits"]["hits"]
        yield from hits
        got += len(hits)
        if len(hits) < size:
            return
        after = hits[-1]["sort"]


def composite(client: Elasticsearch, index: str, query: dict, sources: list) -> Iterator[dict]:
    """Every bucket of a composite aggregation, paged with after_key."""
    after = None
    while True:
        agg_body = {"size": BUCKETS, "sources": sources, **({"after": after} if after else {})}
        res = client.search(index=index, size=0, query=query, aggs={"c": {"composite": agg_body}},
                            ignore_unavailable=True, allow_no_indices=True)
        agg = (res.get("aggregations") or {}).get("c") or {}
        yield from agg.get("buckets", [])
        after = agg.get("after_key")
        if not after or len(agg.get("buckets", [])) < BUCKETS:
            return


def delete_matching(client: Elasticsearch, index: str, query: dict, bulk_chunk: int, timeout: float) -> int:
    """Delete every document matching ``query``, by id in bulk: a page of ids is searched, the
    page deleted with one bulk request (refreshed, so the next search does not see it), and so on
    until nothing matches.  This needs no ``_delete_by_query`` (the integration-test distribution
    has no reindex module) and holds one page of ids in memory.  Bounded: at most count/PAGE + 2
    rounds; documents that start to match meanwhile wait for the next purge.  The number deleted."""
    client = client.options(request_timeout=timeout)
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
        for ok, item in helpers.streaming_bulk(client, actions, chunk_size=bulk_chunk, refresh=True,
                                               raise_on_error=False, max_retries=3):
            result = item.get("delete", {})
            if ok and result.get("result") == "deleted":
                deleted += 1
            elif result.get("status") != 404:                     # 404: someone else deleted it
                errors.append(item)
        if errors:
            raise helpers.BulkIndexError(f"purge: {len(errors)} documents in {index} were not deleted", errors)
    return deleted


def searchable(client: Elasticsearch, index: str, refresh: bool | str) -> None:
    """Make every write acknowledged so far visible to the search that follows (skipped with
    ``refresh=False``).  Only the rare searching reads call it; the hot writes do not wait."""
    if refresh:
        client.indices.refresh(index=index, ignore_unavailable=True, allow_no_indices=True)


EXISTING_WAIT = 5.0           # seconds a document a 409 proved to exist may stay unreadable on a replica


def get_existing(client: Elasticsearch, index: str, doc_id: str, replaced: dict | None = None) -> dict:
    """A document a 409 just proved exists — or, given ``replaced`` (a version read before), proved
    replaced since.  A GET may be served by a replica the write has not reached yet (it answers
    "not found", or the old version, for a moment), so it is asked again for up to
    :data:`EXISTING_WAIT` seconds; still not seen means the cluster cannot answer now."""
    deadline = time.monotonic() + EXISTING_WAIT
    while True:
        got = get(client, index, doc_id)
        if got is not None and not (replaced is not None and got["_seq_no"] == replaced["_seq_no"]
                                    and got["_primary_term"] == replaced["_primary_term"]):
            return got
        if time.monotonic() > deadline:
            raise StoreUnavailable(f"the data store cannot take this request now ({index}/{doc_id} not yet "
                                   f"readable); try again in {RETRY_AFTER_SECONDS} s", retry_after=RETRY_AFTER_SECONDS)
        time.sleep(0.02)
