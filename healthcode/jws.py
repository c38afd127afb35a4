"""Compact JWS (RFC 7515) as pure functions.

Parsing is separated from verification so a caller can look up the key by ``kid`` in *its own*
trust list first.  Headers that would let the token choose its own key (``jku``, ``x5u``,
``jwk``, ``x5c``) or demand extensions (``crit``) are refused outright.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

from . import crypto
from .errors import AlgorithmNotAllowed, Malformed, SignatureInvalid

FORBIDDEN_HEADERS = frozenset({"jku", "x5u", "jwk", "x5c", "crit"})
MAX_TOKEN_CHARS = 12_000


@dataclass(frozen=True)
class ParsedJws:
    header: dict
    payload: bytes
    signing_input: bytes
    signature: bytes

    @property
    def alg(self) -> str:
        return self.header.get("alg", "")

    @property
    def kid(self) -> str | None:
        return self.header.get("kid")


def parse(token: str) -> ParsedJws:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_CHARS:
        raise Malformed("JWS too large or not text")
    parts = token.split(".")
    if len(parts) != 3:
        raise Malformed("JWS must have three dot-separated parts")
    header_b64, payload_b64, sig_b64 = parts
    try:
        header = json.loads(crypto.b64url_decode(header_b64))
    except (ValueError, UnicodeDecodeError):
        raise Malformed("JWS header is not JSON") from None
    if not isinstance(header, dict):
        raise Malformed("JWS header must be a JSON object")
    bad = FORBIDDEN_HEADERS.intersection(header)
    if bad:
        raise Malformed(f"JWS header member not accepted: {sorted(bad)[0]}")
    if not isinstance(header.get("alg"), str):
        raise Malformed("JWS header has no alg")
    if header["alg"] not in crypto.ALGORITHMS:
        raise AlgorithmNotAllowed(f"algorithm {header['alg'][:20]!r} is not accepted")
    kid = header.get("kid")
    if kid is not None and (not isinstance(kid, str) or not 0 < len(kid) <= 128):
        raise Malformed("JWS kid must be a short string")
    return ParsedJws(header, crypto.b64url_decode(payload_b64),
                     f"{header_b64}.{payload_b64}".encode("ascii"), crypto.b64url_decode(sig_b64))


def check_signature(parsed: ParsedJws, public_key, allowed_algs) -> None:
    """Verify under the algorithm the *key's owner* registered, never the header's whim."""
    if parsed.alg not in allowed_algs:
        raise AlgorithmNotAllowed(f"algorithm {parsed.alg} is not registered for this key")
    if not crypto.verify(parsed.alg, public_key, parsed.signing_input, parsed.signature):
        raise SignatureInvalid("signature does not verify")


def encode(payload: bytes, header: dict, private_key) -> str:
    header_b64 = crypto.b64url_encode(json.dumps(header, separators=(",", ":")).encode())
    payload_b64 = crypto.b64url_encode(payload)
    signing_input = f"{header_b64}.{payload_b64}".encode("ascii")
    signature = crypto.sign(header["alg"], private_key, signing_input)
    return f"{header_b64}.{payload_b64}.{crypto.b64url_encode(signature)}"


def json_payload(parsed: ParsedJws) -> dict:
    try:
        data = json.loads(parsed.payload)
    except (ValueError, UnicodeDecodeError):
        raise Malformed("payload is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("payload must be a JSON object")
    return data
