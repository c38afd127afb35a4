"""The JOSE profile of the standard (§4.1) on PyJWT: keys, JWKs, signatures and compact JWS.

PyJWT does the cryptographic work — its algorithm objects sign and verify, its JWK code imports
and exports keys, ``PyJWS`` assembles tokens.  This module adds the project's strict policy
around it, because a verifier that lets a token choose how it is checked can be talked into
anything:

* exactly four algorithms exist (ES256 on P-256, EdDSA on Ed25519, SM2SM3 — SM2 with SM3,
  :mod:`standard.sm2` — and PS256 with RSA ≥ 2048);
  a key is only ever used under the algorithm it was registered for, and only if it really is
  of that algorithm's kind (no HMAC with a public key, no ECDSA on another curve);
* the verifier looks the key up by ``kid`` in *its own* trust list; ``jku``, ``x5u``, ``jwk``,
  ``x5c`` and ``crit`` are refused outright;
* base64url is strict (no padding, canonical: :mod:`standard.b64url`), tokens are size-capped;
* ECDSA signatures we make are low-S, and codes of the standard must be low-S (one code, one
  encoding: a high-S twin of a valid code is refused).

A signing key is either a private key in memory (a key file) or a :class:`HeldKey` — a key held
where it cannot be read out (a PKCS#11 token: issuers/token_custody.py), which signs on request.
Both sign through the same PyJWT algorithm objects; verification only ever uses public keys.

Parsing is separate from verification so a caller can find the key first; both are pure.
"""
from __future__ import annotations

import abc
import hashlib
import json
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Collection, Mapping, Protocol, Union

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, RSAPSSAlgorithm
from jwt.api_jws import PyJWS
from jwt.exceptions import InvalidKeyError, PyJWTError

from standard import jsontext, sm2
from standard.b64url import b64url_decode, b64url_encode  # noqa: F401 — part of this module's API
from standard.errors import AlgorithmNotAllowed, Malformed, SignatureInvalid

ALGORITHMS = ("ES256", "EdDSA", sm2.NAME, "PS256")
NATIONAL_ALGORITHMS = ("ES256", "EdDSA", sm2.NAME)        # §4.1: PS256 only for foreign formats
MIN_RSA_BITS = 2048
P256_ORDER = 0xFFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551
FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
MAX_TOKEN_CHARS = 12_000
MAX_KID_CHARS = 128

# The key kinds the profile signs and verifies with (key_fits says which algorithm each is for).
PrivateKey = Union[ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey, sm2.PrivateKey]
PublicKey = Union[ec.EllipticCurvePublicKey, ed25519.Ed25519PublicKey, rsa.RSAPublicKey, sm2.PublicKey]
PRIVATE_KEY_TYPES = (ec.EllipticCurvePrivateKey, ed25519.Ed25519PrivateKey, rsa.RSAPrivateKey, sm2.PrivateKey)


class HeldKey(abc.ABC):
    """A private key that never leaves where it is held: it shows its public key and signs on
    request.  ``sign_raw`` returns the raw JOSE signature under the key's one algorithm (ES256:
    r‖s over the SHA-256 digest, as PKCS#11's CKM_ECDSA gives it; EdDSA: the 64-byte Ed25519
    signature of the message)."""

    @abc.abstractmethod
    def public_key(self) -> PublicKey: ...

    @abc.abstractmethod
    def sign_raw(self, message: bytes) -> bytes: ...


class SigningKey(Protocol):
    """A private key (in memory, or a :class:`HeldKey`) with the ``kid`` and ``alg`` it was
    registered under (issuers.keys.Signer)."""

    @property
    def alg(self) -> str: ...

    @property
    def kid(self) -> str: ...

    @property
    def private_key(self) -> object: ...


# --- algorithm objects ------------------------------------------------------------------------
class LowSES256(ECAlgorithm):
    """PyJWT's ES256, signing low-S (s ≤ n/2), so each code has exactly one valid encoding; a
    :class:`HeldKey` signs in its token and its signature is brought to low-S here the same way."""

    def __init__(self) -> None:
        super().__init__(ECAlgorithm.SHA256, ec.SECP256R1)

    def prepare_key(self, key: Any) -> Any:
        return key if isinstance(key, HeldKey) else super().prepare_key(key)

    def sign(self, msg: bytes, key: Any) -> bytes:
        raw = key.sign_raw(msg) if isinstance(key, HeldKey) else super().sign(msg, key)
        if len(raw) != 64:
            raise ValueError("an ES256 signature is 64 bytes (r‖s)")
        s = int.from_bytes(raw[32:], "big")
        return raw if s <= P256_ORDER // 2 else raw[:32] + (P256_ORDER - s).to_bytes(32, "big")


class HeldKeyEdDSA(OKPAlgorithm):
    """PyJWT's EdDSA, which also signs with a :class:`HeldKey` (in its token)."""

    def prepare_key(self, key: Any) -> Any:
        return key if isinstance(key, HeldKey) else super().prepare_key(key)

    def sign(self, msg: bytes | str, key: Any) -> bytes:
        if isinstance(key, HeldKey):
            raw = key.sign_raw(msg if isinstance(msg, bytes) else msg.encode("utf-8"))
            if len(raw) != 64:
                raise ValueError("an Ed25519 signature is 64 bytes")
            return raw
        return super().sign(msg, key)


_ALGORITHM_OBJECTS = {
    "ES256": LowSES256(),
    "EdDSA": HeldKeyEdDSA(),
    sm2.NAME: sm2.SM2SM3Algorithm(),
    "PS256": RSAPSSAlgorithm(RSAPSSAlgorithm.SHA256),
}
_JWS = PyJWS(algorithms=[])
for _name, _obj in _ALGORITHM_OBJECTS.items():
    _JWS.register_algorithm(_name, _obj)


def is_high_s(signature: bytes) -> bool:
    """Is this raw r‖s ECDSA P-256 signature the high-S twin (s > n/2)?"""
    return len(signature) == 64 and int.from_bytes(signature[32:], "big") > P256_ORDER // 2


# --- keys -------------------------------------------------------------------------------------
def generate_private_key(alg: str) -> PrivateKey:
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == sm2.NAME:
        return sm2.generate_private_key()
    if alg == "PS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported algorithm {alg}")


def private_key_to_pem(key: PrivateKeyTypes | sm2.PrivateKey) -> bytes:
    """PKCS#8 PEM, unencrypted (the key files are 0600 in the data directory)."""
    if sm2.is_key(key):
        return sm2.private_key_to_pem(key)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def private_key_from_pem(data: bytes) -> PrivateKeyTypes | sm2.PrivateKey:
    """The key of a PKCS#8 PEM file: cryptography's kinds, or SM2 (a curve only Tongsuo knows)."""
    try:
        return serialization.load_pem_private_key(data, password=None)
    except UnsupportedAlgorithm:
        return sm2.private_key_from_pem(data)


def key_fits(alg: str, key: object) -> bool:
    """Is ``key`` (public, private or held) of the one kind ``alg`` is defined for?"""
    if isinstance(key, HeldKey):
        key = key.public_key()
    if alg == "ES256":
        return isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)) \
            and isinstance(key.curve, ec.SECP256R1)
    if alg == "EdDSA":
        return isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey))
    if alg == sm2.NAME:
        return sm2.is_key(key)
    if alg == "PS256":
        return isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) and key.key_size >= MIN_RSA_BITS
    return False


def alg_for_key(key: object) -> str:
    for alg in ALGORITHMS:
        if key_fits(alg, key):
            return alg
    raise ValueError("no supported algorithm for this key")


_JWK_MEMBERS = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
_LOADERS: dict[tuple[str, str | None], Any] = {("EC", "P-256"): ECAlgorithm, ("EC", sm2.CURVE): sm2.SM2SM3Algorithm,
                                               ("OKP", "Ed25519"): OKPAlgorithm, ("RSA", None): RSAAlgorithm}


def public_jwk(key: object) -> dict:
    """Public JWK members only (RFC 7517), exported by PyJWT."""
    if isinstance(key, (*PRIVATE_KEY_TYPES, HeldKey)):
        key = key.public_key()
    jwk = _ALGORITHM_OBJECTS[alg_for_key(key)].to_jwk(key, as_dict=True)
    return {k: jwk[k] for k in _JWK_MEMBERS[jwk["kty"]]}


def public_key_from_jwk(jwk: dict) -> Any:
    """A public key from a JWK, imported by PyJWT — after refusing private members, curves and
    key types the standard does not use, and short RSA keys."""
    if not isinstance(jwk, dict):
        raise Malformed("JWK must be an object")
    if any(member in jwk for member in ("d", "p", "q", "dp", "dq", "qi", "k")):
        raise Malformed("JWK carries private key material")
    kty, crv = jwk.get("kty"), jwk.get("crv")
    if not isinstance(kty, str) or not isinstance(crv, (str, type(None))):
        raise Malformed("JWK kty and crv must be text")
    loader = _LOADERS.get((kty, None if kty == "RSA" else crv))
    if loader is None:
        raise Malformed(f"unsupported JWK type {str(kty)[:10]!r}/{str(jwk.get('crv'))[:10]!r}")
    members = _JWK_MEMBERS[kty]
    if not all(isinstance(jwk.get(m), str) for m in members):
        raise Malformed("bad JWK: a member is missing or not text")
    for member in members:
        if member not in ("kty", "crv"):
            b64url_decode(jwk[member])                      # strict, as for tokens
    try:
        key = loader.from_jwk({m: jwk[m] for m in members})
    except (InvalidKeyError, ValueError, TypeError, KeyError) as exc:
        raise Malformed(f"bad JWK: {exc.__class__.__name__}") from None
    if kty == "RSA" and key.key_size < MIN_RSA_BITS:
        raise Malformed("RSA key too short")
    return key


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) — what SMART Health Cards use as ``kid``.
    (PyJWT has no thumbprint function.)"""
    members = {k: jwk[k] for k in _JWK_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def short_kid(jwk: dict) -> str:
    """Our own key ids: 16 characters of the thumbprint keep QR codes small and stay unique."""
    return thumbprint(jwk)[:16]


# --- raw signatures ---------------------------------------------------------------------------
def sign(alg: str, private_key: object, message: bytes) -> bytes:
    """A raw JOSE signature (ECDSA and SM2 as r‖s, ECDSA low-S) by PyJWT's algorithm object."""
    if alg not in _ALGORITHM_OBJECTS or not key_fits(alg, private_key):
        raise ValueError(f"key does not fit {alg}")
    return _ALGORITHM_OBJECTS[alg].sign(message, private_key)


def verify(alg: str, public_key: object, message: bytes, signature: bytes, *, low_s: bool = False) -> bool:
    """True only for a valid signature by ``public_key`` under exactly ``alg``; never raises.
    ``low_s`` refuses the high-S twin of an ECDSA signature (everything this project signs)."""
    if alg not in _ALGORITHM_OBJECTS or not key_fits(alg, public_key) or not isinstance(signature, bytes):
        return False
    if low_s and alg == "ES256" and is_high_s(signature):
        return False
    try:
        return _ALGORITHM_OBJECTS[alg].verify(message, public_key, signature)
    except (ValueError, OverflowError, PyJWTError):
        return False


# --- compact JWS ------------------------------------------------------------------------------
@dataclass(frozen=True)
class ParsedJws:
    header: Mapping[str, Any]           # read-only: parsed headers are shared (_HEADERS)
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return self.header.get("alg", "")

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")

    @property
    def typ(self) -> str | None:
        return self.header.get("typ")


def parse(token: str, max_chars: int = MAX_TOKEN_CHARS) -> ParsedJws:
    """Split and decode under the strict policy; nothing is verified yet."""
    return ParsedJws(*split(token, max_chars))


def split(token: str, max_chars: int = MAX_TOKEN_CHARS) -> tuple[Mapping[str, Any], bytes, bytes, bytes]:
    """:func:`parse`'s answer as a plain tuple (header, payload, signing input, signature), for
    the verify hot path; the same checks, in the same order, with the same errors."""
    if not isinstance(token, str) or len(token) > max_chars:
        raise Malformed("JWS too large or not text")
    parts = token.split(".")
    if len(parts) != 3:
        raise Malformed("JWS must have three dot-separated parts")
    header_b64, payload_b64, sig_b64 = parts
    header = _HEADERS.get(header_b64)
    if header is None:
        header = _parse_header(header_b64)
        if len(_HEADERS) >= MAX_CACHED_HEADERS:
            _HEADERS.clear()
        _HEADERS[header_b64] = header
    payload = b64url_decode(payload_b64)
    # the payload decoded, so both parts are ASCII: the signing input is the token up to its last dot
    return header, payload, token[:len(header_b64) + len(payload_b64) + 1].encode("ascii"), b64url_decode(sig_b64)


# A region signs every code with the same few headers ({"alg", "kid", "typ"}), so the decoded,
# policy-checked header of each exact header text is kept: parsing is a pure function of that
# text, and only headers that passed every check below are cached.  Bounded; never mutated.
MAX_CACHED_HEADERS = 512
_HEADERS: dict[str, MappingProxyType] = {}


def _parse_header(header_b64: str) -> MappingProxyType:
    try:
        header = json.loads(b64url_decode(header_b64))
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Malformed("JWS header is not JSON") from None
    if not isinstance(header, dict):
        raise Malformed("JWS header must be a JSON object")
    bad = FORBIDDEN_HEADERS.intersection(header)
    if bad:
        raise Malformed(f"JWS header member not accepted: {sorted(bad)[0]}")
    if not isinstance(header.get("alg"), str):
        raise Malformed("JWS header has no alg")
    if header["alg"] not in ALGORITHMS:
        raise AlgorithmNotAllowed(f"algorithm {header['alg'][:20]!r} is not accepted")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= MAX_KID_CHARS):
        raise Malformed("JWS kid must be a short string")
    return MappingProxyType(header)


def check_signature(parsed: ParsedJws, public_key: object, allowed_algs: Collection[str], *, low_s: bool = False) -> None:
    """Verify under the algorithm the *key's owner* registered, never the header's whim."""
    if parsed.alg not in allowed_algs:
        raise AlgorithmNotAllowed(f"algorithm {parsed.alg} is not registered for this key")
    if low_s and parsed.alg == "ES256" and is_high_s(parsed.signature):
        raise SignatureInvalid("signature is not in low-S form (a re-encoded copy of a code)")
    if not verify(parsed.alg, public_key, parsed.signing_input, parsed.signature):
        raise SignatureInvalid("signature does not verify")


class KeyCheck:
    """:func:`check_signature` for one key, decided once (a trust list holds one per key): the
    PyJWT algorithm object's ``verify`` of each algorithm in ``allowed`` — or None where the key is
    not of that algorithm's kind — so a code pays for the check itself, not for choosing it.  The
    same refusals, in the same order, with the same messages as :func:`check_signature`."""

    __slots__ = ("public_key", "low_s", "_verifiers")

    def __init__(self, public_key: object, allowed_algs: Collection[str], *, low_s: bool = False) -> None:
        self.public_key = public_key
        self.low_s = low_s
        self._verifiers = {alg: (_ALGORITHM_OBJECTS[alg].verify
                                 if alg in _ALGORITHM_OBJECTS and key_fits(alg, public_key) else None)
                           for alg in allowed_algs}

    def __call__(self, alg: str, signing_input: bytes, signature: bytes) -> None:
        """Raise unless ``signature`` over ``signing_input`` verifies under ``alg`` (the header's,
        which must be one the key's owner registered)."""
        try:
            verify = self._verifiers[alg]
        except KeyError:
            raise AlgorithmNotAllowed(f"algorithm {alg} is not registered for this key") from None
        if self.low_s and alg == "ES256" and len(signature) == 64 and signature[32:] > _HALF_ORDER:
            raise SignatureInvalid("signature is not in low-S form (a re-encoded copy of a code)")
        try:
            valid = verify is not None and type(signature) is bytes and verify(signing_input, self.public_key, signature)
        except (ValueError, OverflowError, PyJWTError):
            valid = False
        if not valid:
            raise SignatureInvalid("signature does not verify")


_HALF_ORDER = (P256_ORDER // 2).to_bytes(32, "big")     # s above this (big-endian, 32 bytes) is high-S


def encode(payload: bytes, header: dict, private_key: object) -> str:
    """A compact JWS made by PyJWT's ``PyJWS.encode`` with our algorithm objects."""
    alg = header["alg"]
    if not key_fits(alg, private_key) or not isinstance(private_key, (*PRIVATE_KEY_TYPES, HeldKey)):
        raise ValueError(f"key does not fit {alg}")
    extra = {"typ": None, **{k: v for k, v in header.items() if k != "alg"}}    # no default typ
    # a HeldKey passes through PyJWT to our algorithm objects' prepare_key and sign (above)
    key: Any = private_key
    return _JWS.encode(payload, key, algorithm=alg, headers=extra, sort_headers=False)


def json_payload(parsed: ParsedJws) -> dict:
    return json_object(parsed.payload)


def json_object(payload: bytes) -> dict:
    """A JWS payload that must be a JSON object (Malformed otherwise)."""
    try:
        data, unicode = jsontext.loads_unicode(payload)       # json.loads's answer, orjson's speed
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise Malformed("payload is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("payload must be a JSON object")
    if not unicode and jsontext.holds_lone_surrogate(data):    # json read it: "\ud800" is not text
        raise Malformed("payload holds a lone surrogate escape (\\ud800-\\udfff): not Unicode text")
    return data
