"""The national standard as code: vocabulary, claim validation, masking, time formats.

The package ``standard`` is the shared core every other part imports and which imports none of
them: this module (the claims of §3), :mod:`.errors` (every error code, §6), :mod:`.idcard`
(GB 11643 ID numbers), :mod:`.jose` (the JWS profile, §4.1), :mod:`.trustlist` (§7),
:mod:`.rules` (health facts → colour, §5) and :mod:`.settings` (the deployment's regions).

The JSON Schema in ``docs/standard/v1`` is the source of truth; this module loads it once and
every adapter validates the national claims it produces against it, so a region's mapping bug
surfaces as ``schema_invalid`` instead of a wrong colour at a checkpoint.
"""
from __future__ import annotations


import json
import time
import unicodedata
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterable

import fastjsonschema
import jsonschema_rs

from standard.errors import SchemaInvalid

if TYPE_CHECKING:
    import jsonschema

PROJECT_ROOT = Path(__file__).resolve().parent.parent

STANDARD_VERSION = "1.0"

STANDARD_DIR = PROJECT_ROOT / "docs" / "standard" / "v1"
STATUSES = ("green", "yellow", "red")
SEVERITY = {status: rank for rank, status in enumerate(STATUSES)}
KINDS = ("dynamic", "offline")
# Longest life a code of each kind may have (§4.2).  A region may register shorter lifetimes in
# the trust list, never longer: a phone code ages out in minutes so a screenshot is useless, and
# a printed code lasts at most the 7 days Sichuan's offline code did.
MAX_LIFETIME = {"dynamic": 300, "offline": 7 * 86400}
ONLINE_FORMAT = "online"        # the format name of online codes (§4.4; adapters/online.py)
MAX_PAYLOAD_CHARS = 12_000      # one QR text a verifier accepts (§4; a 4-chunk SMART card is ~5 000)
MAX_IMAGE_BYTES = 4_000_000     # one PNG/JPEG of a QR code a verifier accepts (§4)


@lru_cache(maxsize=None)
def load_schema(name: str) -> dict:
    return json.loads((STANDARD_DIR / name).read_text(encoding="utf-8"))


@lru_cache(maxsize=None)
def reference_claims_validator() -> jsonschema.Draft202012Validator:
    """The schema as written (draft 2020-12), via jsonschema: the reference."""
    import jsonschema                   # the reference checker (~40 ms to import): where it is asked for
    return jsonschema.Draft202012Validator(load_schema("code-claims.schema.json"))


def compiled_validator(schema: dict) -> Callable[[Any], None]:
    """``fastjsonschema.compile(schema)`` (a draft-07 schema), with ``jsonschema_rs`` (Rust) asked
    first: a document the Rust validator calls valid returns at once (~1.5 µs instead of 7–9 µs
    for a claims set or a DCC); anything else — refused, or a value it cannot convert (a lone
    surrogate) — is judged by fastjsonschema, whose verdict and message stand.  So the result is
    fastjsonschema's wherever the two agree on "valid", which tests/test_schema_gate.py checks
    on every conformance vector and on mutations of them (types, bounds, patterns, members)."""
    fast = fastjsonschema.compile(schema)
    gate = jsonschema_rs.validator_for(schema).is_valid

    def check(data: Any) -> None:
        try:
            if gate(data):
                return
        except Exception:       # noqa: BLE001 — unconvertible input: fastjsonschema decides
            pass
        fast(data)
    check.fast = fast           # type: ignore[attr-defined]  # the authority, for the tests
    check.gate = gate           # type: ignore[attr-defined]
    return check


@lru_cache(maxsize=None)
def _fast_claims_validator() -> Callable[[Any], Any]:
    """The same schema compiled (:func:`compiled_validator`): ~100x faster than jsonschema on the
    verify hot path.  It speaks draft-07, which covers every keyword this schema uses; a test
    checks the two agree."""
    schema = dict(load_schema("code-claims.schema.json"), **{"$schema": "http://json-schema.org/draft-07/schema#"})
    return compiled_validator(schema)


_CLAIMS_CHECK: Callable[[Any], Any] | None = None      # _fast_claims_validator(), once built


def _claims_check() -> Callable[[Any], Any]:
    global _CLAIMS_CHECK
    _CLAIMS_CHECK = _fast_claims_validator()
    return _CLAIMS_CHECK


@lru_cache(maxsize=None)
def openapi_validator(component: str) -> jsonschema.Draft202012Validator:
    """A validator for one ``components/schemas`` entry of the OpenAPI file (3.1 = JSON Schema),
    built once per component: building one costs more than using it, on every request."""
    import jsonschema
    root = load_schema("openapi.json")
    return jsonschema.Draft202012Validator({**root, "$ref": f"#/components/schemas/{component}"})


# Request components checked first by a compiled validator (fastjsonschema, draft-07: these use
# only type, properties, required, maxLength and maxItems, which mean the same in both drafts).
# It only ever says "valid": a body it refuses is judged again by :func:`openapi_validator`, whose
# verdict and message stand — so a stricter compiled check cannot refuse what the standard allows.
FAST_COMPONENTS = ("VerifyRequest", "BatchRequest")


@lru_cache(maxsize=None)
def _fast_openapi_validator(component: str) -> Callable[[Any], Any]:
    root = load_schema("openapi.json")
    return fastjsonschema.compile({**root, "$schema": "http://json-schema.org/draft-07/schema#",
                                   "$ref": f"#/components/schemas/{component}"})


def openapi_accepts(component: str, body: Any) -> bool:
    """True when the compiled validator of a :data:`FAST_COMPONENTS` entry accepts ``body``
    (~50x cheaper than jsonschema on the verify path); False means "ask the reference"."""
    if component not in FAST_COMPONENTS:
        return False
    try:
        _fast_openapi_validator(component)(body)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def reasons_vocabulary() -> tuple[str, ...]:
    return tuple(load_schema("code-claims.schema.json")["$defs"]["reason"]["enum"])


def validate_claims(claims: dict) -> dict:
    try:
        (_CLAIMS_CHECK or _claims_check())(claims)
    except fastjsonschema.JsonSchemaException as exc:
        raise SchemaInvalid(str(exc)[:200].replace("data.", "", 1)) from None
    if claims["exp"] <= claims["iat"]:
        raise SchemaInvalid("exp must be after iat")
    return claims


def worst(statuses: Iterable[str]) -> str:
    return max(statuses, key=SEVERITY.__getitem__, default="green")


# --- masking ---------------------------------------------------------------------------------
def mask_name(name: str) -> str:
    """张三丰 → 张*丰, 张三 → 张*, 欧阳小明 → 欧**明: enough for staff to match a face, not to look up.
    Counted in characters as a reader sees them: a variation selector (a rare character of a
    household register, 李\U000E0100) or a combining mark stays with the character before it, so
    a two-character name never shows its second."""
    chars = _characters(" ".join(str(name).split()))
    if len(chars) <= 1:
        return "*"
    if len(chars) == 2:
        return chars[0] + "*"
    return chars[0] + "*" * (len(chars) - 2) + chars[-1]


def _characters(text: str) -> list[str]:
    """``text`` as characters a reader sees: each mark (Unicode categories Mn, Mc, Me: combining
    marks, vowel signs, variation selectors) joined to the character before it."""
    chars: list[str] = []
    for ch in text:
        if chars and unicodedata.category(ch) in _MARKS:
            chars[-1] += ch
        else:
            chars.append(ch)
    return chars


_MARKS = frozenset(("Mn", "Mc", "Me"))


def mask_id(number: str) -> str:
    from standard.idcard import mask
    return mask(number)


# --- time ------------------------------------------------------------------------------------
CHINA_TZ = timezone(timedelta(hours=8))      # 北京时间: what people read on cards and pages


def rfc3339(ts: int | float) -> str:
    """Epoch seconds → ``2027-01-15T08:00:00Z``.  Two or three of these per verdict: the day's
    ``YYYY-MM-DDT`` (``time.gmtime``, remembered for up to 4,096 days) joined with the time of
    day from two small tables, a third of gmtime and %-formatting; years past 9999 go through
    datetime, which refuses them."""
    ts = int(ts)
    if 0 <= ts < _YEAR_10000:
        day, second = divmod(ts, 86400)
        date_text = _DAYS.get(day)
        if date_text is None:
            t = _gmtime(ts)
            date_text = "%04d-%02d-%02dT" % (t[0], t[1], t[2])
            if len(_DAYS) >= _MAX_DAYS:
                _DAYS.clear()
            _DAYS[day] = date_text
        minute, second = divmod(second, 60)
        return date_text + _HOURS_MINUTES[minute] + _SECONDS[second]
    return datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


_YEAR_10000 = 253402300800
_gmtime = time.gmtime
_MAX_DAYS = 4096
_DAYS: dict[int, str] = {}                  # day since 1970 → "YYYY-MM-DDT" (a pure function of it)
_HOURS_MINUTES = tuple("%02d:%02d:" % divmod(m, 60) for m in range(1440))
_SECONDS = tuple("%02dZ" % s for s in range(60))


def parse_rfc3339(text: str) -> int:
    """RFC 3339 → epoch seconds; a naive time is taken as UTC."""
    try:
        value = datetime.fromisoformat(str(text).replace("Z", "+00:00"))
    except ValueError:
        from standard.errors import BadRequest
        raise BadRequest(f"not an RFC 3339 time: {str(text)[:40]!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp())


__all__ = ["STANDARD_VERSION", "STATUSES", "KINDS", "validate_claims", "worst", "mask_name",
           "mask_id", "rfc3339", "parse_rfc3339", "load_schema", "reasons_vocabulary"]
