"""The trust list's revocation file: foreign revocation lists (EU DCC hash batches, SMART Health
Card rid lists) kept out of the signed trust list, which names them by SHA-256 instead.

Real EU revocation lists run to hundreds of thousands of entries (300 000 hashes are ~9 MB of
JSON): carried inside the trust list they would push it past :data:`standard.trustlist.
MAX_TRUST_LIST_CHARS` and make every verifier download them again with every list (every 60 s at
the gateway, daily offline).  So the list carries only ``foreign_revocations_file`` —
``{"sha256", "bytes", "entries", "url"}`` — signed with the rest of it; the file itself is served
at ``GET /v1/trust-list/revocations`` and fetched only when its hash changed.  A verifier accepts
a file only when its SHA-256 is the one its (signature-checked) trust list names, so the file
needs no signature of its own, and it refuses every foreign code while it lacks the file
(``revocations_missing``) rather than skip the check.

The file is the JSON document ``{"eu_dcc": [...], "shc": [...]}`` (docs/standard.md §9), written
compactly with sorted keys so the same lists always give the same bytes and hash.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field

from typing import Protocol, TypeVar

from standard.errors import TrustListInvalid

REF = "foreign_revocations_file"
URL = "/v1/trust-list/revocations"
MAX_FILE_BYTES = 64_000_000          # ~2 million hashes; the gateway caps entries well below this


@dataclass(frozen=True)
class Held:
    """A revocation file whose hash matched its trust list: its digest and its document."""
    sha256: str
    document: dict = field(repr=False, compare=False)
    data: bytes = field(repr=False, compare=False, default=b"")


def encode(document: dict) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True, ensure_ascii=False).encode()


def hold(document: dict) -> Held:
    """The gateway side: a document → its bytes and digest."""
    data = encode(document)
    return Held(hashlib.sha256(data).hexdigest(), document, data)


def reference(held: Held, entries: int) -> dict:
    """What the trust list carries about the file."""
    return {"sha256": held.sha256, "bytes": len(held.data), "entries": entries, "url": URL}


def named(payload: dict) -> dict | None:
    """The file a trust list's payload names, or None (its lists, if any, ride inline)."""
    ref = payload.get(REF) if isinstance(payload, dict) else None
    return ref if isinstance(ref, dict) and isinstance(ref.get("sha256"), str) else None


def check(payload: dict, data: bytes) -> Held:
    """The verifier side: accept ``data`` only as the file this trust list names."""
    ref = named(payload)
    if ref is None:
        raise TrustListInvalid("this trust list names no revocation file")
    if not isinstance(data, (bytes, bytearray)) or len(data) > MAX_FILE_BYTES:
        raise TrustListInvalid(f"a revocation file is at most {MAX_FILE_BYTES // 1_000_000} MB")
    digest = hashlib.sha256(data).hexdigest()
    if digest != ref["sha256"]:
        raise TrustListInvalid("the revocation file is not the one this trust list names (SHA-256 differs); "
                               "fetch both again")
    try:
        document = json.loads(data)
    except ValueError:
        raise TrustListInvalid("the revocation file is not JSON") from None
    if not isinstance(document, dict):
        raise TrustListInvalid("the revocation file is not a JSON object")
    return Held(digest, document, bytes(data))


class HoldsRevocations(Protocol):
    """A parsed trust list (``standard.trustlist.TrustList``) as far as this module needs it."""
    revocation_file: "Held | None"


_T = TypeVar("_T", bound=HoldsRevocations)


def attach(trust: _T, held: Held | None) -> _T:
    """Give a parsed trust list its checked revocation file (``trust.revocation_file``)."""
    trust.revocation_file = held
    return trust
