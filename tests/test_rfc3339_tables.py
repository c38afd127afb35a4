"""``standard.rfc3339`` from its day memory and time-of-day tables gives the %-formatted
``time.gmtime`` text at every boundary and on random instants; its day memory stays bounded."""
from __future__ import annotations

import random
import time
from datetime import datetime, timezone

import pytest

import standard


def reference(ts):
    ts = int(ts)
    if 0 <= ts < 253402300800:
        t = time.gmtime(ts)
        return "%04d-%02d-%02dT%02d:%02d:%02dZ" % (t[0], t[1], t[2], t[3], t[4], t[5])
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def test_boundaries_and_random_instants():
    edges = [0, 1, 59, 60, 3599, 3600, 86399, 86400, 951782400, 951868799, 1_700_000_000, 4102444800,
             253402300799, 253402300800 - 86400, 1.9, 86399.999]
    rng = random.Random(22)
    for ts in edges + [rng.randrange(0, 253402300800) for _ in range(20000)] + \
            [1_700_000_000 + rng.randrange(-10**6, 10**6) for _ in range(5000)]:
        assert standard.rfc3339(ts) == reference(ts), ts
        assert standard.rfc3339(ts) == standard.rfc3339(ts)       # from the memory, the same


@pytest.mark.parametrize("ts", [-1, -86400, 253402300800, 10**12])
def test_outside_years_1970_to_9999_as_datetime(ts):
    try:
        expected = ("ok", reference(ts))
    except (ValueError, OverflowError, OSError) as exc:
        expected = ("error", type(exc))
    try:
        got = ("ok", standard.rfc3339(ts))
    except (ValueError, OverflowError, OSError) as exc:
        got = ("error", type(exc))
    assert got == expected


def test_day_memory_is_bounded():
    for day in range(standard._MAX_DAYS + 10):
        standard.rfc3339(day * 86400)
    assert 0 < len(standard._DAYS) <= standard._MAX_DAYS
