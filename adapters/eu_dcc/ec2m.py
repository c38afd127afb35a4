"""ECDSA over the X9.62 characteristic-two curve c2tnb191v1, verification only.

Why: some national Document Signer Certificates in the EU test data (the Slovenian ones of
dgc-testdata) carry a c2tnb191v1 key.  The EU reference verifier checks an ES256 signature
with ``SHA256withECDSA`` on whatever EC key the certificate holds (BouncyCastle knows this
curve); ``cryptography`` does not, so such a signer would read as no key at all.  This module
is the small missing piece: the curve's parameters (ANSI X9.62, checked on import: G on the
curve, n·G the point at infinity), a SubjectPublicKeyInfo reader and ECDSA-SHA256 verification.

Pure functions on Python integers (a field element is a bit polynomial); no signing — the
tests sign with :func:`sign_for_tests`, which is deliberately not constant-time and exists
only so the verifier can be exercised with our own keys.
"""
from __future__ import annotations

from typing import Optional
import hashlib
from dataclasses import dataclass
from functools import lru_cache

OID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"


@dataclass(frozen=True)
class Curve:
    name: str
    m: int              # field GF(2^m)
    poly: int           # reduction polynomial, bit i = coefficient of x^i
    a: int
    b: int
    gx: int
    gy: int
    n: int              # order of G


C2TNB191V1 = Curve(
    name="c2tnb191v1", m=191, poly=(1 << 191) | (1 << 9) | 1,
    a=0x2866537B676752636A68F56554E12640276B649EF7526267,
    b=0x2E45EF571F00786F67B0081B9495A3D95462F5DE0AA185EC,
    gx=0x36B3DAF8A23206F9C4F299D7B21A9C369137F2C84AE1AA0D,
    gy=0x765BE73433B3F95E332932E70EA245CA2418EA0EF98018FB,
    n=0x40000000000000000000000004A20E90C39067C893BBB9A5)

CURVES = {"1.2.840.10045.3.0.5": C2TNB191V1}


# --- GF(2^m) -----------------------------------------------------------------------------------
def _reduce(c: Curve, x: int) -> int:
    top = c.m
    while x.bit_length() > top:
        x ^= c.poly << (x.bit_length() - 1 - top)
    return x


def _mul(c: Curve, x: int, y: int) -> int:
    r = 0
    while y:
        if y & 1:
            r ^= x
        x <<= 1
        y >>= 1
    return _reduce(c, r)


def _inv(c: Curve, x: int) -> int:
    """Inverse by the binary-polynomial extended Euclid (x ≠ 0)."""
    u, v, g1, g2 = x, c.poly, 1, 0
    while u != 1:
        j = u.bit_length() - v.bit_length()
        if j < 0:
            u, v, g1, g2, j = v, u, g2, g1, -j
        u ^= v << j
        g1 ^= g2 << j
    return _reduce(c, g1)


# --- points (affine; None is the point at infinity) --------------------------------------------
Point = Optional[tuple[int, int]]


def on_curve(c: Curve, p: Point) -> bool:
    if p is None:
        return True
    x, y = p
    if x >> c.m or y >> c.m:
        return False
    x2 = _mul(c, x, x)
    return _mul(c, y, y) ^ _mul(c, x, y) == _mul(c, x2, x) ^ _mul(c, c.a, x2) ^ c.b


def _add(c: Curve, p: Point, q: Point) -> Point:
    if p is None:
        return q
    if q is None:
        return p
    (x1, y1), (x2, y2) = p, q
    if x1 == x2:
        if y1 ^ y2 == x1 or x1 == 0:         # q = -p (or doubling a point of order 2)
            return None
        lam = x1 ^ _mul(c, y1, _inv(c, x1))
        x3 = _mul(c, lam, lam) ^ lam ^ c.a
        return x3, _mul(c, x1, x1) ^ _mul(c, lam ^ 1, x3)
    lam = _mul(c, y1 ^ y2, _inv(c, x1 ^ x2))
    x3 = _mul(c, lam, lam) ^ lam ^ x1 ^ x2 ^ c.a
    return x3, _mul(c, lam, x1 ^ x3) ^ x3 ^ y1


def _scalar(c: Curve, k: int, p: Point) -> Point:
    r: Point = None
    for bit in bin(k)[2:]:
        r = _add(c, r, r)
        if bit == "1":
            r = _add(c, r, p)
    return r


def _check(c: Curve) -> None:
    g = (c.gx, c.gy)
    if not on_curve(c, g) or _scalar(c, c.n, g) is not None:
        raise AssertionError(f"{c.name}: parameters do not describe a curve with G of order n")


# --- keys and signatures -----------------------------------------------------------------------
@dataclass(frozen=True)
class PublicKey:
    curve: Curve
    point: tuple

    @property
    def key_size(self) -> int:
        return self.curve.m


def public_key(curve: Curve, encoded: bytes) -> PublicKey | None:
    """An uncompressed SEC1 point (04 ‖ x ‖ y) on ``curve``; None if it is not a valid key.
    The curve's own parameters are checked before its first key is read (AssertionError if
    they do not describe a curve with G of order n)."""
    _checked(curve)
    size = (curve.m + 7) // 8
    if len(encoded) != 1 + 2 * size or encoded[0] != 4:
        return None
    point = int.from_bytes(encoded[1:1 + size], "big"), int.from_bytes(encoded[1 + size:], "big")
    if not on_curve(curve, point) or _scalar(curve, curve.n, point) is not None:
        return None
    return PublicKey(curve, point)


def _digest(c: Curve, message: bytes) -> int:
    e = int.from_bytes(hashlib.sha256(message).digest(), "big")
    return e >> max(0, 256 - c.n.bit_length())


def verify_sha256(key: PublicKey, message: bytes, r: int, s: int) -> bool:
    c = key.curve
    if not (0 < r < c.n and 0 < s < c.n):
        return False
    w = pow(s, -1, c.n)
    e = _digest(c, message)
    point = _add(c, _scalar(c, e * w % c.n, (c.gx, c.gy)), _scalar(c, r * w % c.n, key.point))
    return point is not None and point[0] % c.n == r


def sign_for_tests(c: Curve, d: int, message: bytes, k: int) -> tuple[int, int]:
    """(r, s) by private scalar ``d`` with nonce ``k`` — for tests only (see the module doc)."""
    point = _scalar(c, k, (c.gx, c.gy))
    if point is None:
        raise ValueError("the nonce k must be in 1..n-1")
    r = point[0] % c.n
    return r, pow(k, -1, c.n) * (_digest(c, message) + r * d) % c.n


def public_point(c: Curve, d: int) -> Point:
    return _scalar(c, d, (c.gx, c.gy))


@lru_cache(maxsize=None)
def _checked(c: Curve) -> None:
    """:func:`_check` once per curve, on first use: n·G in pure Python took 60–360 ms of every
    process's start-up (each CLI run, server worker and batch-pool process imports this module)."""
    _check(c)
