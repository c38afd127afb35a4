"""Foreign revocation lists: the EU DCC gateway's hash lists and SMART Health Card issuers' ``rid``
lists, read into one document that rides in the signed national trust list
(``foreign_revocations``), so the gateway and an offline verifier refuse the same certificates.

EU DCC (the EU gateway's revocation batches, one per DSC ``kid`` and hash type)::

    {"country": "AT", "expires": "2026-12-31T00:00:00Z", "kid": "<base64 kid>",
     "hashType": "UCI" | "COUNTRYCODEUCI" | "SIGNATURE", "entries": [{"hash": "<base64>"}, ...]}

Each hash is the first 16 bytes of SHA-256 over: the UCI (``ci``) — ``UCI``; the CWT issuer's
country code followed by the UCI — ``COUNTRYCODEUCI``; the COSE signature, for ES256 only its
``r`` half — ``SIGNATURE``.  Only batches for the certificate's own ``kid`` are consulted.

SMART Health Cards (an issuer's ``<iss>/.well-known/crl/<kid>.json``)::

    {"kid": "<key thumbprint>", "method": "rid", "ctr": 3, "rids": ["MKyCxh7p6uQ", "abc.1636977600"]}

A card's ``vc.rid`` (the issuer's base64url of the first 64 bits of a SHA-256 / HMAC over its
patient id) is revoked when listed for the card's (``iss``, ``kid``); ``rid.timestamp`` revokes
only cards issued before that time (``nbf`` < timestamp).

Parsing (:func:`parse_dcc_batches`, :func:`parse_shc_crl`) is pure and refuses a malformed list
as a whole with BadRequest; :func:`merge` folds a new list into the stored document; the
verifier side reads it through :func:`index` and asks :func:`dcc_revoked` / :func:`shc_revoked`.
"""
from __future__ import annotations

from typing import Any, Iterable
import base64
import binascii
import hashlib
import re
from datetime import datetime

from standard import revocation_file
from standard.errors import BadRequest, CodeRevoked, RevocationsMissing, TrustListFull
from standard.trustlist import TrustList

HASH_BYTES = 16
DCC_HASH_TYPES = ("UCI", "COUNTRYCODEUCI", "SIGNATURE")
MAX_ENTRIES = 1_000_000          # all lists together: ~30 MB in the revocation file at most
MAX_BATCHES = 5000
_RID_RE = re.compile(r"^[A-Za-z0-9_-]{1,64}(\.[0-9]{1,12})?$")
_B64_RE = re.compile(r"^[A-Za-z0-9+/=_-]{1,200}$")


def empty() -> dict:
    return {"eu_dcc": [], "shc": []}


# === EU DCC ===================================================================================
def _hash16(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()[:HASH_BYTES]).decode()


def dcc_hashes(uci: str, country: str | None, signature: bytes, alg: str | None) -> dict[str, str]:
    """The three revocation hashes of one certificate (base64, as the EU lists write them)."""
    signed = signature[:len(signature) // 2] if alg == "ES256" else signature
    return {"UCI": _hash16(uci.encode("utf-8")),
            "COUNTRYCODEUCI": _hash16(((country or "") + uci).encode("utf-8")),
            "SIGNATURE": _hash16(signed)}


def _b64(value: object, what: str, size: int | None = None) -> str:
    """Normalised standard base64 of a base64 / base64url field."""
    if not isinstance(value, str) or not _B64_RE.match(value):
        raise BadRequest(f"{what} is not base64")
    text = value.replace("-", "+").replace("_", "/")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest(f"{what} is not base64") from None
    if size is not None and len(raw) != size:
        raise BadRequest(f"{what} must be {size} bytes, not {len(raw)}")
    return base64.b64encode(raw).decode()


def _epoch(value: object, what: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 10**11:
        return value
    if isinstance(value, str) and len(value) <= 40:
        try:
            return int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
        except ValueError:
            pass
    raise BadRequest(f"{what} must be an RFC 3339 time or epoch seconds")


def parse_dcc_batches(document: object) -> list[dict]:
    """One EU gateway batch, a list of them, or ``{"batches": [...]}`` → normalised batches
    ``{"kid", "hash_type", "country", "expires", "hashes"}``."""
    batches = document.get("batches", [document]) if isinstance(document, dict) else document
    if not isinstance(batches, list) or not batches or len(batches) > MAX_BATCHES:
        raise BadRequest(f"an EU DCC revocation list is a batch or a list of 1..{MAX_BATCHES} batches")
    out = []
    for number, batch in enumerate(batches, 1):
        where = f"batch {number}"
        if not isinstance(batch, dict):
            raise BadRequest(f"{where} is not an object")
        hash_type = batch.get("hashType", batch.get("hash_type"))
        if hash_type not in DCC_HASH_TYPES:
            raise BadRequest(f"{where}: hashType must be one of {', '.join(DCC_HASH_TYPES)}")
        entries = batch.get("entries", batch.get("hashes"))
        if not isinstance(entries, list) or len(entries) > MAX_ENTRIES:
            raise BadRequest(f"{where}: entries must be a list of at most {MAX_ENTRIES}")
        hashes = [_b64(e.get("hash") if isinstance(e, dict) else e, f"{where}: a hash", HASH_BYTES)
                  for e in entries]
        country = batch.get("country")
        if country is not None and not (isinstance(country, str) and re.fullmatch(r"[A-Z]{2}", country)):
            raise BadRequest(f"{where}: country must be two capital letters")
        out.append({"kid": _b64(batch.get("kid"), f"{where}: kid"), "hash_type": hash_type,
                    "country": country, "expires": _epoch(batch.get("expires"), f"{where}: expires"),
                    "hashes": sorted(set(hashes))})
    return out


# === SMART Health Cards ========================================================================
def parse_shc_crl(document: object, iss: object) -> dict:
    """An issuer's CRL (``method`` rid) for ``iss`` → ``{"iss", "kid", "ctr", "rids"}``."""
    if not isinstance(iss, str) or not 0 < len(iss) <= 512:
        raise BadRequest("a SMART Health Card revocation list needs the issuer (iss) it belongs to")
    if not isinstance(document, dict):
        raise BadRequest("a SMART Health Card revocation list is a JSON object")
    if document.get("method", "rid") != "rid":
        raise BadRequest("only the rid revocation method is supported")
    kid, ctr, rids = document.get("kid"), document.get("ctr", 0), document.get("rids")
    if not isinstance(kid, str) or not 0 < len(kid) <= 128:
        raise BadRequest("kid must be the issuer key's thumbprint")
    if not isinstance(ctr, int) or isinstance(ctr, bool) or ctr < 0:
        raise BadRequest("ctr must be a non-negative integer")
    if not isinstance(rids, list) or len(rids) > MAX_ENTRIES \
            or not all(isinstance(r, str) and _RID_RE.match(r) for r in rids):
        raise BadRequest("rids must be a list of rid or rid.timestamp strings")
    return {"iss": iss, "kid": kid, "ctr": ctr, "rids": sorted(set(rids))}


# === the stored document ======================================================================
def merge(current: dict, fmt: str, parsed: Any) -> dict:
    """EU batches add hashes to what is known for their (kid, hash type); a SHC CRL replaces the
    issuer key's previous one unless it is older (a lower ``ctr``)."""
    doc = {**empty(), **current}
    if fmt == "eu_dcc":
        known = {(b["kid"], b["hash_type"]): b for b in doc["eu_dcc"]}
        for batch in parsed:
            key = (batch["kid"], batch["hash_type"])
            old = known.get(key)
            if old is None:
                known[key] = batch
                continue
            expiries = [e for e in (old["expires"], batch["expires"]) if e is not None]
            known[key] = {**old, "hashes": sorted(set(old["hashes"]) | set(batch["hashes"])),
                          "expires": max(expiries) if len(expiries) == 2 else None}
        doc["eu_dcc"] = list(known.values())
    elif fmt == "shc":
        kept = [c for c in doc["shc"] if (c["iss"], c["kid"]) != (parsed["iss"], parsed["kid"])]
        older = [c for c in doc["shc"] if (c["iss"], c["kid"]) == (parsed["iss"], parsed["kid"])
                 and c["ctr"] > parsed["ctr"]]
        if older:
            raise BadRequest(f"this list (ctr {parsed['ctr']}) is older than the one held (ctr {older[0]['ctr']})")
        doc["shc"] = kept + [parsed]
    else:
        raise BadRequest(f"no revocation lists for format {str(fmt)[:20]!r} (eu_dcc or shc)")
    if count(doc) > MAX_ENTRIES:
        raise TrustListFull(f"at most {MAX_ENTRIES} foreign revocation entries in all; this list would make "
                            f"{count(doc)} — remove lists no longer needed (revocation-lists remove)")
    return doc


def remove(current: dict, fmt: str, key: dict) -> tuple[dict, int]:
    """Drop one held list — EU DCC: every batch of ``kid`` (optionally one ``hash_type``); SHC:
    the list of (``iss``, ``kid``).  (the new document, entries removed); NotFound-free: 0 when
    nothing matched (the caller decides)."""
    doc = {**empty(), **current}
    if fmt == "eu_dcc":
        kid = _b64(key.get("kid"), "kid")
        hash_type = key.get("hash_type")
        drop = [b for b in doc["eu_dcc"] if b["kid"] == kid and hash_type in (None, b["hash_type"])]
        doc["eu_dcc"] = [b for b in doc["eu_dcc"] if b not in drop]
        return doc, sum(len(b["hashes"]) for b in drop)
    if fmt == "shc":
        drop = [c for c in doc["shc"] if (c["iss"], c["kid"]) == (key.get("iss"), key.get("kid"))]
        doc["shc"] = [c for c in doc["shc"] if c not in drop]
        return doc, sum(len(c["rids"]) for c in drop)
    raise BadRequest(f"no revocation lists for format {str(fmt)[:20]!r} (eu_dcc or shc)")


def count(doc: dict) -> int:
    return sum(len(b["hashes"]) for b in doc.get("eu_dcc", ())) + sum(len(c["rids"]) for c in doc.get("shc", ()))


def current(doc: dict, now: int) -> dict:
    """What goes into a trust list: EU batches past their ``expires`` are dropped."""
    return {"eu_dcc": [b for b in doc.get("eu_dcc", ()) if b.get("expires") is None or b["expires"] >= now],
            "shc": list(doc.get("shc", ()))}


def summary(doc: dict) -> dict:
    return {"eu_dcc": [{k: b[k] for k in ("kid", "hash_type", "country", "expires")} | {"entries": len(b["hashes"])}
                       for b in doc.get("eu_dcc", ())],
            "shc": [{"iss": c["iss"], "kid": c["kid"], "ctr": c["ctr"], "entries": len(c["rids"])}
                    for c in doc.get("shc", ())]}


# === the verifier side ========================================================================
def index(doc: object) -> dict:
    """Lookup sets from a trust list's ``foreign_revocations`` (built once per trust list)."""
    dcc: dict[tuple, set] = {}
    shc: dict[tuple, dict] = {}
    doc = doc if isinstance(doc, dict) else {}
    for batch in doc.get("eu_dcc", ()):
        dcc.setdefault((batch["kid"], batch["hash_type"]), set()).update(batch["hashes"])
    for crl in doc.get("shc", ()):
        rids = shc.setdefault((crl["iss"], crl["kid"]), {})
        for rid in crl["rids"]:
            value, _, stamp = rid.partition(".")
            if not stamp or (value in rids and rids[value] is None):
                rids[value] = None                       # listed without a time: every card
            else:
                rids[value] = max(rids.get(value, 0), int(stamp))
    return {"eu_dcc": dcc, "shc": shc}


def dcc_revoked(idx: dict, kid: bytes, hashes: dict[str, str]) -> str | None:
    """The hash type under which this certificate is listed, or None."""
    kid_b64 = base64.b64encode(kid).decode()
    for hash_type, value in hashes.items():
        if value in idx["eu_dcc"].get((kid_b64, hash_type), ()):
            return hash_type
    return None


def shc_revoked(idx: dict, iss: str, kid: str, rid: str | None, nbf: int) -> bool:
    if not rid:
        return False
    rids = idx["shc"].get((iss, kid))
    if rids is None or rid not in rids:
        return False
    before = rids[rid]
    return before is None or nbf < before


_INDEXES: dict[str, dict] = {}        # revocation file SHA-256 → its index (the last two files)


def _index_of(trust: TrustList) -> dict:
    """The trust list's revocation index: from the revocation file it names (built once per
    file, however often the list is re-signed), or from lists carried inline (built once per
    list).  A list naming a file this verifier lacks refuses foreign codes."""
    if revocation_file.named(trust.payload) is not None:
        held = trust.revocation_file
        if held is None:
            raise RevocationsMissing("the trust list names a revocation file this verifier does not hold "
                                     f"(fetch {revocation_file.URL}); foreign codes cannot be checked")
        idx = _INDEXES.get(held.sha256)
        if idx is None:
            idx = index(held.document)
            while len(_INDEXES) >= 2:
                _INDEXES.pop(next(iter(_INDEXES)))
            _INDEXES[held.sha256] = idx
        return idx
    return trust.section_index("foreign_revocations", index)


def refuse_revoked_dcc(trust: TrustList, kid: bytes, iss: str | None, ucis: Iterable[object], signature: bytes,
                       alg: str | None) -> None:
    """CodeRevoked when an EU list names this certificate (by any of its entries' UCIs)."""
    idx = _index_of(trust)
    if not idx["eu_dcc"]:
        return
    for uci in ucis:
        if isinstance(uci, str):
            hash_type = dcc_revoked(idx, kid, dcc_hashes(uci, iss, signature, alg))
            if hash_type:
                raise CodeRevoked(f"this EU DCC is on its country's revocation list ({hash_type} hash)")


def refuse_revoked_shc(trust: TrustList, iss: str, kid: str, rid: str | None, nbf: int) -> None:
    idx = _index_of(trust)
    if idx["shc"] and shc_revoked(idx, iss, kid, rid, nbf):
        raise CodeRevoked("this SMART Health Card is on its issuer's revocation list (rid)")
