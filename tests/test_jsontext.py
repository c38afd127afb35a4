"""standard.jsontext.loads answers exactly as json.loads: the same value (types included: an int
stays an int, -0.0 stays -0.0) or the same exception with the same message, for bytes and for
text, on the cases where orjson and json differ and on random JSON-like text."""
from __future__ import annotations

import json
import math
import random

import pytest

from standard import jsontext


def _outcome(fn, data):
    try:
        return ("ok", _typed(fn(data)))
    except (ValueError, RecursionError) as exc:   # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return ("error", type(exc).__name__, str(exc))


def _typed(value):
    """A value with every number's type and exact spelling, so 1 != 1.0 != True and NaN == NaN."""
    if isinstance(value, dict):
        return ("dict", [(k, _typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [_typed(v) for v in value])
    if isinstance(value, float):
        return ("float", "nan" if math.isnan(value) else repr(value))
    return (type(value).__name__, value)


EDGE_CASES = [
    "{}", "[]", "1", "-0", "-0.0", "0.1", "1e5", "1E400", "-1e400", "1e-400", "NaN", "[NaN]", "Infinity",
    "-Infinity", '{"a": NaN}', "9223372036854775807", "9223372036854775808", "18446744073709551615",
    "18446744073709551616", "-9223372036854775809", "123456789012345678901234567890", "1234567890123456789",
    '{"n": 12345678901234567890}', "0.1234567890123456789", "1.7976931348623157e308", "5e-324",
    '"\\ud800"', '"\\udc00x"', '"\\ud83d\\ude00"', '"\ud83d\ude00"', '{"a":1,"a":2}', '{"a":1,"a":{"b":2}}',
    '"a\x01b"', '"a\tb"', '"a\nb"', "\ufeff{}", "{} ", " {}", "{}\n", "{} x", "01", "1.", ".1", "+1", "-",
    "tru", "true", "null", "[1,]", "{\"a\":1,}", "'a'", '{"a" 1}', "[" * 2000 + "]" * 2000,
    "[" * 500 + "]" * 500, '"\\u0000"', '"\\x41"', '"\\/"', "", " ", "[1e5, 2E-3, -0e0]",
    '{"iss":"440000","n":"张三","exp":1750000000}',
]


@pytest.mark.parametrize("text", EDGE_CASES)
def test_edge_cases_as_text_and_bytes(text):
    assert _outcome(jsontext.loads, text) == _outcome(json.loads, text)
    try:
        raw = text.encode("utf-8", "surrogatepass")
    except UnicodeEncodeError:
        return
    assert _outcome(jsontext.loads, raw) == _outcome(json.loads, raw)


@pytest.mark.parametrize("raw", [
    b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"\xfe\xff\x00{\x00}", "{}".encode("utf-16-le"),
    "[1]".encode("utf-32"), b'"\xed\xa0\x80"', b'"\xc3\x28"', b'"\xff"', b"\x00", b'{"a":"\xe5\xbc\xa0"}'])
def test_bytes_in_other_encodings(raw):
    assert _outcome(jsontext.loads, raw) == _outcome(json.loads, raw)


def test_random_json_like_text():
    rng = random.Random(2026)
    tokens = ['{', '}', '[', ']', ',', ':', '"a"', '"\\ud800"', '"é"', '1', '-0', '0.5', '1e400', '12345678901234567890',
              'NaN', 'Infinity', 'true', 'null', ' ', '\n', '"\\u0041"', '"x\x02"', '9' * 19, '1.0e-5']
    for _ in range(20_000):
        text = "".join(rng.choice(tokens) for _ in range(rng.randrange(1, 14)))
        assert _outcome(jsontext.loads, text) == _outcome(json.loads, text), repr(text)
        raw = text.encode("utf-8", "surrogatepass")
        assert _outcome(jsontext.loads, raw) == _outcome(json.loads, raw), repr(raw)


def test_random_documents_round_trip_the_same():
    rng = random.Random(5)
    for _ in range(3000):
        doc = {"i": rng.randrange(-2**70, 2**70), "f": rng.uniform(-1e6, 1e6) * 10 ** rng.randrange(-300, 300),
               "s": "".join(chr(rng.randrange(1, 0x3000)) for _ in range(5)), "l": [rng.random(), None, True]}
        text = json.dumps(doc, ensure_ascii=rng.random() < 0.5)
        assert _outcome(jsontext.loads, text) == _outcome(json.loads, text)
        assert _outcome(jsontext.loads, text.encode()) == _outcome(json.loads, text.encode())


def _refusal(text):
    """What the app's JSON provider makes of ``text``: the value, or the BadRequest's message."""
    from standard.errors import BadRequest
    from toolkit import jsonin
    try:
        value, unicode = jsontext.loads_unicode(text, **jsonin.STRICT_NUMBERS)
        return ("ok", _typed(jsonin.check(value, strings_unicode=unicode)))
    except BadRequest as exc:
        return ("refused", str(exc))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc).__name__)


def _full_check(text):
    """The same with every string walked (no shortcut for orjson's answers)."""
    from standard.errors import BadRequest
    from toolkit import jsonin
    try:
        return ("ok", _typed(jsonin.check(json.loads(text, **jsonin.STRICT_NUMBERS))))
    except BadRequest as exc:
        return ("refused", str(exc))
    except (ValueError, RecursionError) as exc:
        return ("error", type(exc).__name__)


def test_an_orjson_answer_needs_only_its_depth_checked_and_refusals_stay_the_same():
    """``loads_unicode`` says True only where orjson parsed, which refuses every lone surrogate;
    ``jsonin.check(strings_unicode=True)`` then walks only the depth — and every refusal (lone
    surrogates escaped or raw, in values or member names, depth past 32) is the one the full
    walk over ``json``'s value gives."""
    cases = EDGE_CASES + ['{"\\ud800": 1}', '[["\\udfff"]]', '{"a": ["x", {"b": "\\ud800"}]}',
                          "[" * 32 + "]" * 32, "[" * 33 + "]" * 33, '{"a":' * 32 + "1" + "}" * 32,
                          '{"a":' * 33 + "1" + "}" * 33, '[{"a": [[{"b": "\\ud800"}]]}]' + "",
                          '{"items": [' + ",".join(['{"id": %d, "payload": "x"}' % i for i in range(50)]) + "]}"]
    rng = random.Random(7)
    tokens = ['{"k":', '[', ']', '}', ',', '"\\ud800"', '"é"', '1', 'null', '"s"', '"\\udc00"']
    cases += ["".join(rng.choice(tokens) for _ in range(rng.randrange(1, 60))) for _ in range(5000)]
    for text in cases:
        assert _refusal(text) == _full_check(text), repr(text)
    assert jsontext.loads_unicode('{"a": "é"}')[1] is True
    assert jsontext.loads_unicode('"\\ud800"')[1] is False
