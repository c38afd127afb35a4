"""The SMART Health Card steps rewritten without Python loops answer exactly as the plain ones:
the whitespace test, the numeric QR decoding (results and error messages) and detection with its
per-header memory."""
from __future__ import annotations

import base64
import json
import random
import re

import pytest

from adapters.shc import card as shc_card
from adapters.shc import numeric
from standard.errors import Malformed
from support.shc import issuer  # noqa: F401 - fixture

SPACE = re.compile(r"\s")


def reference_numeric_to_jws(digits: str) -> str:
    """The loop this module replaced, kept as the reference."""
    if not isinstance(digits, str) or not re.fullmatch(r"[0-9]+", digits, re.ASCII):
        raise Malformed("SMART Health Card QR data must be decimal digits")
    if len(digits) % 2:
        raise Malformed("SMART Health Card QR data has an odd number of digits")
    out = []
    for i in range(0, len(digits), 2):
        value = int(digits[i:i + 2])
        if value > 77:
            raise Malformed(f"SMART Health Card QR digit pair {digits[i:i + 2]} is above 77")
        out.append(chr(value + 45))
    return "".join(out)


def _outcome(fn, arg):
    try:
        return ("ok", fn(arg))
    except Malformed as exc:
        return ("error", exc.code, exc.message)


def test_has_space_is_the_regex_on_every_code_point():
    for cp in range(0x110000):
        ch = chr(cp)
        assert numeric.has_space("ab" + ch + "cd") == bool(SPACE.search(ch)), hex(cp)
        assert numeric.has_space(ch) == bool(SPACE.search(ch)), hex(cp)


def test_has_space_on_jws_like_text():
    rng = random.Random(7)
    alphabet = "ABCxyz019-_.\t\n \x0b\x0c\r\x1c\x1f\x85\u00a0\u2028\u3000é"
    for _ in range(5000):
        text = "".join(rng.choice(alphabet) for _ in range(rng.randrange(0, 12)))
        assert numeric.has_space(text) == bool(SPACE.search(text)), repr(text)


def test_has_space_on_long_tokens_anywhere():
    """A 4 KB JWS with one character of every ASCII control and space range at any place."""
    rng = random.Random(22)
    body = "".join(rng.choice("ABCxyz019-_.") for _ in range(4000))
    for cp in [*range(0, 0x21), 0x7F, 0x85, 0xA0, 0x2028, 0x3000]:
        for at in (0, 1, 1999, 3999, 4000):
            text = body[:at] + chr(cp) + body[at:]
            assert numeric.has_space(text) == bool(SPACE.search(text)), (hex(cp), at)
    assert not numeric.has_space(body)


@pytest.mark.parametrize("digits", [
    "", "0", "1", "00", "77", "78", "99", "0077", "7700", "7778", "5676", "56a6", "５６", "56 76", " 5676",
    "5676\n", "12345", "0" * 3900, "77" * 1000 + "78", "+1", "-1", "1_0", "٥٦"])
def test_numeric_to_jws_answers_as_the_loop(digits):
    assert _outcome(numeric.numeric_to_jws, digits) == _outcome(reference_numeric_to_jws, digits)


def test_numeric_to_jws_every_pair_and_random_texts():
    for value in range(100):
        pair = f"{value:02d}"
        assert _outcome(numeric.numeric_to_jws, "56" + pair + "00") == \
            _outcome(reference_numeric_to_jws, "56" + pair + "00")
    rng = random.Random(11)
    for _ in range(2000):
        digits = "".join(rng.choice("0123456777") for _ in range(2 * rng.randrange(1, 40)))
        assert _outcome(numeric.numeric_to_jws, digits) == _outcome(reference_numeric_to_jws, digits)


def test_numeric_round_trip_of_a_token():
    token = "eyJ6aXAiOiJERUYifQ.abc-_XYZ.sig"
    assert numeric.numeric_to_jws(numeric.jws_to_numeric(token)) == token


def _b64(obj) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


THUMB = "A" * 43
HEADERS = [{"zip": "DEF", "alg": "ES256", "kid": "k"}, {"alg": "ES256", "kid": THUMB}, {"kid": THUMB},
           {"alg": "RS256", "kid": THUMB}, {"alg": "ES256", "kid": "short"}, [1, 2], "text", {}]
PAYLOADS = [{"vc": {"type": []}}, {"vc": 1}, {"iss": "x"}, [], "x"]


def test_detection_with_remembered_headers_answers_as_without():
    shc_card._HEADER_ANSWERS.clear()
    for round_ in range(2):                 # the second round answers from the memory
        for header in HEADERS:
            for payload in PAYLOADS:
                token = f"{_b64(header)}.{_b64(payload)}.c2ln"
                expected = shc_card._header_says_card(_b64(header))
                if expected is None:
                    expected = isinstance(payload, dict) and isinstance(payload.get("vc"), dict)
                assert shc_card.looks_like_card_jws(token) is expected, (round_, header, payload)
                assert not shc_card.looks_like_card_jws(token.replace(".", ". ", 1))
                assert not shc_card.looks_like_card_jws(token + "\u2028")


def test_header_memory_is_bounded():
    shc_card._HEADER_ANSWERS.clear()
    for n in range(shc_card.MAX_CACHED_HEADERS * 2 + 3):
        shc_card.looks_like_card_jws(f"{_b64({'zip': 'DEF', 'n': n})}.e30.c2ln")
    assert 0 < len(shc_card._HEADER_ANSWERS) <= shc_card.MAX_CACHED_HEADERS
    long_header = _b64({"zip": "DEF", "pad": "x" * 2000})
    assert shc_card.looks_like_card_jws(f"{long_header}.e30.c2ln")
    assert long_header not in shc_card._HEADER_ANSWERS


# --- the card payload's JSON without the 19-digit guard ------------------------------------------
BIG = [10**19, 2**63, 2**64, 2**64 + 1, 10**40, -(2**64), 10**400]


def _card_with_numbers(issuer, nbf, exp, extra):
    from support.shc import NOW, card_payload, immunization, sign
    resource = {**immunization(NOW - 40 * 86400), "doseNumberPositiveInt": extra,
                "lotNumber": str(extra)}
    payload = card_payload([resource, immunization(NOW - 70 * 86400)], nbf=nbf, exp=exp)
    payload["vc"]["extra"] = [extra, {"n": extra}]
    return sign(issuer, payload)


def _verdicts(token, trust, now):
    from adapters.verifier import Verifier
    return Verifier(["shc"]).verify(token, trust, now).as_dict()


def test_card_payload_numbers_give_the_verdicts_of_the_guarded_parse(issuer, monkeypatch):
    """Integers past 64 bits anywhere in a card (nbf, exp, FHIR resources, vc members): the
    verdict — accepted or refused, code and message — is the one of the guarded parse, which
    keeps them exact."""
    from support.shc import NOW
    from standard.trustlist import TrustList
    trust = TrustList({}, ({"type": "jwk", "jwk": issuer[1]},))
    tokens = []
    for big in BIG:
        tokens += [_card_with_numbers(issuer, NOW - 86400, None, big),
                   _card_with_numbers(issuer, big, None, 1),
                   _card_with_numbers(issuer, NOW - 86400, big, big),
                   _card_with_numbers(issuer, NOW - 86400, -big, 7)]
    new = [_verdicts(t, trust, NOW) for t in tokens]
    monkeypatch.setattr(shc_card, "_card_json", shc_card._json_object)
    guarded = [_verdicts(t, trust, NOW) for t in tokens]
    assert new == guarded
    assert any(v["valid"] for v in new) and any(not v["valid"] for v in new)


def test_card_json_is_orjson_or_json():
    for text in ['{"a": 1}', '{"a": NaN}', '{"a": 1e400}', '{"a": "\\ud800"}', "[" * 2000 + "]" * 2000,
                 '{"a": 123456789012345678901234}', "{", '{"a": Infinity}']:
        def outcome(fn):
            try:
                return ("ok", repr(fn(text)))
            except Malformed as exc:
                return ("malformed", exc.message)
            except (ValueError, RecursionError) as exc:
                return ("error", type(exc).__name__)
        new, guarded = outcome(shc_card._card_json), outcome(shc_card._json_object)
        if "123456789012345678901234" in text:
            assert new == ("ok", repr({"a": 1.2345678901234568e+23})) and guarded == ("ok", repr({"a": 123456789012345678901234}))
        else:
            assert new == guarded, text


def test_detection_splits_on_exactly_two_dots_as_split_does():
    shc_card._HEADER_ANSWERS.clear()
    header, payload = _b64({"zip": "DEF", "alg": "ES256", "kid": "k"}), _b64({"vc": {}})
    plain = _b64({"alg": "ES256"})
    for token in ("", ".", "..", "...", f"{header}", f"{header}.", f"{header}..", f"{header}.{payload}",
                  f"{header}.{payload}.", f"{header}.{payload}.x", f"{header}.{payload}.x.", f".{payload}.x",
                  f"{header}..x", f"{plain}.{payload}.x", f"{plain}..x", f"{plain}.{payload}.x.y", f"{plain}.e30.x"):
        parts = token.split(".")
        expected = len(parts) == 3 and (shc_card._header_says_card(parts[0]) if shc_card._header_says_card(parts[0])
                                         is not None else isinstance(shc_card._b64json(parts[1], 10_000), dict)
                                         and isinstance(shc_card._b64json(parts[1], 10_000).get("vc"), dict))
        assert shc_card.looks_like_card_jws(token) is bool(expected), token
