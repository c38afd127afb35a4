"""The app's JSON provider: request JSON through :mod:`toolkit.jsonin` and :mod:`standard.jsontext`.

Imported by ``create_app`` only, with Flask: the ``healthcode`` commands that serve nothing start
without Flask and werkzeug.
"""
from __future__ import annotations

from flask.json.provider import DefaultJSONProvider

from standard import jsontext
from standard.errors import BadRequest
from toolkit import jsonin


class SafeJSONProvider(DefaultJSONProvider):
    """A 2 KB body nested 1 000 deep, or a lone surrogate escape, is a 400 like any other bad body
    (each was a 500); so is 8 MB of tiny values (3 GB of objects for eight at once), and NaN or
    ±Infinity (not JSON: echoed in a batch answer they made it unreadable)."""

    def loads(self, s, **kwargs):
        jsonin.precheck(s)                 # millions of tiny values: refused before parsing
        try:
            # exactly json.loads's value or error (standard/jsontext.py), orjson's speed; NaN,
            # Infinity and 1e400 (json takes them, orjson does not) are not JSON: bad_request
            # orjson's value has Unicode strings only: just its depth is left to check
            value, unicode = jsontext.loads_unicode(s, **jsonin.STRICT_NUMBERS) \
                if not kwargs and isinstance(s, (bytes, str)) \
                else (super().loads(s, **{**jsonin.STRICT_NUMBERS, **kwargs}), False)
        except RecursionError:
            raise BadRequest(f"JSON nested deeper than {jsonin.MAX_DEPTH} levels") from None
        return jsonin.check(value, strings_unicode=unicode)
