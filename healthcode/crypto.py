"""Signature primitives in their JOSE/COSE wire form, with no algorithm negotiation.

Every signature check in the project goes through :func:`verify`.  It never raises for a bad
signature (only ``False``), accepts only the algorithms listed in :data:`ALGORITHMS`, and checks that
the key really is of the kind the algorithm needs, so a header cannot talk us into HMAC-with-a-
public-key or ECDSA on another curve.
"""
from __future__ import annotations

import base64
import hashlib
import json
import re

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature, encode_dss_signature)

from .errors import Malformed

ALGORITHMS = ("ES256", "EdDSA", "PS256")
_P256_ORDER_BYTES = 32
MIN_RSA_BITS = 2048


def b64url_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Strict base64url: no padding, no stray characters (a lax decoder lets forgeries differ)."""
    if not isinstance(text, str) or not _B64URL.fullmatch(text) or len(text) % 4 == 1:
        raise Malformed("not base64url")
    raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    if b64url_encode(raw) != text:
        raise Malformed("non-canonical base64url")
    return raw


_B64URL = re.compile(r"[A-Za-z0-9_-]*")


# --- keys ----------------------------------------------------------------------------------
def generate_private_key(alg: str):
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    if alg == "PS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=3072)
    raise ValueError(f"unsupported algorithm {alg}")


def private_key_to_pem(key) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def private_key_from_pem(data: bytes):
    return serialization.load_pem_private_key(data, password=None)


def key_fits(alg: str, key) -> bool:
    """Is ``key`` (public or private) of the one kind ``alg`` is defined for?"""
    if alg == "ES256":
        return isinstance(key, (ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey)) \
            and isinstance(key.curve, ec.SECP256R1)
    if alg == "EdDSA":
        return isinstance(key, (ed25519.Ed25519PublicKey, ed25519.Ed25519PrivateKey))
    if alg == "PS256":
        return isinstance(key, (rsa.RSAPublicKey, rsa.RSAPrivateKey)) and key.key_size >= MIN_RSA_BITS
    return False


def _int_b64(value: int, length: int | None = None) -> str:
    length = length or (value.bit_length() + 7) // 8
    return b64url_encode(value.to_bytes(length, "big"))


def public_jwk(key) -> dict:
    """Public JWK members only (RFC 7517), in the order RFC 7638 thumbprints use."""
    if hasattr(key, "public_key"):
        key = key.public_key()
    if isinstance(key, ec.EllipticCurvePublicKey):
        nums = key.public_numbers()
        return {"crv": "P-256", "kty": "EC", "x": _int_b64(nums.x, 32), "y": _int_b64(nums.y, 32)}
    if isinstance(key, ed25519.Ed25519PublicKey):
        raw = key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        return {"crv": "Ed25519", "kty": "OKP", "x": b64url_encode(raw)}
    if isinstance(key, rsa.RSAPublicKey):
        nums = key.public_numbers()
        return {"e": _int_b64(nums.e), "kty": "RSA", "n": _int_b64(nums.n)}
    raise ValueError("unsupported key type")


def public_key_from_jwk(jwk: dict):
    """Load a public key from a JWK, refusing private members and curves we do not use."""
    if not isinstance(jwk, dict):
        raise Malformed("JWK must be an object")
    if "d" in jwk or "p" in jwk:
        raise Malformed("JWK carries private key material")
    kty = jwk.get("kty")
    try:
        if kty == "EC" and jwk.get("crv") == "P-256":
            x, y = (int.from_bytes(b64url_decode(jwk[k]), "big") for k in ("x", "y"))
            return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
        if kty == "OKP" and jwk.get("crv") == "Ed25519":
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(jwk["x"]))
        if kty == "RSA":
            n, e = (int.from_bytes(b64url_decode(jwk[k]), "big") for k in ("n", "e"))
            key = rsa.RSAPublicNumbers(e, n).public_key()
            if key.key_size < MIN_RSA_BITS:
                raise Malformed("RSA key too short")
            return key
    except (KeyError, ValueError, TypeError) as exc:
        raise Malformed(f"bad JWK: {exc.__class__.__name__}") from None
    raise Malformed(f"unsupported JWK type {kty!r}/{jwk.get('crv')!r}")


def thumbprint(jwk: dict) -> str:
    """RFC 7638 JWK thumbprint (SHA-256, base64url) — what SMART Health Cards use as ``kid``."""
    required = {"EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x"), "RSA": ("e", "kty", "n")}
    members = {k: jwk[k] for k in required[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True).encode()
    return b64url_encode(hashlib.sha256(canonical).digest())


def short_kid(jwk: dict) -> str:
    """Our own key ids: 16 characters of the thumbprint keep QR codes small and stay unique."""
    return thumbprint(jwk)[:16]


def alg_for_key(key) -> str:
    for alg in ALGORITHMS:
        if key_fits(alg, key):
            return alg
    raise ValueError("no supported algorithm for this key")


# --- sign / verify -------------------------------------------------------------------------
def sign(alg: str, private_key, message: bytes) -> bytes:
    if not key_fits(alg, private_key):
        raise ValueError(f"key does not fit {alg}")
    if alg == "ES256":
        r, s = decode_dss_signature(private_key.sign(message, ec.ECDSA(hashes.SHA256())))
        return r.to_bytes(_P256_ORDER_BYTES, "big") + s.to_bytes(_P256_ORDER_BYTES, "big")
    if alg == "EdDSA":
        return private_key.sign(message)
    return private_key.sign(message, _pss(), hashes.SHA256())


def _pss():
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def verify(alg: str, public_key, message: bytes, signature: bytes) -> bool:
    """True only for a valid signature by ``public_key`` under exactly ``alg``."""
    if alg not in ALGORITHMS or not key_fits(alg, public_key) or not isinstance(signature, bytes):
        return False
    try:
        if alg == "ES256":
            if len(signature) != 2 * _P256_ORDER_BYTES:
                return False
            r = int.from_bytes(signature[:32], "big")
            s = int.from_bytes(signature[32:], "big")
            public_key.verify(encode_dss_signature(r, s), message, ec.ECDSA(hashes.SHA256()))
        elif alg == "EdDSA":
            public_key.verify(signature, message)
        else:
            public_key.verify(signature, message, _pss(), hashes.SHA256())
    except (InvalidSignature, ValueError, OverflowError):
        return False
    return True
