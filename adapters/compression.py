"""Bounded decompression for foreign formats: a QR code of a few hundred bytes must not inflate
into megabytes (a zip bomb), and a stream with a missing end or trailing bytes is refused rather
than half-read."""
from __future__ import annotations

import zlib

from standard.errors import HealthCodeError

ZLIB = 15         # RFC 1950: header and checksum (EU DCC)
RAW_DEFLATE = -15  # RFC 1951: bare DEFLATE (SMART Health Cards, JWS "zip": "DEF")


def inflate(data: bytes, limit: int, *, wbits: int, error: type[HealthCodeError], what: str) -> bytes:
    """The whole stream, at most ``limit`` bytes; otherwise ``error`` (a HealthCodeError class)."""
    inflater = zlib.decompressobj(wbits=wbits)
    stream = "zlib" if wbits == ZLIB else "DEFLATE"
    kind = stream if wbits == ZLIB else "raw DEFLATE"
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise error(f"{what} is not valid {kind} (not compressed, or the stream is broken)") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise error(f"{what} inflates to more than {limit} bytes")
    if not inflater.eof:
        raise error(f"{what} {stream} stream is truncated")
    if inflater.unused_data:
        raise error(f"{what} has bytes after its {stream} stream")
    return out
