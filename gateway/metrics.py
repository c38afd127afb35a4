"""Prometheus metrics: what an operator watches on a busy checkpoint day.  No personal data."""
from __future__ import annotations

import functools

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

REGISTRY = CollectorRegistry()
VERIFICATIONS = Counter("healthcode_verifications", "Codes verified, by format and outcome",
                        ["format", "outcome"], registry=REGISTRY)
LOOKUPS = Counter("healthcode_lookups", "Kiosk and assisted lookups, by kind and outcome",
                  ["kind", "outcome"], registry=REGISTRY)
REFUSALS_UNLOGGED = Counter("healthcode_refusals_unlogged", "Refusals of a credential past its audit cap "
                            "(gateway/refusals.py), by action and result", ["action", "result"], registry=REGISTRY)
LOOKUP_SECONDS = Histogram("healthcode_lookup_seconds", "Kiosk/assisted lookup latency",
                           buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5), registry=REGISTRY)


def count_verdict(verdict) -> None:
    count_outcome(verdict.format, verdict.status if verdict.valid else verdict.errors[0]["code"])


def count_outcome(fmt, outcome, times: int = 1) -> None:
    _verifications(fmt or "unknown", outcome).inc(times)


@functools.lru_cache(maxsize=1024)       # formats × statuses and error codes: a few dozen in use
def _verifications(fmt: str, outcome: str):
    """The counter of one (format, outcome) pair (``labels`` costs more than the increment)."""
    return VERIFICATIONS.labels(fmt, outcome)


def exposition() -> bytes:
    return generate_latest(REGISTRY)
