"""The CBOR → JSON walk of a DCC (certificate._json_safe) gives the same data and the same
refusals as the plain recursive walk it replaced, at every depth around its limit."""
from __future__ import annotations

import json
import math
import random
from collections.abc import Mapping
from datetime import date, datetime, timezone

import cbor2
import pytest

from adapters import eu_dcc
from adapters.eu_dcc.certificate import _json_safe
from standard.errors import CwtInvalid, HealthCodeError
from support.paths import vectors_dir


def reference(value, depth=0):
    if depth > 8:
        raise CwtInvalid("EU DCC health certificate is nested too deeply")
    if isinstance(value, Mapping):
        if not all(isinstance(k, str) for k in value):
            raise CwtInvalid("EU DCC health certificate has a non-text key")
        return {k: reference(v, depth + 1) for k, v in value.items() if v is not None}
    if isinstance(value, (list, tuple)):
        return [reference(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):
        return value.isoformat()
    raise CwtInvalid(f"EU DCC health certificate holds a CBOR {type(value).__name__}")


def outcome(fn, value):
    try:
        return ("ok", repr(fn(value)))
    except CwtInvalid as exc:
        return ("refused", exc.message)


LEAVES = ["text", "", 1, True, None, 1.5, float("nan"), float("inf"), b"bytes", cbor2.CBORTag(99, 1),
          datetime(2021, 6, 1, tzinfo=timezone.utc), date(2021, 6, 1), cbor2.undefined, 2**70]


def nest(leaf, depth, in_list):
    value = leaf
    for _ in range(depth):
        value = [value] if in_list else {"k": value}
    return value


@pytest.mark.parametrize("depth", range(0, 12))
@pytest.mark.parametrize("in_list", [False, True])
def test_every_leaf_at_every_depth(depth, in_list):
    for leaf in LEAVES:
        value = nest(leaf, depth, in_list)
        assert outcome(_json_safe, value) == outcome(reference, value), (leaf, depth)


@pytest.mark.parametrize("keys", [{"a": 1}, {1: "a"}, {"a": 1, 2: "b"}, {b"a": 1}, {(1,): 1}, {True: 1}])
def test_keys(keys):
    for depth in (0, 3, 8, 9):
        value = nest(keys, depth, False)
        assert outcome(_json_safe, value) == outcome(reference, value)


def test_random_documents():
    rng = random.Random(9)

    def build(level):
        pick = rng.random()
        if level > 10 or pick < 0.4:
            return rng.choice(LEAVES)
        if pick < 0.7:
            return {rng.choice(["a", "b", "c", 1]): build(level + 1) for _ in range(rng.randrange(0, 4))}
        return [build(level + 1) for _ in range(rng.randrange(0, 4))]
    for _ in range(5000):
        value = build(0)
        assert outcome(_json_safe, value) == outcome(reference, value)


def test_every_conformance_vector_walks_as_the_plain_walk():
    """The DCCs of dgc-testdata: mostly dicts of texts and integers, which the walk returns as
    themselves (an equal value, no copy)."""
    walked = 0
    for path in sorted((vectors_dir() / "dcc").rglob("*.json")):
        try:
            text = json.loads(path.read_text(encoding="utf-8")).get("PREFIX")
            cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(eu_dcc.unprefix(text))))
            hcert = cbor2.loads(cose.payload)[-260][1]
        except (HealthCodeError, ValueError, UnicodeDecodeError, AttributeError, KeyError, TypeError, IndexError):
            continue
        assert outcome(_json_safe, hcert) == outcome(reference, hcert), path.name
        walked += 1
    assert walked > 100
