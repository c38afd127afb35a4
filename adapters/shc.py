"""SMART Health Cards (https://spec.smarthealth.cards): read-only foreign format.

A card is a compact JWS (``zip: DEF``, ES256, ``kid`` = RFC 7638 thumbprint of the issuer key)
whose payload is raw-DEFLATEd JSON carrying a FHIR bundle.  It reaches us as

* numeric QR text ``shc:/<digits>`` (two digits → one base64url character, value + 45);
* chunked QR text ``shc:/<i>/<n>/<digits>``: all *n* chunks in one payload, separated by
  whitespace/newlines, in any order (``group_chunks`` joins the chunks found in one photo with
  ``"\\n"``; ``Verifier.verify_image_codes`` verifies each code of the photo);
* a bare compact JWS;
* a ``.smart-health-card`` file: ``{"verifiableCredential": [jws, ...]}``.  Every credential
  must verify; the verdict describes the first (a file normally holds one card per person, and
  a checkpoint answers for one traveller at a time).

The module is pure codec functions first; the adapter object (``make``/``ADAPTER``) is at the
end.  The FHIR events become a colour through :mod:`.foreign_rules`.  See docs/formats/shc.md.
"""
from __future__ import annotations

import json
import math
import re
import zlib
from dataclasses import dataclass
from datetime import date, datetime, timezone

import orjson

from standard import jose
import standard
from standard.errors import AlgorithmNotAllowed, HealthCodeError, Malformed, SignatureInvalid, UnknownKey
from adapters import compression
from adapters import foreign_rules
from adapters import revocation_lists
from adapters.base import Verified, check_validity
from adapters.foreign_rules import DEFAULT_VERDICT_TTL, Event

NAME = "shc"
QR_PREFIX = "shc:/"
HEALTH_CARD_TYPE = "https://smarthealth.cards#health-card"
COVID_TYPE = "https://smarthealth.cards#covid19"
ALG = "ES256"

# --- size caps: everything below is attacker-controlled ------------------------------------------
MAX_TEXT_CHARS = 60_000          # whatever reaches the adapter (the Verifier caps at 12 000 first)
MAX_CHUNKS = 20
MAX_CREDENTIALS = 10             # JWSs in one .smart-health-card file
MAX_INFLATED_BYTES = 200_000     # decompressed payload (a real card is a few KB)
MAX_ENTRIES = 200                # FHIR bundle entries
MAX_CODINGS = 20
MAX_NAME_CHARS = 200
MAX_ISS_CHARS = 512
MAX_TIMESTAMP = 10**11           # year ~5138: bigger is nonsense

DEFAULT_REGION = "US"            # ISO 3166-1 alpha-2 when region_by_issuer has no entry

# --- FHIR vocabulary (kept deliberately small; see docs/formats/shc.md) ---------------------------
CVX = "http://hl7.org/fhir/sid/cvx"
SNOMED = "http://snomed.info/sct"
LOINC = "http://loinc.org"
COVID_CVX = frozenset({"207", "208", "210", "211", "212", "213", "217", "218", "219", "221",
                       "225", "226", "227", "228", "229", "230", "300", "301", "302",
                       "500", "501", "502", "503", "504", "505", "506", "507", "508", "509",
                       "510", "511", "512"})
SINGLE_DOSE_CVX = frozenset({"212"})            # Janssen: one dose completes the series
COVID_LOINC = frozenset({"94309-2", "94500-6", "94531-1", "94533-7", "94534-5", "94558-4",
                         "94559-2", "94565-9", "94756-4", "94757-2", "94759-8", "94845-5",
                         "95209-3", "95406-5", "95608-6", "96119-3", "97097-0"})
NEGATIVE_RESULTS = frozenset({"260385009", "260415000"})   # Negative, Not detected
POSITIVE_RESULTS = frozenset({"10828004", "260373001"})    # Positive, Detected
FINAL_OBSERVATION = frozenset({"final", "amended", "corrected"})

_CHUNK_RE = re.compile(r"shc:/(?:([1-9][0-9]{0,2})/([1-9][0-9]{0,2})/)?([0-9]*)", re.ASCII)
_B64URL_43 = re.compile(r"[A-Za-z0-9_-]{43}", re.ASCII)
_SPACE = re.compile(r"\s")                # what str.isspace() calls space, found in C


# === numeric QR encoding ===========================================================================
def numeric_to_jws(digits: str) -> str:
    """``"5676..."`` → ``"eyJ..."``: each pair of digits is one character, ``chr(pair + 45)``."""
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


def jws_to_numeric(token: str) -> str:
    """The inverse of :func:`numeric_to_jws` (for tests and tooling)."""
    out = []
    for ch in token:
        value = ord(ch) - 45
        if not 0 <= value <= 77:
            raise ValueError(f"character {ch!r} cannot be numeric-encoded")
        out.append(f"{value:02d}")
    return "".join(out)


def qr_texts(token: str, chunks: int = 1) -> list[str]:
    """QR texts for a JWS: ``["shc:/..."]``, or ``chunks`` balanced ``shc:/i/n/...`` parts."""
    if chunks == 1:
        return [QR_PREFIX + jws_to_numeric(token)]
    size = math.ceil(len(token) / chunks)
    parts = [token[i * size:(i + 1) * size] for i in range(chunks)]
    return [f"{QR_PREFIX}{i}/{chunks}/{jws_to_numeric(part)}" for i, part in enumerate(parts, 1)]


def jws_from_qr(text: str) -> str:
    """One ``shc:/`` QR text, or all chunks of a chunked card (whitespace-separated, any order),
    → the compact JWS.  Missing, duplicate or out-of-range chunks are :class:`Malformed`."""
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise Malformed("SMART Health Card QR text too large or not text")
    parts = text.split()
    if not parts:
        raise Malformed("SMART Health Card QR text is empty")
    if len(parts) > MAX_CHUNKS:
        raise Malformed(f"more than {MAX_CHUNKS} SMART Health Card QR chunks")
    parsed = []
    for part in parts:
        match = _CHUNK_RE.fullmatch(part)
        if match is None:
            if not part.lower().startswith(QR_PREFIX):
                raise Malformed("SMART Health Card QR text must start with 'shc:/'")
            raise Malformed("SMART Health Card QR text must be shc:/<digits> or shc:/<i>/<n>/<digits>")
        index, total, digits = match.groups()
        if not digits:
            raise Malformed("SMART Health Card QR text has no data after its header")
        parsed.append((int(index) if index else None, int(total) if total else None, digits))
    if all(index is None for index, _, _ in parsed):
        if len(parsed) > 1:
            raise Malformed("several unchunked SMART Health Card QR texts in one payload")
        return numeric_to_jws(parsed[0][2])
    if any(index is None for index, _, _ in parsed):
        raise Malformed("chunked and unchunked SMART Health Card QR texts mixed")
    totals = {total for _, total, _ in parsed}
    if len(totals) != 1:
        raise Malformed("SMART Health Card QR chunks disagree on the number of chunks")
    total = totals.pop()
    if total > MAX_CHUNKS:
        raise Malformed(f"a SMART Health Card in more than {MAX_CHUNKS} QR chunks is not accepted")
    by_index: dict[int, str] = {}
    for index, _, digits in parsed:
        if index > total:
            raise Malformed(f"SMART Health Card QR chunk index {index} is out of range 1..{total}")
        if index in by_index:
            raise Malformed(f"SMART Health Card QR chunk {index}/{total} given twice")
        by_index[index] = digits
    missing = [str(i) for i in range(1, total + 1) if i not in by_index]
    if missing:
        raise Malformed(f"SMART Health Card QR chunk(s) {', '.join(missing)} of {total} missing; "
                        "scan every QR code of the card")
    return "".join(numeric_to_jws(by_index[i]) for i in range(1, total + 1))


def group_chunks(texts: list[str]) -> list[str]:
    """The QR texts of one image → one text per code: the chunks ``shc:/i/n/…`` of a SMART
    Health Card become one newline-joined text (what :func:`jws_from_qr` reads); every other
    text stays itself.  Chunks of two cards with the same ``n`` are told apart by order: the
    k-th chunk i/n found belongs to the k-th card.  Codes keep the order of their first text."""
    codes: list[list[str]] = []
    open_cards: dict[int, list[tuple[set, list]]] = {}
    for text in texts:
        match = _CHUNK_RE.fullmatch(text.strip()) if isinstance(text, str) else None
        if match is None or match.group(1) is None:
            codes.append([text])
            continue
        index, total = int(match.group(1)), int(match.group(2))
        cards = open_cards.setdefault(total, [])
        card = next((c for c in cards if index not in c[0]), None)
        if card is None:
            card = (set(), [])
            cards.append(card)
            codes.append(card[1])
        card[0].add(index)
        card[1].append(text.strip())
    return ["\n".join(parts) for parts in codes]


# === recognising the input ============================================================================
_DIGITS_AS_ZERO = bytes(48 if 48 <= c <= 57 else 32 for c in range(256))   # each ASCII digit → "0", rest " "
_LONG_DIGITS = b"0" * 19


def _no_constants(name):
    raise Malformed(f"JSON constant {name} not accepted")


def _has_long_digit_run(text: str) -> bool:
    """Any run of 19 ASCII digits: a bytes translate and a substring search (a regex over 12 KB
    of FHIR took 100 µs, more than the parse it guards)."""
    return _LONG_DIGITS in text.encode("utf-8", "surrogatepass").translate(_DIGITS_AS_ZERO)


def _json_object(text: str):
    """``json.loads`` without NaN/Infinity.  orjson parses the inflated FHIR bundle 3-4 times
    faster and gives the same objects wherever it succeeds, except that it turns integers past
    64 bits into floats: text with a run of 19 digits, and whatever orjson refuses (constants,
    lone surrogates, deep nesting, 1e400), goes to ``json`` as before, with its answer or error."""
    if not _has_long_digit_run(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
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


def _b64json(part: str, limit: int):
    if len(part) > limit:
        return None
    try:
        return json.loads(jose.b64url_decode(part))
    except Exception:       # noqa: BLE001 — detect() only asks "does this look like SHC?"
        return None


def looks_like_card_jws(token: str) -> bool:
    """A bare compact JWS that is clearly SHC: ``zip: DEF``, or a 43-character thumbprint kid,
    or an (uncompressed) payload with a ``vc`` member.  Other formats carry a prefix."""
    parts = token.split(".")
    if len(parts) != 3 or _SPACE.search(token):
        return False
    header = _b64json(parts[0], 4000)
    if not isinstance(header, dict):
        return False
    if header.get("zip") == "DEF":
        return True
    kid = header.get("kid")
    if isinstance(kid, str) and _B64URL_43.fullmatch(kid) and header.get("alg") in (ALG, None):
        return True
    payload = _b64json(parts[1], MAX_TEXT_CHARS)
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


def _number(value, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value < MAX_TIMESTAMP:
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


def read_payload(payload: bytes) -> Card:
    """Inflate and check the credential structure (not the FHIR content)."""
    raw = inflate(payload)
    if raw.startswith(b"\xef\xbb\xbf"):
        raise Malformed("SMART Health Card payload starts with a byte-order mark (not allowed in JWS JSON)")
    try:
        data = _json_object(raw.decode("utf-8"))
    except HealthCodeError:
        raise
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Malformed("SMART Health Card payload is not UTF-8 JSON") from None
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


def encode_card(payload: dict, private_key, kid: str) -> str:
    """Sign a card the way issuers do (tests and tooling; the gateway does not issue SHC)."""
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return jose.encode(deflate(body), {"zip": "DEF", "alg": ALG, "kid": kid}, private_key)


# === trust: (iss, kid) → key ==================================================================
def keys_by_thumbprint(anchors) -> dict[str, list[tuple[str | None, object]]]:
    """RFC 7638 thumbprint → ``(iss or None, public key)`` of every usable JWK anchor.

    A JWK whose own ``kid`` differs from its thumbprint, or that is not a P-256 signing key,
    is ignored (SMART cards require kid = thumbprint).  An anchor without ``iss`` trusts the key
    for any issuer; one with ``iss`` only for that issuer (checked after decoding)."""
    index: dict[str, list] = {}
    for anchor in anchors:
        jwk = anchor.get("jwk") if isinstance(anchor, dict) else None
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
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
        raise UnknownKey(f"SMART Health Card key {parsed.kid[:64]!r} is not a trusted issuer key")
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


# === FHIR → events ================================================================================
def fhir_time(value) -> int | None:
    """FHIR date / dateTime → epoch seconds (dates and naive times taken as UTC); None if unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        match = re.fullmatch(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", value, re.ASCII)
        if match:
            y, m, d = match.groups()
            day = date(int(y), int(m or 1), int(d or 1))
            return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp())
    except (ValueError, OverflowError):
        return None


def _codings(concept) -> list[tuple[str, str]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return []
    return [(c.get("system"), c.get("code")) for c in codings[:MAX_CODINGS]
            if isinstance(c, dict) and isinstance(c.get("system"), str) and isinstance(c.get("code"), str)]


def resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def holder(bundle: dict) -> tuple[str, str]:
    """(``"given family"``, birthDate) of the first Patient; ``("", "")`` if there is none."""
    for res in resources(bundle):
        if res.get("resourceType") != "Patient":
            continue
        name = ""
        names = res.get("name")
        if isinstance(names, list) and names and isinstance(names[0], dict):
            first = names[0]
            given = first.get("given")
            given = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
            family = first.get("family") if isinstance(first.get("family"), str) else ""
            name = " ".join([*given, family]).strip() or (first.get("text") if isinstance(first.get("text"), str) else "")
        birth = res.get("birthDate") if isinstance(res.get("birthDate"), str) else ""
        return " ".join(name.split())[:MAX_NAME_CHARS], birth[:20]
    return "", ""


@dataclass(frozen=True)
class Facts:
    events: tuple[Event, ...]
    immunizations: int
    series_complete: bool
    lab_results: int
    vaccine_codes: tuple[str, ...]


def events_from_bundle(bundle: dict, card_types=(), single_dose_cvx=SINGLE_DOSE_CVX) -> Facts:
    """Completed COVID-19 immunizations and final COVID-19 lab results → foreign_rules events.

    An Immunization counts when its CVX code is a COVID-19 vaccine, or any code when the card is
    typed ``#covid19``.  The series is complete from the 2nd counted dose on, or at a dose of a
    single-dose vaccine (CVX 212).  An Observation counts when it is final, has a LOINC SARS-CoV-2
    test code (or the card is typed ``#covid19``) and a SNOMED negative/positive result.
    Resources without a readable date are ignored (they never make anyone green)."""
    covid_card = COVID_TYPE in card_types
    doses: list[tuple[int, bool, str | None]] = []
    tests: list[Event] = []
    for res in resources(bundle):
        kind = res.get("resourceType")
        if kind == "Immunization" and res.get("status") == "completed":
            codes = _codings(res.get("vaccineCode"))
            cvx = [code for system, code in codes if system == CVX]
            if not (covid_card or COVID_CVX.intersection(cvx)):
                continue
            at = fhir_time(res.get("occurrenceDateTime"))
            if at is not None:
                doses.append((at, bool(set(single_dose_cvx).intersection(cvx)), cvx[0] if cvx else None))
        elif kind == "Observation" and res.get("status") in FINAL_OBSERVATION:
            loinc = {code for system, code in _codings(res.get("code")) if system == LOINC}
            if not (covid_card or COVID_LOINC.intersection(loinc)):
                continue
            results = {code for system, code in _codings(res.get("valueCodeableConcept")) if system == SNOMED}
            result = ("positive" if POSITIVE_RESULTS & results else
                      "negative" if NEGATIVE_RESULTS & results else None)
            at = fhir_time(res.get("effectiveDateTime"))
            if result and at is not None:
                tests.append(Event("test", at, result=result))
    doses.sort(key=lambda d: d[0])
    vaccinations, complete = [], False
    for number, (at, single, _) in enumerate(doses, 1):
        complete = complete or single or number >= 2
        vaccinations.append(Event("vaccination", at, complete=complete))
    codes = tuple(dict.fromkeys(code for _, _, code in doses if code))
    return Facts(tuple(vaccinations + tests), len(doses), complete, len(tests), codes)


# === national claims ========================================================================
def subject_id(iss: str, name: str, birth_date: str) -> str:
    return foreign_rules.digest_id(f"shc:{iss}|{name}|{birth_date}", 24)


def code_id(token: str) -> str:
    return foreign_rules.digest_id(token, 22)


def to_claims(token: str, card: Card, name: str, birth_date: str, status: str, reasons: list,
              valid_until: int | None, now: int, region: str, ttl: int = DEFAULT_VERDICT_TTL) -> dict:
    return foreign_rules.national_claims(
        region=region, sub=subject_id(card.iss, name, birth_date), jti=code_id(token),
        issued=card.nbf, expires=card.exp, valid_until=valid_until, status=status,
        reasons=reasons, name=name, now=now, ttl=ttl)


# === the adapter ===================================================================================
class ShcAdapter:
    """Options (``[format.shc]``): ``rules`` (foreign_rules), ``region_by_issuer`` {iss: "XX"},
    ``default_region`` ("US"), ``verdict_ttl`` (seconds), ``single_dose_cvx`` (["212"])."""

    name = NAME

    def __init__(self, options: dict | None = None):
        options = dict(options or {})
        self.rules = dict(options.get("rules") or {})
        self.region_by_issuer = dict(options.get("region_by_issuer") or {})
        self.default_region = str(options.get("default_region") or DEFAULT_REGION)
        self.ttl = int(options.get("verdict_ttl") or DEFAULT_VERDICT_TTL)
        self.single_dose_cvx = frozenset(str(c) for c in options.get("single_dose_cvx", SINGLE_DOSE_CVX))

    def detect(self, text: str) -> bool:
        return detect(text)

    def verify(self, text: str, trust, now: int) -> Verified:
        try:
            tokens = credentials(text)
            keys = trust.anchor_index("jwk", keys_by_thumbprint)
            results = []
            for number, token in enumerate(tokens, 1):
                try:
                    results.append(self.verify_credential(token, keys, now, trust))
                except HealthCodeError as exc:
                    if len(tokens) == 1:
                        raise
                    raise exc.__class__(f"credential {number} of {len(tokens)}: {exc.message}",
                                        code=exc.code) from None
        except HealthCodeError:
            raise
        except Exception as exc:        # noqa: BLE001 — a decoder bug must read as "malformed"
            raise Malformed(f"SMART Health Card could not be decoded ({exc.__class__.__name__})") from None
        first = results[0]
        if len(results) > 1:
            first = Verified(first.format, first.claims, first.kid, {**first.extra, "credentials": len(results)})
        return first

    def verify_credential(self, token: str, keys: dict, now: int, trust=None) -> Verified:
        parsed = parse_card_jws(token)
        issuers = verify_signature(parsed, keys)            # before inflating anything
        card = read_payload(parsed.payload)
        if None not in issuers and card.iss not in issuers:
            raise UnknownKey(f"key {parsed.kid[:64]} is not trusted for issuer {card.iss[:200]}")
        check_validity(card.nbf, card.exp, now)
        if trust is not None:
            revocation_lists.refuse_revoked_shc(trust, card.iss, parsed.kid, card.rid, card.nbf)
        name, birth_date = holder(card.bundle)
        facts = events_from_bundle(card.bundle, card.types, self.single_dose_cvx)
        status, reasons, valid_until = foreign_rules.evaluate(list(facts.events), self.rules, now)
        region = self.region_by_issuer.get(card.iss) or self.default_region
        claims = standard.validate_claims(to_claims(token, card, name, birth_date, status, reasons,
                                                    valid_until, now, region, self.ttl))
        extra = {"issuer": card.iss, "card_types": [t.rsplit("#", 1)[-1] for t in card.types],
                 "immunizations": facts.immunizations, "series_complete": facts.series_complete,
                 "lab_results": facts.lab_results, "credentials": 1}
        if facts.vaccine_codes:
            extra["vaccine_cvx"] = list(facts.vaccine_codes)
        if card.exp is not None:
            extra["card_expires_at"] = standard.rfc3339(card.exp)
        if card.rid:
            extra["rid"] = card.rid
        extra["holder"] = foreign_rules.foreign_holder(name, birth_date)
        return Verified(NAME, claims, kid=parsed.kid, extra=extra)


def make(options: dict | None = None) -> ShcAdapter:
    return ShcAdapter(options)


ADAPTER = make({})
