"""Stage 2, the card: recognising the input (QR text, bare JWS, ``.smart-health-card`` file),
the compact JWS under its bounds, the raw-DEFLATE payload, and the signature by the issuer key
found by thumbprint."""
from __future__ import annotations

from typing import Any, Iterable, NoReturn
import json
import math
import re
import zlib
from dataclasses import dataclass

import msgspec
import orjson

from standard import jose, jsontext
from standard.errors import AlgorithmNotAllowed, HealthCodeError, Malformed, SignatureInvalid, UnknownKey
from adapters import compression
from adapters.shc.numeric import ALG, HEALTH_CARD_TYPE, MAX_CREDENTIALS, MAX_ENTRIES, MAX_INFLATED_BYTES, MAX_ISS_CHARS, MAX_TEXT_CHARS, MAX_TIMESTAMP, _B64URL_43, has_space, jws_from_qr


# === recognising the input ============================================================================
def _no_constants(name: str) -> NoReturn:
    raise Malformed(f"JSON constant {name} not accepted")


def _json_object(text: str) -> Any:
    """``json.loads`` without NaN/Infinity, at orjson's speed where the two agree
    (:mod:`standard.jsontext`: integers past 64 bits and whatever orjson refuses go to ``json``)."""
    return jsontext.loads(text, parse_constant=_no_constants)


def _card_json(text: str) -> Any:
    """A card payload's JSON: :func:`_json_object` without the 19-digit guard (8 µs over a 12 KB
    FHIR bundle).  The guard only keeps integers of 2⁶⁴ and more exact (orjson makes them floats),
    and a card reads no number but ``nbf`` and ``exp``, which refuse such a value as int or
    float alike with the same message (tests/test_shc_fast_paths.py); every other number stays in
    the bundle, which no verdict shows.  Whatever orjson refuses goes to ``json`` as before."""
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return json.loads(text, parse_constant=_no_constants)


def credentials_from_file(text: str) -> list[str]:
    """The JWSs of a ``.smart-health-card`` file."""
    try:
        data = _json_object(text)
    except HealthCodeError:
        raise
    except (ValueError, RecursionError):
        raise Malformed("SMART Health Card file is not JSON") from None
    vcs = data.get("verifiableCredential") if isinstance(data, dict) else None
    if not isinstance(vcs, list) or not vcs:
        raise Malformed("SMART Health Card file needs a non-empty verifiableCredential list")
    if len(vcs) > MAX_CREDENTIALS:
        raise Malformed(f"more than {MAX_CREDENTIALS} credentials in one SMART Health Card file")
    if not all(isinstance(vc, str) for vc in vcs):
        raise Malformed("verifiableCredential entries must be compact JWS strings")
    return [vc.strip() for vc in vcs]


def credentials(text: str) -> list[str]:
    """Any accepted input form → its compact JWS(s)."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise Malformed("SMART Health Card input too large or not text")
    text = text.strip().lstrip("\ufeff").strip()
    if text[:4].lower() == "shc:":
        return [jws_from_qr(text)]
    if text.startswith("{"):
        return credentials_from_file(text)
    return [text]


def _b64json(part: str, limit: int) -> Any:
    if len(part) > limit:
        return None
    try:
        return json.loads(jose.b64url_decode(part))
    except Exception:       # noqa: BLE001 — detect() only asks "does this look like SHC?"
        return None


def _header_says_card(header_b64: str) -> bool | None:
    """From the JWS header alone: True (``zip: DEF``, or a 43-character thumbprint kid with
    ES256 or no alg), False (not a JSON object), None (the payload decides)."""
    header = _b64json(header_b64, 4000)
    if not isinstance(header, dict):
        return False
    if header.get("zip") == "DEF":
        return True
    kid = header.get("kid")
    if isinstance(kid, str) and _B64URL_43.fullmatch(kid) and header.get("alg") in (ALG, None):
        return True
    return None


# An issuer signs every card with one header, so the answer for each exact header text is kept
# (a pure function of that text; bounded, cleared when full).
MAX_CACHED_HEADERS = 512
MAX_CACHED_HEADER_CHARS = 1000
_HEADER_ANSWERS: dict[str, bool | None] = {}


def looks_like_card_jws(token: str) -> bool:
    """A bare compact JWS that is clearly SHC: ``zip: DEF``, or a 43-character thumbprint kid,
    or an (uncompressed) payload with a ``vc`` member.  Other formats carry a prefix."""
    first = token.find(".")                 # exactly two dots, found without copying the parts
    second = token.find(".", first + 1) if first >= 0 else -1
    if second < 0 or token.find(".", second + 1) >= 0 or has_space(token):
        return False
    header_b64 = token[:first]
    if header_b64 in _HEADER_ANSWERS:
        answer = _HEADER_ANSWERS[header_b64]
    else:
        answer = _header_says_card(header_b64)
        if len(header_b64) <= MAX_CACHED_HEADER_CHARS:
            if len(_HEADER_ANSWERS) >= MAX_CACHED_HEADERS:
                _HEADER_ANSWERS.clear()
            _HEADER_ANSWERS[header_b64] = answer
    if answer is not None:
        return answer
    payload = _b64json(token[first + 1:second], MAX_TEXT_CHARS)
    return isinstance(payload, dict) and isinstance(payload.get("vc"), dict)


def detect(text: str) -> bool:
    """Claim ``shc:`` QR text always; a JWS or JSON file only when it is clearly a SMART card."""
    try:
        if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
            return False
        text = text.strip().lstrip("\ufeff").strip()
        if text[:4].lower() == "shc:":
            return True
        if text.startswith("{"):
            data = json.loads(text)
            return isinstance(data, dict) and "verifiableCredential" in data
        return looks_like_card_jws(text)
    except Exception:       # noqa: BLE001 — detection never raises
        return False


# === the JWS and its payload ==================================================================
def inflate(data: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """Raw DEFLATE (RFC 1951, no zlib header) with an output cap and no trailing bytes."""
    return compression.inflate(data, limit, wbits=compression.RAW_DEFLATE, error=Malformed,
                               what="SMART Health Card payload")


def deflate(data: bytes) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    return compressor.compress(data) + compressor.flush()


def parse_card_jws(token: str) -> jose.ParsedJws:
    """Compact JWS + the header rules SMART cards add: alg ES256, zip DEF, a kid."""
    parsed = jose.parse(token)           # refuses jku/x5u/jwk/x5c/crit, lax base64url, big tokens
    if parsed.alg != ALG:
        raise AlgorithmNotAllowed(f"SMART Health Cards are signed with ES256, not {parsed.alg}")
    if parsed.header.get("zip") != "DEF":
        raise Malformed("SMART Health Card JWS header must have zip: DEF (compressed payload)")
    if not parsed.kid:
        raise Malformed("SMART Health Card JWS header has no kid")
    return parsed


def _number(value: object, what: str) -> int:
    """A NumericDate: an integer or finite float in range.  An integer is compared as itself: one
    of 400 digits has no float (``math.isfinite`` raised OverflowError, a decoder crash)."""
    if isinstance(value, bool) or not (isinstance(value, int) or isinstance(value, float) and math.isfinite(value)) \
            or not 0 <= value < MAX_TIMESTAMP:
        raise Malformed(f"SMART Health Card {what} must be a NumericDate")
    return int(value)


@dataclass(frozen=True)
class Card:
    iss: str
    nbf: int
    exp: int | None
    types: tuple[str, ...]
    bundle: dict
    rid: str | None = None


# --- the members a verdict reads, decoded alone -------------------------------------------------
# A card's payload is read for ``iss``, ``nbf``, ``exp``, ``vc.type``, ``vc.rid`` and the bundle's
# entries' resources, of which the FHIR walk (:mod:`.fhir`) reads only the members below.  msgspec
# decodes just those (every other member is checked as JSON and skipped: an insurance card's 8 KB
# Coverage is never made into Python objects).  The answer is the payload as ``orjson`` reads it
# with every other member left out; whatever does not have this shape, or that msgspec refuses,
# is read by the full parse instead, whose answer and messages stand
# (tests/test_shc_payload_fields.py compares the two on the vectors and on mutations).
_UNSET: Any = msgspec.UNSET


class _Resource(msgspec.Struct, omit_defaults=True):
    resourceType: Any = _UNSET
    status: Any = _UNSET
    vaccineCode: Any = _UNSET
    occurrenceDateTime: Any = _UNSET
    code: Any = _UNSET
    valueCodeableConcept: Any = _UNSET
    effectiveDateTime: Any = _UNSET
    name: Any = _UNSET
    birthDate: Any = _UNSET


class _Entry(msgspec.Struct, omit_defaults=True):
    resource: _Resource


class _Bundle(msgspec.Struct, omit_defaults=True):
    entry: list[_Entry]
    resourceType: Any = _UNSET


class _Subject(msgspec.Struct, omit_defaults=True):
    fhirBundle: _Bundle


class _Vc(msgspec.Struct, omit_defaults=True):
    credentialSubject: _Subject
    type: Any = _UNSET
    rid: Any = _UNSET


class _Payload(msgspec.Struct, omit_defaults=True):
    vc: _Vc
    iss: Any = _UNSET
    nbf: Any = _UNSET
    exp: Any = _UNSET


FHIR_MEMBERS_READ: tuple[str, ...] = _Resource.__struct_fields__
_PAYLOAD = msgspec.json.Decoder(_Payload)


def payload_members_read(raw: bytes) -> dict | None:
    """The payload's members a verdict reads (see above), or None: the full parse decides.
    msgspec checks the UTF-8 only of the texts it decodes, so the whole payload's is checked
    first (one C pass; an ASCII payload needs none)."""
    try:
        if not raw.isascii():
            raw.decode("utf-8")
        return msgspec.to_builtins(_PAYLOAD.decode(raw))
    except (msgspec.MsgspecError, ValueError, RecursionError):
        return None


# A lone surrogate (U+D800-U+DFFF) can only be written as an escape, ``"\ud800"``, once the UTF-8
# is checked: valid JSON, not Unicode text.  msgspec refuses one where it decodes and skips it
# elsewhere; the full parse's ``json`` takes it, and the verdict's pseudonym could not hash it (a
# decoder crash at every scan).  One anywhere in the payload makes the card malformed, whichever
# read answers: the escapes are looked at (each backslash found by memchr: a card has none or a
# few), and only a payload with a surrogate's escape is parsed, to tell a lone one from a pair (an
# emoji).  ~0.1 µs on a card without backslashes, ~0.5 µs on the 12 KB vector with two.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_ESCAPES_LOOKED_AT = 16


def _has_surrogate_escape(raw: bytes) -> bool:
    """True when ``raw`` may hold ``\\uD800``-``\\uDFFF`` (False only when it holds none)."""
    at = raw.find(b"\\")
    for _ in range(_ESCAPES_LOOKED_AT):
        if at < 0:
            return False
        if _SURROGATE_ESCAPE.match(raw, at):
            return True
        at = raw.find(b"\\", at + 2)          # past the escaped character (so past "\\\\" whole)
    return at >= 0 and _SURROGATE_ESCAPE.search(raw, at) is not None     # many escapes: one C search


def _holds_lone_surrogate(raw: bytes) -> bool:
    if not _has_surrogate_escape(raw):
        return False
    try:
        return jsontext.holds_lone_surrogate(json.loads(raw.decode("utf-8")))
    except (ValueError, RecursionError):
        return False            # not JSON at all: the reads below say so


def read_payload(payload: bytes) -> Card:
    """Inflate and check the credential structure (not the FHIR content).  ``Card.bundle``
    holds the members of the bundle that the FHIR walk reads (:data:`FHIR_MEMBERS_READ`)."""
    raw = inflate(payload)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Malformed("SMART Health Card payload starts with a byte-order mark (not allowed in JWS JSON)")
    if b"\\" in raw and _holds_lone_surrogate(raw):        # no backslash, no escape (memchr)
        raise Malformed("SMART Health Card payload holds a lone surrogate escape (\\ud800-\\udfff): "
                        "not Unicode text")
    data = payload_members_read(raw)
    return card_from(parse_payload(raw) if data is None else data)


def card_from(data: Any) -> Card:
    """The credential structure of a parsed payload (the whole JSON or its members read)."""
    if not isinstance(data, dict):
        raise Malformed("SMART Health Card payload must be a JSON object")
    iss = data.get("iss")
    if not isinstance(iss, str) or not 0 < len(iss) <= MAX_ISS_CHARS:
        raise Malformed("SMART Health Card has no issuer (iss)")
    nbf = _number(data.get("nbf"), "nbf")
    exp = _number(data["exp"], "exp") if data.get("exp") is not None else None
    vc = data.get("vc")
    if not isinstance(vc, dict):
        raise Malformed("SMART Health Card has no vc object")
    types = vc.get("type")
    if not isinstance(types, list) or not all(isinstance(t, str) for t in types) or len(types) > 20:
        raise Malformed("SMART Health Card vc.type must be a list of strings")
    if HEALTH_CARD_TYPE not in types:
        raise Malformed(f"SMART Health Card vc.type lacks {HEALTH_CARD_TYPE}")
    subject = vc.get("credentialSubject")
    bundle = subject.get("fhirBundle") if isinstance(subject, dict) else None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise Malformed("SMART Health Card has no vc.credentialSubject.fhirBundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
        raise Malformed(f"FHIR bundle entry must be a list of at most {MAX_ENTRIES}")
    rid = vc.get("rid") if isinstance(vc.get("rid"), str) and len(vc["rid"]) <= 64 else None
    return Card(iss, nbf, exp, tuple(types), bundle, rid)


def parse_payload(raw: bytes) -> Any:
    """The whole inflated payload as JSON (``orjson``; ``json`` for what it refuses)."""
    try:
        return _card_json(raw.decode("utf-8"))
    except HealthCodeError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Malformed("SMART Health Card payload is not UTF-8 JSON") from None


def encode_card(payload: dict, private_key: object, kid: str) -> str:
    """Sign a card the way issuers do (tests and tooling; the gateway does not issue SHC)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jose.encode(deflate(body), {"zip": "DEF", "alg": ALG, "kid": kid}, private_key)


# === trust: (iss, kid) → key ==================================================================
def keys_by_thumbprint(anchors: Iterable[object]) -> dict[str, list[tuple[str | None, object]]]:
    """RFC 7638 thumbprint → ``(iss or None, public key)`` of every usable JWK anchor.

    A JWK whose own ``kid`` differs from its thumbprint, or that is not a P-256 signing key,
    is ignored (SMART cards require kid = thumbprint).  An anchor without ``iss`` trusts the key
    for any issuer; one with ``iss`` only for that issuer (checked after decoding)."""
    index: dict[str, list] = {}
    for anchor in anchors:
        jwk = anchor.get("jwk") if isinstance(anchor, dict) else None
        if not isinstance(anchor, dict) or not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            continue
        if jwk.get("alg", ALG) != ALG or jwk.get("use", "sig") != "sig":
            continue
        try:
            thumb = jose.thumbprint(jwk)
            if jwk.get("kid", thumb) != thumb:
                continue
            key = jose.public_key_from_jwk(jwk)
        except (HealthCodeError, KeyError, TypeError, ValueError):
            continue
        iss = anchor.get("iss")
        index.setdefault(thumb, []).append((iss if isinstance(iss, str) and iss else None, key))
    return index


def verify_signature(parsed: jose.ParsedJws, keys: dict) -> set[str | None]:
    """Check the signature against the keys (:func:`keys_by_thumbprint`) for its kid; the issuers
    those keys stand for."""
    candidates = keys.get(parsed.kid, [])
    if not candidates:
        raise UnknownKey(f"SMART Health Card key {str(parsed.kid)[:64]!r} is not a trusted issuer key")
    issuers = set()
    for iss, key in candidates:
        try:
            jose.check_signature(parsed, key, (ALG,))
        except SignatureInvalid:
            continue
        issuers.add(iss)
    if not issuers:
        raise SignatureInvalid("SMART Health Card signature does not verify")
    return issuers


