"""Operations figures for the data manager: scans per hour by region and colour, refused codes
by error, lookups and their rate-limit refusals — counts from the store, never a person.

Pure shaping of the store's grouped counts (``Store.scan_counts``, ``Store.audit_counts``) into
hourly series a chart can draw; the store does the counting, so the answer stays small."""
from __future__ import annotations

import standard

WINDOWS = {"24h": 24 * 3600, "7d": 7 * 86400}
BUCKET = 3600
LOOKUP_ACTIONS = ("kiosk_lookup", "assisted_lookup", "dependent_lookup")
COLOURS = ("green", "yellow", "red", "invalid")


def report(store, now: int, window: str) -> dict:
    span = WINDOWS[window]
    until = (now // BUCKET + 1) * BUCKET            # the current hour is the last bar
    since = until - span
    hours = list(range(since, until, BUCKET))
    index = {t: i for i, t in enumerate(hours)}

    def series():
        return [0] * len(hours)

    by_region: dict[str, list[int]] = {}
    by_colour = {c: series() for c in COLOURS}
    refused: dict[str, int] = {}
    total = 0
    for t, region, status, error, n in store.scan_counts(since, until, BUCKET):
        i = index.get(int(t))
        if i is None:
            continue
        total += n
        colour = status if status in COLOURS and error is None else "invalid"
        by_colour[colour][i] += n
        by_region.setdefault(region or "unreadable", series())[i] += n
        if error is not None:
            refused[error] = refused.get(error, 0) + n
    lookups = {"ok": series(), "refused": series(), "rate_limited": series()}
    lookup_results: dict[str, int] = {}
    for t, action, result, n in store.audit_counts(since, until, BUCKET, LOOKUP_ACTIONS):
        i = index.get(int(t))
        if i is None:
            continue
        key = "ok" if result == "ok" else "rate_limited" if result == "rate_limited" else "refused"
        lookups[key][i] += n
        lookup_results[result or "unknown"] = lookup_results.get(result or "unknown", 0) + n
    return {"window": window, "bucket_seconds": BUCKET, "since": standard.rfc3339(since),
            "until": standard.rfc3339(until), "hours": [standard.rfc3339(t) for t in hours],
            "scans": {"total": total, "by_colour": by_colour,
                      "by_region": dict(sorted(by_region.items()))},
            "refused_by_error": dict(sorted(refused.items(), key=lambda kv: -kv[1])),
            "lookups": lookups, "lookup_results": dict(sorted(lookup_results.items(), key=lambda kv: -kv[1])),
            "note": "anonymous /v1/verify refusals for rate, and a credential's refusals past 30 a minute "
                    "(one audit_capped entry each), are counted in /metrics only (not stored)"}
