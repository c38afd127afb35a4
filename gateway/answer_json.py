"""A batch's answers written as the bytes ``json`` writes them, without its per-call cost:
``json.dumps``'s own C encoder built once (:data:`ANSWER_LINE` for ``verify-batch``'s lines,
:data:`ANSWER_ITEM` for ``/v1/verify/batch``'s items), and orjson where its bytes are the same
(:func:`dump_answer`; tests/test_http_batch_bytes.py and tests/test_batch_bytes.py compare)."""
from __future__ import annotations

import json

import orjson


def _not_json(value):
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _encoder(item_separator: str, key_separator: str):
    """``json.dumps(value, ensure_ascii=False, separators=...)`` without building an encoder
    each call: the C encoder ``json.dumps`` itself uses, with the same escaping and float text
    (the answers are trees: no cycle to watch for).  Called as ``"".join(enc(value, 0))``."""
    from json import encoder
    if encoder.c_make_encoder is None:         # pragma: no cover — CPython has it
        return lambda value, _level: [json.dumps(value, ensure_ascii=False,
                                                 separators=(item_separator, key_separator))]
    return encoder.c_make_encoder(None, _not_json, encoder.encode_basestring, None, key_separator,
                                  item_separator, False, False, True)


ANSWER_LINE = _encoder(", ", ": ")          # verify-batch: json.dumps's default separators
ANSWER_ITEM = _encoder(",", ":")            # /v1/verify/batch: the app's compact provider


def dump_answer(answer: dict) -> bytes:
    """A batch item's answer as UTF-8 bytes of the JSON the app's provider writes (compact, not
    ASCII-escaped, keys in order).  orjson writes those same bytes, a tenth of the time, for a
    tree of strings, booleans, nulls and integers within 64 bits (every string escaped as
    ``json`` escapes it with ``ensure_ascii=False``: tests/test_http_batch_bytes.py checks every
    code point); anything else — a float, a larger integer — is written by
    ``json``'s own encoder."""
    if _orjson_writes_it(answer):
        try:
            return orjson.dumps(answer)
        except (TypeError, orjson.JSONEncodeError):    # a key that is not a string, a lone surrogate
            pass
    return "".join(ANSWER_ITEM(answer, 0)).encode()


_AS_JSON_WRITES = {str, bool, type(None)}


def _orjson_writes_it(value) -> bool:
    """No float and no integer past orjson's 64 bits anywhere in ``value`` (a tree of dicts and
    lists): orjson's text for it is ``json``'s."""
    kind = type(value)
    if kind in _AS_JSON_WRITES:
        return True
    if kind is int:
        return -(2 ** 63) <= value < 2 ** 64
    if kind is dict:
        value = value.values()
    elif kind is not list:
        return False
    for child in value:
        if type(child) not in _AS_JSON_WRITES and not _orjson_writes_it(child):
            return False
    return True
