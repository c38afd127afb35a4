"""Stage 1, QR text to COSE_Sign1: the HC1 context, Base45, zlib and the COSE structure
(and their inverse, which makes test certificates).  Pure functions; each refuses with its stage's
error code."""
from __future__ import annotations

from typing import Any
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass

import base45
import cbor2

from standard import jose
from standard.errors import Base45Invalid, CodeTooLarge, CompressionInvalid, ContextUnsupported, CoseInvalid, HealthCodeError
from adapters import compression
from adapters.eu_dcc import b45

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


def _kept_as_tag(tag: int) -> Any:
    def keep(_decoder: object, value: object) -> cbor2.CBORTag:
        return cbor2.CBORTag(tag, value)
    return keep


# cbor2 gives some tags a Python meaning as it decodes them, and some of those meanings cost far
# more than their bytes: a regular expression (tag 35) is compiled — 300 characters of QR, a
# 55 KB pattern of character ranges once inflated, took 9 s of CPU —, a decimal fraction or
# bigfloat (4, 5) of a 60 KB bignum 0.3 s, a rational (30) a gcd, a MIME message (36) a parse.
# All of it happened before the signature was checked, for anyone.  Nothing of a DCC is one of
# them: here they stay inert tags (the COSE structure's checks refuse them where a value is read;
# a signed CWT payload refuses them, certificate._REFUSED_TAGS).  ~0.15 µs a decode of tagged data.
# A map with a key twice is not valid CBOR (RFC 8949 §5.6): cbor2 kept the last, another verifier may
# keep the first and read another certificate from the same signed bytes, so it is refused.
COSTLY_TAGS = (4, 5, 30, 35, 36)
_INERT_TAGS = {tag: _kept_as_tag(tag) for tag in COSTLY_TAGS}


def _cbor(data: bytes, error: type[HealthCodeError], what: str, tags: dict | None = None) -> Any:
    """``data`` decoded with ``tags`` (tag → decoder; default: the costly ones kept inert); a
    refusal a tag's decoder raises stands, anything else cbor2 refuses is ``error``."""
    try:
        return cbor2.loads(data, semantic_decoders=_INERT_TAGS if tags is None else tags, allow_duplicate_keys=False)
    except Exception as exc:    # noqa: BLE001 — cbor2 raises many kinds on hostile input
        if isinstance(exc.__cause__, HealthCodeError):
            raise exc.__cause__ from None
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
    if not (isinstance(protected_raw, bytes) and isinstance(payload, bytes) and isinstance(signature, bytes)) \
            or not (type(unprotected) is dict or isinstance(unprotected, Mapping)):
        raise CoseInvalid("EU DCC COSE_Sign1 members have the wrong types")
    protected = _cbor(protected_raw, CoseInvalid, "protected header") if protected_raw else {}
    if not (type(protected) is dict or isinstance(protected, Mapping)):
        raise CoseInvalid("EU DCC protected header is not a map")
    return CoseSign1(protected_raw, dict(protected), dict(unprotected), payload, signature)


def encode_cose(payload: bytes, private_key: object, kid: bytes, alg: str = "ES256") -> bytes:
    """Sign a CWT the way issuers do (tests and tooling; the gateway does not issue DCCs)."""
    cose_alg = {v: k for k, v in COSE_ALGORITHMS.items()}[alg]
    protected_raw = cbor2.dumps({HEADER_ALG: cose_alg, HEADER_KID: kid})
    unsigned = CoseSign1(protected_raw, {}, {}, payload, b"")
    signature = jose.sign(alg, private_key, unsigned.signing_input())
    return cbor2.dumps(cbor2.CBORTag(COSE_SIGN1_TAG, [protected_raw, {}, payload, signature]))


def qr_text(cose: bytes) -> str:
    return CONTEXT + base45.b45encode(compress(cose)).decode("ascii")
