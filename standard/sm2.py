"""SM2 signatures with the SM3 hash (GM/T 0003, GM/T 0004), the JWS algorithm ``SM2SM3`` of §4.1.

The arithmetic is Tongsuo's (the OpenSSL fork that carries the national algorithms), through its
Python binding ``tongsuopy``; nothing here computes on the curve.  Tongsuo signs and verifies the
whole GM/T 0003.2 scheme: e = SM3(Z ‖ M) with Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)
and the signer id ``ID`` = GM/T 0009's default ``1234567812345678`` (:data:`SIGNER_ID`; tests
check Tongsuo's default against the standard's published example).

In JOSE, as for ES256: the signature is raw r ‖ s, 32 bytes each, big-endian (not DER); the
public JWK is ``{"kty": "EC", "crv": "SM2", "x", "y"}`` with 32-byte coordinates.  SM2 has no
low-S twin (s enters the check linearly, so (r, s) is the only signature for its r), and the
fixed-width encoding leaves one spelling per signature.
"""
from __future__ import annotations

import base64
import json
from typing import Any

from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature, encode_dss_signature
from jwt.algorithms import Algorithm
from jwt.exceptions import InvalidKeyError
from tongsuopy.crypto import hashes, serialization
from tongsuopy.crypto.asymciphers import ec
from tongsuopy.crypto.exceptions import InternalError, InvalidSignature, UnsupportedAlgorithm

NAME = "SM2SM3"
CURVE = "SM2"                                 # the JWK "crv" of the recommended curve (GM/T 0003.5)
SIGNER_ID = b"1234567812345678"               # GM/T 0009's default; Tongsuo's default too
ORDER = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123
COORDINATE_BYTES = 32

PrivateKey = ec.EllipticCurvePrivateKey
PublicKey = ec.EllipticCurvePublicKey


def is_key(key: object) -> bool:
    """Is ``key`` (public or private) an SM2 key on the recommended curve?"""
    return isinstance(key, (ec.EllipticCurvePrivateKey, ec.EllipticCurvePublicKey)) \
        and isinstance(key.curve, ec.SM2)


def generate_private_key() -> Any:
    return ec.generate_private_key(ec.SM2())


def private_key_to_pem(key: Any) -> bytes:
    """PKCS#8 PEM, like the other key files (the curve named by its OID 1.2.156.10197.1.301)."""
    return bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                   serialization.NoEncryption()))


def private_key_from_pem(data: bytes) -> Any:
    """An SM2 private key from PEM; ValueError for anything else."""
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (UnsupportedAlgorithm, TypeError) as exc:
        raise ValueError(f"not an SM2 private key: {exc.__class__.__name__}") from None
    if not is_key(key):
        raise ValueError("not an SM2 private key")
    return key


def sm3(data: bytes) -> bytes:
    """The SM3 digest (GM/T 0004), Tongsuo's."""
    digest = hashes.Hash(hashes.SM3())
    digest.update(data)
    return bytes(digest.finalize())


def _coordinate(jwk: dict, member: str) -> int:
    """A JWK coordinate (standard.jose.public_key_from_jwk has checked its base64url strictly)."""
    text = jwk.get(member)
    if not isinstance(text, str):
        raise InvalidKeyError(f"SM2 JWK {member} must be text")
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except ValueError:
        raise InvalidKeyError(f"SM2 JWK {member} is not base64url") from None
    if len(raw) != COORDINATE_BYTES:
        raise InvalidKeyError(f"SM2 JWK {member} must be {COORDINATE_BYTES} bytes")
    return int.from_bytes(raw, "big")


def _b64url(coordinate: int) -> str:
    return base64.urlsafe_b64encode(coordinate.to_bytes(COORDINATE_BYTES, "big")).rstrip(b"=").decode("ascii")


class SM2SM3Algorithm(Algorithm):
    """PyJWT algorithm object for ``SM2SM3``: SM2 signatures over SM3 with :data:`SIGNER_ID`."""

    def prepare_key(self, key: Any) -> Any:
        if not is_key(key):
            raise InvalidKeyError("not an SM2 key")
        return key

    def sign(self, msg: bytes, key: Any) -> bytes:
        if not isinstance(self.prepare_key(key), ec.EllipticCurvePrivateKey):
            raise InvalidKeyError("signing needs an SM2 private key")
        r, s = decode_dss_signature(key.sign(msg, ec.ECDSA(hashes.SM3())))
        return r.to_bytes(COORDINATE_BYTES, "big") + s.to_bytes(COORDINATE_BYTES, "big")

    def verify(self, msg: bytes, key: Any, sig: bytes) -> bool:
        """True only for r ‖ s of 64 bytes, 1 ≤ r, s < n, that Tongsuo verifies under the key."""
        key = self.prepare_key(key)
        if isinstance(key, ec.EllipticCurvePrivateKey):
            key = key.public_key()
        if len(sig) != 2 * COORDINATE_BYTES:
            return False
        r, s = int.from_bytes(sig[:COORDINATE_BYTES], "big"), int.from_bytes(sig[COORDINATE_BYTES:], "big")
        if not (0 < r < ORDER and 0 < s < ORDER):
            return False
        try:
            key.verify(encode_dss_signature(r, s), msg, ec.ECDSA(hashes.SM3()))
        except (InvalidSignature, InternalError):       # InternalError: Tongsuo failed, not "valid"
            return False
        return True

    @staticmethod
    def to_jwk(key_obj: Any, as_dict: bool = False) -> Any:
        if not is_key(key_obj):
            raise InvalidKeyError("not an SM2 key")
        if isinstance(key_obj, ec.EllipticCurvePrivateKey):
            key_obj = key_obj.public_key()
        numbers = key_obj.public_numbers()
        jwk = {"kty": "EC", "crv": CURVE, "x": _b64url(numbers.x), "y": _b64url(numbers.y)}
        return jwk if as_dict else json.dumps(jwk)

    @staticmethod
    def from_jwk(jwk: Any) -> Any:
        """The public key of ``{"kty": "EC", "crv": "SM2", "x", "y"}``; a point off the curve,
        at infinity or with coordinates of another length is InvalidKeyError."""
        if isinstance(jwk, str):
            jwk = json.loads(jwk)
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != CURVE:
            raise InvalidKeyError("not an SM2 JWK")
        if "d" in jwk:
            raise InvalidKeyError("SM2 JWK carries private key material")
        x, y = _coordinate(jwk, "x"), _coordinate(jwk, "y")
        try:
            return ec.EllipticCurvePublicNumbers(x, y, ec.SM2()).public_key()
        except (ValueError, UnsupportedAlgorithm):
            raise InvalidKeyError("SM2 JWK is not a point of the curve") from None
