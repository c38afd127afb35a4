"""Stage 2, the signer: Document Signer Certificates found by kid, their key usage and
dates, and the COSE signature under the algorithm the header names (ES256 on any EC curve, PS256)."""
from __future__ import annotations

from typing import Any, Iterable, Iterator
import base64
import hashlib
import re
from dataclasses import dataclass
from functools import lru_cache

from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from standard import jose
from standard.errors import AlgorithmNotAllowed, SignatureInvalid, UnknownKey
from adapters.eu_dcc import ec2m
from adapters.eu_dcc.decode import CoseSign1, ENTRY_NAMES, KEY_USAGE_OIDS, KID_BYTES


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


def _der_items(data: bytes) -> Iterator[tuple[int, bytes]]:
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


def spki_key_lenient(der: bytes) -> ec2m.PublicKey | None:
    """The certificate's EC key on a curve ``cryptography`` does not know but the EU reference
    verifier does (adapters/eu_dcc/ec2m.py: c2tnb191v1), read from the SubjectPublicKeyInfo; None
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


def _certificate_key(cert: x509.Certificate, der: bytes) -> object:
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


def signers_by_kid(anchors: Iterable[object]) -> dict[bytes, list[SignerCertificate]]:
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


def cose_key_fits(alg: str, key: object) -> bool:
    """ES256 on a trusted EC key of any curve (ECDSA with SHA-256, as the EU reference verifier's
    ``SHA256withECDSA`` checks it: Spanish DSCs on P-384, Slovenian test ones on P-192), PS256 on
    RSA.  The kind still has to match — an RSA key never checks ES256, an EC key never PS256."""
    if alg == "ES256":
        return isinstance(key, (ec.EllipticCurvePublicKey, ec2m.PublicKey))
    return jose.key_fits(alg, key)


def cose_verify(alg: str, key: Any, message: bytes, signature: bytes) -> bool:
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


