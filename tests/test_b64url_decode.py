"""``jose.b64url_decode`` (standard/b64url.py: a2b_base64's strict pass for short parts,
pybase64's validating SIMD decoder for long ones) answers exactly as the strict ``binascii``
decoder it replaced — the same bytes, the same refusals with the same
messages — on every JWS part of the conformance vectors, on every ASCII character at every
position class, and on random texts and mutations."""
from __future__ import annotations

import base64
import binascii
import random

import pytest

from standard import jose
from standard.errors import Malformed
from support.paths import vectors_dir

_B64_INDEX = {c: i for i, c in enumerate("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")}
ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def reference_b64url_decode(text):
    """The strict-binascii decoder this module replaced, kept as the reference."""
    if not isinstance(text, str) or len(text) % 4 == 1 or not text.isascii():
        raise Malformed("not base64url")
    raw = text.encode("ascii")
    if b"+" in raw or b"/" in raw or b"=" in raw:
        raise Malformed("not base64url")
    tail = len(text) % 4
    if tail and _B64_INDEX.get(text[-1], 0) & (0x0F if tail == 2 else 0x03):
        raise Malformed("non-canonical base64url")
    try:
        return binascii.a2b_base64(raw.translate(bytes.maketrans(b"-_", b"+/")) + b"=" * (-len(text) % 4),
                                   strict_mode=True)
    except binascii.Error:
        raise Malformed("not base64url") from None


def outcome(fn, text):
    try:
        return ("ok", fn(text))
    except Malformed as exc:
        return ("refused", exc.code, exc.message)


def same(text):
    assert outcome(jose.b64url_decode, text) == outcome(reference_b64url_decode, text), repr(text[:80])


def vector_parts():
    parts = []
    for path in sorted((vectors_dir() / "shc").glob("*.txt")):
        text = path.read_text().strip()
        if text.count(".") == 2 and not text.startswith("shc:"):
            parts.extend(text.split("."))
    return parts


def test_vectors_decode_as_before():
    parts = vector_parts()
    assert len(parts) >= 6
    for part in parts:
        same(part)
        assert outcome(jose.b64url_decode, part)[0] == "ok"


@pytest.mark.parametrize("length", [0, 1, 2, 3, 4, 5, 6, 7, 8, 43, 86, 87, 88])
def test_every_ascii_character_at_start_middle_and_end(length):
    rng = random.Random(length)
    body = "".join(rng.choice(ALPHABET) for _ in range(length))
    for code in range(128):
        ch = chr(code)
        for text in (ch + body, body[:length // 2] + ch + body[length // 2:], body + ch, body[:-1] + ch):
            same(text)


def test_non_ascii_and_non_text():
    for text in ("é", "AAé", "AA\u00a0A", "\ud800AA", "ＡＡＡＡ", b"AAAA", None, 12):
        same(text)


def test_random_texts_and_mutations():
    rng = random.Random(22)
    parts = vector_parts()
    for _ in range(3000):
        data = rng.randbytes(rng.randrange(0, 300))
        good = base64.urlsafe_b64encode(data).rstrip(b"=").decode()
        same(good)
        assert jose.b64url_decode(good) == data
        mutated = list(rng.choice(parts) if rng.random() < 0.2 else good)
        for _ in range(rng.randrange(1, 4)):
            if not mutated:
                break
            i = rng.randrange(len(mutated))
            choice = rng.random()
            if choice < 0.4:
                mutated[i] = chr(rng.randrange(128))
            elif choice < 0.7:
                del mutated[i]
            else:
                mutated.insert(i, rng.choice(ALPHABET + "=+/ \n\t.!"))
        same("".join(mutated))
