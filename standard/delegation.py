"""Delegation (§7.1): a province authorises one of its cities to issue codes.

A city issues under its own keys, listed in its own trust-list entry, but a code under a city key
is accepted only when that entry carries a **delegation**: a compact JWS (``typ``
``hc-delegation+jwt``) signed by one of the *province's* issuing keys, whose payload names the
city and the province, the holders' area codes the city may issue for, the kinds of code it may
issue and the delegation's validity.  The national list vouches for the keys; the province vouches
for the city.  So the national signer alone cannot make a city issuer, and a city key can never
speak for its province, another city, or a city of another province.

A province withdraws a delegation by the city's entry carrying ``"delegation_status":
"withdrawn"`` (and no delegation) in the next signed list: every code of that city is refused
from then on, online and offline (``delegation_withdrawn``).  Everything else wrong with the chain
is ``delegation_invalid``.

Pure: the gateway signs (:func:`sign`), every verifier checks (:func:`check_entry` once per trust
list, :func:`check_code` per code).  gateway/static/offline.js does the same in the browser.
"""
from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Protocol, TypeGuard

from standard import KINDS, ONLINE_FORMAT, jose
from standard.errors import DelegationInvalid, DelegationWithdrawn, HealthCodeError

TYP = "hc-delegation+jwt"
# What a delegation may cover: the kinds of the code claims (§3), and online codes (§4.4).
DELEGABLE = (*KINDS, ONLINE_FORMAT)
ACTIVE, WITHDRAWN = "active", "withdrawn"
DEFAULT_TTL = 30 * 86400        # each list carries a delegation signed afresh, valid this long
MAX_TTL = 90 * 86400            # a delegation whose exp is further than this after its iat is refused
MAX_AREAS = 32
SKEW = 60                       # clock skew allowed at both ends of the validity, as for codes (§4.2)
RESIDENT = "resident"           # the id_type whose masked number keeps its 4-digit area code
_AREA = re.compile(r"[0-9]{4}", re.ASCII)
_CODE = re.compile(r"[0-9]{6}", re.ASCII)
# A resident ID number as standard.idcard.mask writes it: area, ten stars, the last four.
RESIDENT_MASK = re.compile(r"[0-9]{4}\*{10}[0-9]{3}[0-9X]", re.ASCII)


def is_province(code: object) -> bool:
    """A GB/T 2260 province-level code: six digits ending in 0000."""
    return isinstance(code, str) and bool(_CODE.fullmatch(code)) and code.endswith("0000")


def is_city_of(city: object, parent: object) -> bool:
    """Is ``city`` a prefecture-level code inside province ``parent`` (same first two digits)?"""
    return isinstance(city, str) and bool(_CODE.fullmatch(city)) and not city.endswith("0000") \
        and is_province(parent) and city[:2] == str(parent)[:2]


def is_city_entry(entry: Mapping[str, Any]) -> bool:
    """A trust-list entry that needs a delegation: one naming a parent, or any region code that
    is not province-level (a city listed without a parent never verifies)."""
    code = entry.get("region")
    return bool(entry.get("parent")) or (isinstance(code, str) and bool(_CODE.fullmatch(code))
                                         and not code.endswith("0000"))


def claims(city: str, parent: str, areas: Iterable[str], kinds: Iterable[str], nbf: int, exp: int, iat: int) -> dict:
    return {"city": city, "parent": parent, "areas": list(areas), "kinds": list(kinds),
            "nbf": int(nbf), "exp": int(exp), "iat": int(iat)}


def sign(payload: dict, signer: jose.SigningKey) -> str:
    """``signer``: an issuing key of the province (``payload["parent"]``)."""
    header = {"alg": signer.alg, "kid": signer.kid, "typ": TYP}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return jose.encode(body, header, signer.private_key)


# --- verifying -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Grant:
    """A delegation that verified: what the city may issue, and when."""

    city: str
    parent: str
    areas: tuple[str, ...]
    kinds: tuple[str, ...]
    nbf: int
    exp: int
    iat: int
    kid: str


class _Key(Protocol):
    kid: str
    region: str
    alg: str
    public_key: object

    def check_usable(self, issued_at: int) -> None: ...


class _Trust(Protocol):
    """What :func:`check_entry` reads of a trust list (standard.trustlist.TrustList)."""

    @property
    def regions(self) -> Mapping[str, dict]: ...

    @property
    def keys(self) -> Mapping[str, Any]: ...


def _int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def check_entry(entry: Mapping[str, Any], trust: _Trust) -> Grant:
    """The city entry's delegation, verified against its province's keys in ``trust``; raises
    DelegationWithdrawn or DelegationInvalid.  Pure, and the same for every code of the city, so
    a verifier does it once per trust list."""
    city, parent = entry.get("region"), entry.get("parent")
    if entry.get("delegation_status") == WITHDRAWN:
        raise DelegationWithdrawn(f"province {str(parent)[:6]} has withdrawn city {str(city)[:6]}'s delegation")
    if not is_city_of(city, parent):
        raise DelegationInvalid(f"region {str(city)[:6]} names no province it belongs to")
    parent_entry = trust.regions.get(str(parent))
    if parent_entry is None or parent_entry.get("parent"):
        raise DelegationInvalid(f"city {city}'s province {parent} is not a province on the trust list")
    if entry.get("delegation_status", ACTIVE) != ACTIVE:
        raise DelegationInvalid(f"city {city}'s delegation has an unknown status")
    token = entry.get("delegation")
    if not isinstance(token, str):
        raise DelegationInvalid(f"city {city} carries no delegation from province {parent}")
    try:
        parsed = jose.parse(token)
        if parsed.typ != TYP:
            raise DelegationInvalid(f"city {city}'s delegation is not a delegation (typ)")
        key = trust.keys.get(parsed.kid or "")
        if key is None or key.region != parent:
            raise DelegationInvalid(f"city {city}'s delegation is not signed by a key of province {parent}")
        allowed = set(parent_entry.get("algorithms", ())) & {key.alg} & set(jose.NATIONAL_ALGORITHMS)
        jose.check_signature(parsed, key.public_key, allowed, low_s=True)
        payload = jose.json_payload(parsed)
    except DelegationInvalid:
        raise
    except HealthCodeError as exc:
        raise DelegationInvalid(f"city {city}'s delegation does not verify ({exc.code})") from None
    grant = _grant(payload, str(city), str(parent), parsed.kid or "")
    try:
        key.check_usable(grant.iat)
    except HealthCodeError:
        raise DelegationInvalid(f"city {city}'s delegation is signed by a revoked or retired key of "
                                f"province {parent}") from None
    return grant


def _grant(payload: dict, city: str, parent: str, kid: str) -> Grant:
    if payload.get("city") != city or payload.get("parent") != parent:
        raise DelegationInvalid(f"the delegation in city {city}'s entry is for another city or province")
    areas, kinds = payload.get("areas"), payload.get("kinds")
    if not isinstance(areas, list) or not 0 < len(areas) <= MAX_AREAS \
            or not all(isinstance(a, str) and _AREA.fullmatch(a) and a[:2] == parent[:2] for a in areas):
        raise DelegationInvalid(f"city {city}'s delegation names areas outside province {parent}")
    if not isinstance(kinds, list) or not kinds or not all(k in DELEGABLE for k in kinds):
        raise DelegationInvalid(f"city {city}'s delegation names kinds the standard does not have")
    nbf, exp, iat = payload.get("nbf"), payload.get("exp"), payload.get("iat")
    if not (_int(nbf) and _int(exp) and _int(iat)) or not nbf <= exp or exp - iat > MAX_TTL:
        raise DelegationInvalid(f"city {city}'s delegation has no sound validity (nbf ≤ exp, at most "
                                f"{MAX_TTL // 86400} days after its iat)")
    return Grant(city, parent, tuple(areas), tuple(kinds), nbf, exp, iat, kid)


def holder_area(code: Mapping[str, Any]) -> str | None:
    """The area a city must be delegated for to carry this holder (§7.1): the first four digits
    of ``id_masked`` when the holder is a resident or the masked number has a resident's shape
    (whatever ``id_type`` says), else None (a passport or permit names no area).  A resident
    whose masked number names no area is ``""``, which no delegation covers.  ``prov`` changes
    nothing: the city signs it itself, so it proves no transcoding."""
    masked = code.get("id_masked")
    shaped = isinstance(masked, str) and RESIDENT_MASK.fullmatch(masked) is not None
    if shaped:
        return str(masked)[:4]
    return "" if code.get("id_type") == RESIDENT else None


def check_code(grant: Grant, code: Mapping[str, Any], fmt: str, now: int) -> None:
    """Does ``grant`` cover this code (national claims, read from format ``fmt``) now: its kind
    (and online codes), its issue time and now within the validity, the delegation's ``iat`` not
    after now (so it lives at most :data:`MAX_TTL` from now), and the holder's area
    (:func:`holder_area`) among the delegated areas — for every code of the city, transcoded
    ones (``prov``) included.  DelegationInvalid otherwise.  Times are compared with :data:`SKEW`
    of leeway at both ends, as a code's own validity is."""
    kind = code.get("kind")
    if kind not in grant.kinds or (fmt == ONLINE_FORMAT and ONLINE_FORMAT not in grant.kinds):
        what = "online" if kind in grant.kinds else str(kind)[:10]
        raise DelegationInvalid(f"city {grant.city} is not delegated to issue {what} codes")
    iat = code.get("iat")
    if not _int(iat) or not grant.nbf - SKEW <= iat <= grant.exp + SKEW:
        raise DelegationInvalid(f"this code was issued outside city {grant.city}'s delegation")
    if not grant.nbf - SKEW <= now <= grant.exp + SKEW:
        raise DelegationInvalid(f"city {grant.city}'s delegation is not valid now (refresh the trust list)")
    if grant.iat > now + SKEW:            # else a future iat would stretch the 90 days without end
        raise DelegationInvalid(f"city {grant.city}'s delegation is dated after now (its iat): it would live "
                                f"longer than {MAX_TTL // 86400} days")
    area = holder_area(code)
    if area is not None and area not in grant.areas:
        raise DelegationInvalid(f"city {grant.city} is not delegated to issue codes for holders from "
                                f"area {area or '(none named)'}")
