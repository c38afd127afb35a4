"""Base45 by 24-bit lanes (``adapters.eu_dcc.b45``) answers as the ``base45`` package: the same
bytes for every EU DCC conformance vector's text and the same accept-or-refuse for mutations of
them and for texts of every length around the lane boundaries."""
from __future__ import annotations

import json
import random

import base45

from adapters.eu_dcc import b45
from support.paths import vectors_dir

ALPHABET = b45.ALPHABET


def _package(text: str) -> bytes | None:
    try:
        return base45.b45decode(text)
    except (ValueError, KeyError, TypeError):
        return None


def _ours(text: str) -> bytes | None:
    try:
        return b45.b45decode(text)
    except ValueError:
        return None


def _vector_texts() -> list[str]:
    texts = []
    for path in sorted((vectors_dir() / "dcc").rglob("*.json")):
        try:
            prefix = json.loads(path.read_text(encoding="utf-8")).get("PREFIX")
        except (ValueError, UnicodeDecodeError, AttributeError):
            continue
        if isinstance(prefix, str) and prefix.startswith("HC1:"):
            texts.append(prefix[4:])
    return texts


def test_every_vector_text_decodes_as_the_package_decodes_it():
    texts = _vector_texts()
    assert len(texts) > 100
    for text in texts:
        assert _ours(text) == _package(text), text[:40]


def test_mutated_vector_texts_answer_as_the_package():
    rng = random.Random(9285)
    stray = ALPHABET + "a~é\x00\n:"
    for text in _vector_texts():
        for _ in range(30):
            chars = list(text)
            at = rng.randrange(len(chars) + 1)
            action = rng.randrange(4)
            if action == 0 and chars:
                chars[min(at, len(chars) - 1)] = rng.choice(stray)
            elif action == 1 and chars:
                del chars[min(at, len(chars) - 1)]
            elif action == 2:
                chars.insert(at, rng.choice(ALPHABET))
            else:
                chars[-3:] = [rng.choice(":ZZ") for _ in range(3)]     # triples near and above 65 535
            mutated = "".join(chars)
            assert _ours(mutated) == _package(mutated), mutated[:40]


def test_every_length_and_the_largest_values():
    rng = random.Random(45)
    for size in range(0, 700):
        data = bytes(rng.getrandbits(8) for _ in range(size))
        text = base45.b45encode(data).decode()
        assert b45.b45decode(text) == data
        assert _ours(text + "Z") is None                        # a dangling character
    for text in ("FGW", "GGW", ":::", "FGV", "U5", "V5", "::" * 3, "0" * 3000, "FGW" * 900, "FGW" * 899 + "GGW"):
        assert _ours(text) == _package(text), text[:12]
