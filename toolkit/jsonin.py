"""JSON from strangers, checked before anything else looks at it.

Two shapes of valid JSON broke the gateway: 1 000 levels of ``[`` (RecursionError in the parser
or in schema validation) and a lone surrogate escape such as ``"\\ud800"`` (valid JSON, not
Unicode: it raised UnicodeEncodeError, a 500, wherever the text was hashed or echoed, e.g. a
batch item's ``id``).  Both are a clear ``bad_request`` here, for HTTP bodies and for the CLI's
JSON Lines alike.  So is a body of millions of tiny values: 7.8 MB of ``[{},{},…]`` parses into
~300 MB of Python objects, and eight at once took the gateway to 3 GB — it is refused from a
count of its separators, before it is parsed.  ``NaN``, ``Infinity`` and a number too large
for a float (``1e999``) are not JSON (RFC 8259) though Python's parser takes them; echoed back (a
batch item's ``id``) they made answers no JSON parser reads: they are a ``bad_request`` too.
"""
from __future__ import annotations

import json
import math
from typing import Any

from standard.errors import BadRequest

MAX_DEPTH = 32        # our deepest request is 4 levels
MAX_VALUES = 20_000   # a full batch (500 items) has ~2 500; a QR text holds no ',', '[' or '{'


def loads(text: str | bytes, max_depth: int = MAX_DEPTH) -> Any:
    """``json.loads`` that raises only BadRequest, for text that is not JSON or not safe JSON."""
    precheck(text)
    try:
        value = json.loads(text, **STRICT_NUMBERS)
    except RecursionError:
        raise BadRequest(f"JSON nested deeper than {max_depth} levels") from None
    except ValueError:
        raise BadRequest("not valid JSON") from None
    return check(value, max_depth)


def _not_json(constant: str) -> Any:
    raise BadRequest(f"{constant} is not a JSON number")


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise BadRequest("a number too large for a JSON number")
    return value


# json.loads keywords: only the numbers RFC 8259 has (no NaN, no ±Infinity, no float overflow)
STRICT_NUMBERS: dict[str, Any] = {"parse_constant": _not_json, "parse_float": _finite}


def precheck(raw: str | bytes | bytearray) -> None:
    """Refuse, before parsing, text with more separators than MAX_VALUES (an upper bound on
    its values, strings' contents included)."""
    if isinstance(raw, (bytes, bytearray)):
        separators = raw.count(b",") + raw.count(b"[") + raw.count(b"{")
    else:
        separators = raw.count(",") + raw.count("[") + raw.count("{")
    if separators > MAX_VALUES:
        raise BadRequest(f"JSON with more than {MAX_VALUES:,} values")


def check(value: Any, max_depth: int = MAX_DEPTH, *, strings_unicode: bool = False) -> Any:
    """``value`` itself, or BadRequest if it nests deeper than ``max_depth`` or holds a string
    (or member name) that is not Unicode.  Iterative: a recursive walk would hit the very limit
    it guards against.  ``strings_unicode``: the parser already refused every lone surrogate
    (orjson: ``standard.jsontext.loads_unicode``), so only the depth is walked, strings skipped."""
    if strings_unicode:
        return _check_depth(value, max_depth)
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        if isinstance(node, str):
            _unicode(node)
            continue
        if isinstance(node, dict):
            for key in node:
                _unicode(key)
            node = node.values()
        elif not isinstance(node, list):
            continue
        if depth > max_depth:
            raise BadRequest(f"JSON nested deeper than {max_depth} levels")
        stack.extend((child, depth + 1) for child in node if isinstance(child, (dict, list, str)))
    return value


def _check_depth(value: Any, max_depth: int) -> Any:
    """:func:`check` of a value whose strings are known to be Unicode: containers only."""
    if type(value) is not dict and type(value) is not list:
        return value
    level, depth = [value], 1
    while level:
        if depth > max_depth:
            raise BadRequest(f"JSON nested deeper than {max_depth} levels")
        below = []
        for node in level:
            for child in (node.values() if type(node) is dict else node):
                if type(child) is dict or type(child) is list:
                    below.append(child)
        level, depth = below, depth + 1
    return value


def _unicode(text: str) -> None:
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            raise BadRequest("JSON text holds a lone surrogate (\\ud800-\\udfff): not Unicode") from None
