"""What an Elasticsearch failure means to the store's callers.

When the cluster cannot take a request — no answer at all (connection refused or reset, a
timeout, after the client's own retries on the other nodes) or an answer of 429, 502, 503 or 504
(rejected for load, no elected master, no active copy of a shard) — every public method of the
store raises :class:`standard.errors.StoreUnavailable` (``store_unavailable``, HTTP 503 with
``Retry-After``) instead of the client's exception (:func:`raise_unavailable`); any other error is
left as it is.  Bulk scan ingest reports item failures as :class:`ScanBulkError` (the events that
were not stored).
"""
from __future__ import annotations

import functools
import logging
from typing import Any, Callable

from elastic_transport import TransportError
from elasticsearch import ApiError, helpers

from standard.errors import StoreUnavailable

log = logging.getLogger(__name__)

UNAVAILABLE_STATUSES = (429, 502, 503, 504)   # busy, no master, no copy of a shard, gateway timeout
RETRY_AFTER_SECONDS = 5


class ScanBulkError(helpers.BulkIndexError):
    """Some scan events were not stored.  ``failed`` is [(event, error item)], ``errors`` the raw
    bulk items (as in :class:`elasticsearch.helpers.BulkIndexError`), ``stored`` how many were."""

    def __init__(self, message: str, failed: list, stored: int):
        super().__init__(message, [item for _, item in failed])
        self.failed = failed
        self.stored = stored


class AuditConflict(RuntimeError):
    """A different audit entry already holds this sequence number (e.g. the head was deleted)."""


def http_status(exc: ApiError) -> int:
    """The HTTP status of the server's answer (0 when there is none)."""
    return getattr(getattr(exc, "meta", None), "status", 0) or 0


def missing_feature(exc: ApiError) -> bool:
    """The server has no such API (unknown route), as opposed to rejecting what was sent."""
    status = http_status(exc)
    return status in (404, 405) or (status == 400 and "no handler found" in str(exc))


def unavailable(exc: BaseException) -> bool:
    """The cluster could not take the request (as opposed to refusing what was sent)."""
    if isinstance(exc, ApiError):
        return http_status(exc) in UNAVAILABLE_STATUSES
    return isinstance(exc, TransportError)


def raise_unavailable(method: Callable[..., Any]) -> Callable[..., Any]:
    """``method``, raising :class:`StoreUnavailable` where the cluster could not take its request."""
    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return method(self, *args, **kwargs)
        except (ApiError, TransportError) as exc:
            if not unavailable(exc):
                raise
            what = f"HTTP {http_status(exc)}" if isinstance(exc, ApiError) else type(exc).__name__
            log.warning("Elasticsearch cannot take %s now (%s): %s", method.__name__, what, exc)
            raise StoreUnavailable(f"the data store cannot take this request now ({what}); "
                                   f"try again in {RETRY_AFTER_SECONDS} s",
                                   retry_after=RETRY_AFTER_SECONDS) from exc
    return wrapper
