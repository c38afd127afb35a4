"""EU Digital COVID Certificate (https://ec.europa.eu/health/ehealth/covid-19_en): read-only
foreign format.

QR text = ``HC1:`` + Base45( zlib( COSE_Sign1( CWT ) ) ).  The CWT carries ``iss`` (country),
``iat``, ``exp`` and claim -260 ``{1: <DCC JSON>}`` with vaccination (``v``), test (``t``) or
recovery (``r``) entries of one type (one from schema 1.3 on; 1.0–1.2 may list several).  The signer is a Document Signer Certificate (X.509, ES256 —
ECDSA-SHA256 on its EC key of any curve, as the EU reference verifier — or PS256) found by ``kid`` = the first 8 bytes of SHA-256 over its DER; its extended key usage may
restrict it to some certificate types.

Each stage fails with its own error code, so a checkpoint (and the dgc-testdata agreement test)
can tell a broken print from a forgery:

=====================  =====================================================================
stage                  error code
=====================  =====================================================================
context prefix         ``context_unsupported`` (``HC2:``…); anything else is not detected
Base45                 ``base45_invalid``
zlib                   ``compression_invalid``
COSE_Sign1 structure   ``cose_invalid``
signer lookup          ``key_unknown`` (kid not a trusted signer), ``algorithm_not_allowed``
signature              ``signature_invalid``
CWT / health claim     ``cwt_invalid``
validity (iat, exp)    ``not_yet_valid``, ``expired``
signer validity        ``certificate_invalid`` (the signer certificate is outside its dates)
DCC JSON schema        ``schema_invalid`` (the schema of the declared ``ver``: :mod:`.dcc_schema`)
key usage              ``key_usage_mismatch``
=====================  =====================================================================

Codec steps are pure functions; the adapter object (``make``/``ADAPTER``) is at the end.  The
certificate's events become a colour through :mod:`.foreign_rules`.  See docs/formats/eu-dcc.md.
"""
from __future__ import annotations

import base64
import hashlib
import math
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone
from functools import lru_cache

import base45
import cbor2
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from standard import jose
import standard
from standard.errors import AlgorithmNotAllowed, Base45Invalid, CertificateInvalid, CodeTooLarge, CompressionInvalid, ContextUnsupported, CoseInvalid, CwtInvalid, HealthCodeError, KeyUsageMismatch, SignatureInvalid, UnknownKey
from adapters import b45, compression, ec2m
from adapters import dcc_business_rules, dcc_schema, foreign_rules, revocation_lists
from adapters.base import CLOCK_SKEW, Verified, check_validity
from adapters.foreign_rules import DEFAULT_VERDICT_TTL, Event

NAME = "eu_dcc"
CONTEXT = "HC1:"

# --- size caps: a real certificate is ~600 bytes of CBOR --------------------------------------
MAX_TEXT_CHARS = 8_000
MAX_INFLATED_BYTES = 64_000
KID_BYTES = 8
MAX_ISSUER_CHARS = 1000     # a StringOrURI (RFC 8392); Georgia writes an 80-character issuer

COSE_SIGN1_TAG = 18
CWT_TAG = 61
HEADER_ALG, HEADER_KID = 1, 4
CWT_ISS, CWT_EXP, CWT_IAT, CWT_HCERT = 1, 4, 6, -260
COSE_ALGORITHMS = {-7: "ES256", -37: "PS256"}

# Extended key usage OIDs of DCC signer certificates: test, vaccination, recovery.  The ".0."
# variants were issued by mistake early on and are accepted by every EU verifier.
KEY_USAGE_OIDS = {
    "1.3.6.1.4.1.1847.2021.1.1": "t", "1.3.6.1.4.1.0.1847.2021.1.1": "t",
    "1.3.6.1.4.1.1847.2021.1.2": "v", "1.3.6.1.4.1.0.1847.2021.1.2": "v",
    "1.3.6.1.4.1.1847.2021.1.3": "r", "1.3.6.1.4.1.0.1847.2021.1.3": "r",
}
ENTRY_NAMES = {"v": "vaccination", "t": "test", "r": "recovery"}

TEST_NOT_DETECTED = "260415000"
TEST_DETECTED = "260373001"

_CONTEXT_RE = re.compile(r"[A-Z]{2}[0-9]{1,2}:", re.ASCII)


# === QR text → bytes ===============================================================================
def looks_like_dcc(text: str) -> bool:
    """``HC<n>:`` — the EU context identifier; other versions are detected to be refused clearly."""
    return isinstance(text, str) and text[:2] == "HC" and bool(_CONTEXT_RE.match(text[:5]))


def unprefix(text: str) -> str:
    if not isinstance(text, str) or len(text) > MAX_TEXT_CHARS:
        raise CodeTooLarge(f"EU DCC text longer than {MAX_TEXT_CHARS} characters")
    if not text.startswith(CONTEXT):
        context = text.split(":", 1)[0][:5]
        raise ContextUnsupported(f"EU DCC context {context!r} is not supported (only HC1)")
    return text[len(CONTEXT):]


def base45_decode(text: str) -> bytes:
    try:
        return b45.b45decode(text)            # the package's rules, without its Python loop
    except (ValueError, KeyError, TypeError):
        raise Base45Invalid("EU DCC text is not valid Base45") from None


def decompress(data: bytes, limit: int = MAX_INFLATED_BYTES) -> bytes:
    """zlib (RFC 1950, with header) with an output cap; uncompressed data is refused."""
    return compression.inflate(data, limit, wbits=compression.ZLIB, error=CompressionInvalid,
                               what="EU DCC data")


def compress(data: bytes) -> bytes:
    return zlib.compress(data, 9)


# === COSE_Sign1 ===================================================================================
@dataclass(frozen=True)
class CoseSign1:
    protected_raw: bytes
    protected: dict
    unprotected: dict
    payload: bytes
    signature: bytes

    @property
    def kid(self) -> bytes | None:
        """The protected kid wins; the unprotected one counts only when none is protected.  A
        text kid (a Croatian test file writes the kid's hex as a CBOR text string) is read as
        its UTF-8 bytes, so only its hex spelling can ever name a signer (:func:`signers_for`)."""
        kid = self.protected.get(HEADER_KID)
        if kid is None:
            kid = self.unprotected.get(HEADER_KID)
        if isinstance(kid, str) and len(kid) <= 64:
            kid = kid.encode()
        return kid if isinstance(kid, bytes) else None

    @property
    def alg(self) -> str | None:
        """Protected alg, else unprotected (as EU verifiers accept).  An unprotected alg cannot
        widen anything: the signer key must still be of the algorithm's own kind."""
        alg = self.protected.get(HEADER_ALG, self.unprotected.get(HEADER_ALG))
        return COSE_ALGORITHMS.get(alg) if isinstance(alg, int) else None

    def signing_input(self) -> bytes:
        """Sig_structure (RFC 8152 §4.4) with empty external AAD."""
        return cbor2.dumps(["Signature1", self.protected_raw, b"", self.payload])


def _cbor(data: bytes, error, what: str):
    try:
        return cbor2.loads(data)
    except Exception:           # noqa: BLE001 — cbor2 raises many kinds on hostile input
        raise error(f"EU DCC {what} is not valid CBOR") from None


def cose_sign1(data: bytes) -> CoseSign1:
    """CBOR → COSE_Sign1: untagged, tag 18, or tag 61 (CWT) around tag 18."""
    value = _cbor(data, CoseInvalid, "data")
    if isinstance(value, cbor2.CBORTag) and value.tag == CWT_TAG:
        value = value.value
    if isinstance(value, cbor2.CBORTag):
        if value.tag != COSE_SIGN1_TAG:
            raise CoseInvalid(f"EU DCC data has CBOR tag {value.tag}, not COSE_Sign1 (18)")
        value = value.value
    if not isinstance(value, (list, tuple)) or len(value) != 4:
        raise CoseInvalid("EU DCC data is not a COSE_Sign1 array of four")
    protected_raw, unprotected, payload, signature = value
    if not all(isinstance(part, bytes) for part in (protected_raw, payload, signature)) \
            or not isinstance(unprotected, Mapping):
        raise CoseInvalid("EU DCC COSE_Sign1 members have the wrong types")
    protected = _cbor(protected_raw, CoseInvalid, "protected header") if protected_raw else {}
    if not isinstance(protected, Mapping):
        raise CoseInvalid("EU DCC protected header is not a map")
    return CoseSign1(protected_raw, dict(protected), dict(unprotected), payload, signature)


def encode_cose(payload: bytes, private_key, kid: bytes, alg: str = "ES256") -> bytes:
    """Sign a CWT the way issuers do (tests and tooling; the gateway does not issue DCCs)."""
    cose_alg = {v: k for k, v in COSE_ALGORITHMS.items()}[alg]
    protected_raw = cbor2.dumps({HEADER_ALG: cose_alg, HEADER_KID: kid})
    unsigned = CoseSign1(protected_raw, {}, {}, payload, b"")
    signature = jose.sign(alg, private_key, unsigned.signing_input())
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected_raw, {}, payload, signature]))


def qr_text(cose: bytes) -> str:
    return CONTEXT + base45.b45encode(compress(cose)).decode("ascii")


# === trusted signer certificates ==================================================================
@dataclass(frozen=True)
class SignerCertificate:
    kid: bytes
    public_key: object
    types: frozenset            # of "v", "t", "r"; every type when the certificate names none
    not_before: int
    not_after: int
    subject: str


def kid_of(der: bytes) -> bytes:
    return hashlib.sha256(der).digest()[:KID_BYTES]


EKU_OID = x509.oid.ExtensionOID.EXTENDED_KEY_USAGE.dotted_string


def _der_items(data: bytes):
    """(tag, content) of each DER TLV in ``data`` (definite lengths only)."""
    i = 0
    while i < len(data):
        tag, length = data[i], data[i + 1]
        i += 2
        if length & 0x80:
            count = length & 0x7F
            if not 0 < count <= 4:
                raise ValueError("unsupported DER length")
            length, i = int.from_bytes(data[i:i + count], "big"), i + count
        if i + length > len(data):
            raise ValueError("truncated DER")
        yield tag, data[i:i + length]
        i += length


def _oid(content: bytes) -> str:
    first, rest, value = content[0], [], 0
    for byte in content[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            rest.append(value)
            value = 0
    return ".".join(map(str, (first // 40, first % 40, *rest)))


def eku_oids_lenient(der: bytes) -> set[str]:
    """Extended key usage OIDs read straight from the DER.  Some national signer certificates
    break DER rules elsewhere (an encoded default ``cA FALSE``, an empty EKU sequence) that
    ``cryptography`` refuses to parse; their key usage still has to be honoured."""
    (_, certificate), = _der_items(der)
    tbs = next(_der_items(certificate))[1]
    for tag, content in _der_items(tbs):
        if tag != 0xA3:                                   # [3] extensions
            continue
        for _, extension in _der_items(next(_der_items(content))[1]):
            parts = list(_der_items(extension))
            if parts and parts[0][0] == 0x06 and _oid(parts[0][1]) == EKU_OID:
                (_, usages), = _der_items(parts[-1][1])
                return {_oid(oid) for tag, oid in _der_items(usages) if tag == 0x06}
    return set()


def key_usage_types(cert: x509.Certificate, der: bytes) -> frozenset:
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        oids = {o.dotted_string for o in eku}
    except x509.ExtensionNotFound:
        oids = set()
    except ValueError:
        oids = eku_oids_lenient(der)
    types = frozenset(KEY_USAGE_OIDS[o] for o in oids if o in KEY_USAGE_OIDS)
    return types or frozenset(ENTRY_NAMES)


def spki_key_lenient(der: bytes):
    """The certificate's EC key on a curve ``cryptography`` does not know but the EU reference
    verifier does (adapters/ec2m.py: c2tnb191v1), read from the SubjectPublicKeyInfo; None
    for anything else."""
    (_, certificate), = _der_items(der)
    for tag, content in _der_items(next(_der_items(certificate))[1]):
        parts = list(_der_items(content)) if tag == 0x30 else []
        if len(parts) == 2 and parts[0][0] == 0x30 and parts[1][0] == 0x03:
            algorithm = list(_der_items(parts[0][1]))
            if len(algorithm) == 2 and _oid(algorithm[0][1]) == ec2m.OID_EC_PUBLIC_KEY \
                    and algorithm[1][0] == 0x06 and _oid(algorithm[1][1]) in ec2m.CURVES:
                return ec2m.public_key(ec2m.CURVES[_oid(algorithm[1][1])], parts[1][1][1:])
    return None


def _certificate_key(cert: x509.Certificate, der: bytes):
    try:
        return cert.public_key()
    except Exception:           # noqa: BLE001 — "curve not supported" and kin
        key = spki_key_lenient(der)
        if key is None:
            raise
        return key


@lru_cache(maxsize=4096)
def signer_certificate(der_b64: str) -> SignerCertificate | None:
    """A trust anchor's certificate, parsed once; None when it is unusable (an unusable anchor
    simply trusts nothing)."""
    try:
        der = base64.b64decode(der_b64, validate=True)
        cert = x509.load_der_x509_certificate(der)
        return SignerCertificate(kid_of(der), _certificate_key(cert, der), key_usage_types(cert, der),
                                 int(cert.not_valid_before_utc.timestamp()),
                                 int(cert.not_valid_after_utc.timestamp()),
                                 cert.subject.rfc4514_string()[:200])
    except Exception:           # noqa: BLE001 — a broken anchor must not break verification
        return None


def signers_by_kid(anchors) -> dict[bytes, list[SignerCertificate]]:
    """DCC kid → the usable signer certificates among the x509 anchors."""
    index: dict[bytes, list] = {}
    for anchor in anchors:
        der_b64 = anchor.get("der_b64") if isinstance(anchor, dict) else None
        cert = signer_certificate(der_b64) if isinstance(der_b64, str) else None
        if cert is not None:
            index.setdefault(cert.kid, []).append(cert)
    return index


_HEX_KID = re.compile(rb"[0-9A-Fa-f]{%d}" % (2 * KID_BYTES))


def signers_for(signers: dict, kid: bytes | None) -> list[SignerCertificate]:
    """The trusted certificates of this kid.  The kid must be the hcert one (SHA-256 of the
    DSC, first 8 bytes): a certificate that would verify the signature but has another kid is
    not tried — dgc-testdata's common CO22/CO23 expect exactly that refusal.  The one other
    spelling read is that kid as its 16 hex characters (early Greek and Croatian issuers wrote
    it so): it names the same DSC, whose key still has to verify the signature."""
    if not kid:
        raise UnknownKey("EU DCC has no key id (kid)")
    found = signers.get(kid)
    if not found and _HEX_KID.fullmatch(kid):
        found = signers.get(bytes.fromhex(kid.decode()))
    if not found:
        raise UnknownKey(f"EU DCC signer {base64.b64encode(kid[:16]).decode()} is not a trusted "
                         "Document Signer Certificate")
    return found


_ECDSA_SHA256 = ECAlgorithm(ECAlgorithm.SHA256)      # PyJWT's ECDSA, no curve pinned (see below)


def cose_key_fits(alg: str, key) -> bool:
    """ES256 on a trusted EC key of any curve (ECDSA with SHA-256, as the EU reference verifier's
    ``SHA256withECDSA`` checks it: Spanish DSCs on P-384, Slovenian test ones on P-192), PS256 on
    RSA.  The kind still has to match — an RSA key never checks ES256, an EC key never PS256."""
    if alg == "ES256":
        return isinstance(key, (ec.EllipticCurvePublicKey, ec2m.PublicKey))
    return jose.key_fits(alg, key)


def cose_verify(alg: str, key, message: bytes, signature: bytes) -> bool:
    """A COSE signature (ECDSA as r‖s of the key's curve size) by ``key`` under ``alg``; never
    raises.  P-256 and RSA go through :func:`jose.verify`; another curve's r‖s — each half the
    curve's size, or ES256's 32 bytes (a P-192 key's halves zero-padded, as Slovenian test files
    sign) — is split in halves and checked with SHA-256; any other length is simply invalid."""
    if not cose_key_fits(alg, key) or not isinstance(signature, bytes):
        return False
    if alg != "ES256" or isinstance(key.curve, ec.SECP256R1):
        return jose.verify(alg, key, message, signature)
    size = (key.key_size + 7) // 8
    if len(signature) not in (2 * size, 64):
        return False
    half = len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    if isinstance(key, ec2m.PublicKey):
        return ec2m.verify_sha256(key, message, r, s)
    if max(r, s).bit_length() > 8 * size:
        return False
    return _ECDSA_SHA256.verify(message, key, r.to_bytes(size, "big") + s.to_bytes(size, "big"))


def verify_signature(cose: CoseSign1, signers: dict) -> SignerCertificate:
    """The trusted certificate whose key made this signature, under the header's algorithm
    only if that key is of the algorithm's kind (an RSA key never checks an ECDSA signature)."""
    alg = cose.alg
    if alg is None:
        raise AlgorithmNotAllowed("EU DCC algorithm is missing or not accepted (ES256 or PS256 only)")
    candidates = signers_for(signers, cose.kid)
    message = cose.signing_input()
    for cert in candidates:
        if cose_verify(alg, cert.public_key, message, cose.signature):
            return cert
    if not any(cose_key_fits(alg, cert.public_key) for cert in candidates):
        raise AlgorithmNotAllowed(f"EU DCC signer key cannot sign {alg}")
    raise SignatureInvalid("EU DCC signature does not verify")


# === CWT and the DCC ==============================================================================
@dataclass(frozen=True)
class Cwt:
    iss: str | None
    iat: int | None
    exp: int | None
    dcc: dict


def _numeric_date(value, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value < 10**11:
        raise CwtInvalid(f"EU DCC CWT {name} is not a NumericDate")
    return int(value)


def _json_safe(value, depth: int = 0):
    """CBOR → JSON data for schema validation: maps need text keys; bytes, tags, floats that
    are not finite and undefined values are refused (the DCC is JSON by definition)."""
    if depth > 8:
        raise CwtInvalid("EU DCC health certificate is nested too deeply")
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:     # most leaves: no ABC check
        return value
    if kind is dict or isinstance(value, Mapping):           # cbor2 gives dicts: no ABC check
        if not all(type(k) is str or isinstance(k, str) for k in value):
            raise CwtInvalid("EU DCC health certificate has a non-text key")
        # null members are absent (some issuers write "t": null beside "v")
        return {k: _json_safe(v, depth + 1) for k, v in value.items() if v is not None}
    if kind is list or isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, datetime):             # CBOR tag 0/1 (seen in Swedish certificates)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):                 # CBOR tag 1004/100 (RFC 8943 full-date)
        return value.isoformat()
    raise CwtInvalid(f"EU DCC health certificate holds a CBOR {type(value).__name__}")


def read_cwt(payload: bytes) -> Cwt:
    claims = _cbor(payload, CwtInvalid, "CWT payload")
    if not isinstance(claims, Mapping):
        raise CwtInvalid("EU DCC CWT payload is not a map")
    iss = claims.get(CWT_ISS)
    if iss is not None and (not isinstance(iss, str) or len(iss) > MAX_ISSUER_CHARS):
        raise CwtInvalid(f"EU DCC CWT issuer is not text of at most {MAX_ISSUER_CHARS} characters")
    hcert = claims.get(CWT_HCERT)
    dcc = hcert.get(1) if isinstance(hcert, Mapping) else None
    if not isinstance(dcc, Mapping):
        raise CwtInvalid("EU DCC CWT has no health certificate (claim -260, member 1)")
    return Cwt(iss, _numeric_date(claims.get(CWT_IAT), "iat"),
               _numeric_date(claims.get(CWT_EXP), "exp"), _json_safe(dcc))


def validate_dcc(dcc: dict) -> str:
    """Schema check under the declared version (:mod:`.dcc_schema`); the one entry type present
    (``v``, ``t`` or ``r``)."""
    return dcc_schema.validate(dcc)[0]


def _entry_time(kind: str, entry: dict) -> int:
    return _date(entry.get({"v": "dt", "t": "sc", "r": "df"}[kind])) or 0


def primary_entry(dcc: dict, kind: str) -> dict:
    """The entry a verdict describes: the latest one (a 1.0–1.2 certificate may list several
    vaccinations; 1.3 allows one)."""
    return max(dcc[kind], key=lambda entry: _entry_time(kind, entry))


def check_certificate_validity(cert: SignerCertificate, now: int) -> None:
    if not cert.not_before - CLOCK_SKEW <= now <= cert.not_after + CLOCK_SKEW:
        raise CertificateInvalid(f"the signer certificate is valid only from {standard.rfc3339(cert.not_before)}"
                                 f" to {standard.rfc3339(cert.not_after)}")


def check_key_usage(cert: SignerCertificate, kind: str) -> None:
    if kind not in cert.types:
        allowed = ", ".join(ENTRY_NAMES[t] for t in sorted(cert.types))
        raise KeyUsageMismatch(f"the signer certificate may sign {allowed} certificates, "
                               f"not a {ENTRY_NAMES[kind]} certificate")


# === DCC → events =================================================================================
def _date(value) -> int | None:
    """ISO date or date-time → epoch seconds (dates at 00:00 UTC); None if unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        if len(value) == 10:
            day = date.fromisoformat(value)
            return int(datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp())
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())
    except (ValueError, OverflowError):
        return None


def event_of(kind: str, entry: dict) -> Event | None:
    """The one entry of a DCC as a foreign_rules event; None when its dates are unreadable
    (such an entry never makes anyone green)."""
    if kind == "v":
        at = _date(entry.get("dt"))
        return None if at is None else Event("vaccination", at, complete=entry["dn"] >= entry["sd"])
    if kind == "t":
        at = _date(entry.get("sc"))
        result = {TEST_NOT_DETECTED: "negative", TEST_DETECTED: "positive"}.get(entry.get("tr"))
        return None if at is None or result is None else Event("test", at, result=result)
    valid_from, until = _date(entry.get("df")), _date(entry.get("du"))
    if valid_from is None or until is None:
        return None
    return Event("recovery", _date(entry.get("fr")) or valid_from, valid_from=valid_from,
                 valid_until=until + 86399)          # "valid until" a date: the whole day


def holder_name(dcc: dict) -> str:
    """"Given Family" as printed, else the ICAO transliteration."""
    nam = dcc.get("nam") or {}
    given = nam.get("gn") or (nam.get("gnt") or "").replace("<", " ")
    family = nam.get("fn") or (nam.get("fnt") or "").replace("<", " ")
    return " ".join(f"{given} {family}".split())


def transliterated_name(dcc: dict) -> str:
    """"FAMILY, GIVEN" in ICAO 9303 letters (``fnt``/``gnt``), as EU verifier apps show it."""
    nam = dcc.get("nam") or {}
    family, given = (str(nam.get(k) or "").replace("<", " ").strip() for k in ("fnt", "gnt"))
    return ", ".join(p for p in (family, given) if p) or holder_name(dcc)


def country(cwt: Cwt, entry: dict) -> str:
    """ISO 3166-1 alpha-2 of the issuing country: the CWT issuer, else the entry's country."""
    for value in (cwt.iss, entry.get("co")):
        if isinstance(value, str) and re.fullmatch(r"[A-Z]{2}", value, re.ASCII):
            return value
    return "EU"


def to_claims(cwt: Cwt, kind: str, status: str, reasons: list, valid_until: int | None, now: int,
              ttl: int = DEFAULT_VERDICT_TTL) -> dict:
    entry, nam = primary_entry(cwt.dcc, kind), cwt.dcc["nam"]
    return foreign_rules.national_claims(
        region=country(cwt, entry), sub=subject_id(nam.get("fnt"), nam.get("gnt"), cwt.dcc["dob"]),
        jti=DccAdapter.code_id_for(entry["ci"]), issued=cwt.iat if cwt.iat is not None else now,
        expires=cwt.exp, valid_until=valid_until, status=status, reasons=reasons,
        name=holder_name(cwt.dcc), now=now, ttl=ttl)


def subject_id(fnt, gnt, dob) -> str:
    return foreign_rules.digest_id(f"dcc:{fnt}|{gnt}|{dob}", 24)


# === the adapter ==================================================================================
class DccAdapter:
    """Options (``[format.eu_dcc]``): ``rules`` (foreign_rules), ``verdict_ttl`` (seconds),
    ``country_of_arrival`` (whose imported EU business rules decide; dcc_business_rules)."""

    name = NAME

    def __init__(self, options: dict | None = None):
        options = dict(options or {})
        self.rules = dict(options.get("rules") or {})
        self.ttl = int(options.get("verdict_ttl") or DEFAULT_VERDICT_TTL)
        self.country_of_arrival = options.get("country_of_arrival")

    def detect(self, text: str) -> bool:
        return looks_like_dcc(text)

    @staticmethod
    def code_id_for(uvci: str) -> str:
        """The verdict's ``code_id`` for a certificate identifier (UVCI): what a data manager
        revokes, without the UVCI itself ever being stored."""
        return foreign_rules.digest_id(f"dcc:{uvci.strip()}", 22)

    def verify(self, text: str, trust, now: int) -> Verified:
        try:
            return self._verify(text, trust, now)
        except HealthCodeError:
            raise
        except Exception as exc:        # noqa: BLE001 — a decoder bug must read as "malformed"
            raise CwtInvalid(f"EU DCC could not be decoded ({exc.__class__.__name__})") from None

    def _verify(self, text: str, trust, now: int) -> Verified:
        cose = cose_sign1(decompress(base45_decode(unprefix(text))))
        cert = verify_signature(cose, trust.anchor_index("x509", signers_by_kid))   # before decoding content
        cwt = read_cwt(cose.payload)
        check_validity(cwt.iat, cwt.exp, now)
        check_certificate_validity(cert, now)
        kind = validate_dcc(cwt.dcc)
        check_key_usage(cert, kind)
        revocation_lists.refuse_revoked_dcc(trust, cert.kid, cwt.iss, [e.get("ci") for e in cwt.dcc[kind]],
                                            cose.signature, cose.alg)
        entry = primary_entry(cwt.dcc, kind)
        events = [e for e in (event_of(kind, item) for item in cwt.dcc[kind]) if e is not None]
        decided = dcc_business_rules.decide(trust, self.country_of_arrival, cwt.dcc, kind, country(cwt, entry),
                                            cwt.iat, cwt.exp, events, now, self.rules)
        status, reasons, valid_until = decided[:3] if decided else foreign_rules.evaluate(events, self.rules, now)
        claims = standard.validate_claims(to_claims(cwt, kind, status, reasons, valid_until, now, self.ttl))
        extra = {"issuer": cwt.iss or claims["region"], "certificate_type": ENTRY_NAMES[kind],
                 "signer": cert.subject, "schema_version": cwt.dcc.get("ver")}
        if cwt.exp is not None:
            extra["certificate_expires_at"] = standard.rfc3339(cwt.exp)
        if decided:
            extra["business_rules"] = decided[3]
        if kind == "v":
            extra["dose"] = f"{entry['dn']}/{entry['sd']}"
        extra["holder"] = foreign_rules.foreign_holder(transliterated_name(cwt.dcc), cwt.dcc.get("dob"))
        return Verified(NAME, claims, kid=base64.b64encode(cert.kid).decode(), extra=extra)


def make(options: dict | None = None) -> DccAdapter:
    return DccAdapter(options)


ADAPTER = make({})
