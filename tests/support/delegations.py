"""Forged and uncovering delegations (docs/standard.md §7.1) for the tests: each a change to a
trust list's Guangzhou entry, made with the real keys of a data directory, so that the changed
delegation is the only thing a verifier can refuse (the list is signed again by the real national
key).  Shared by the in-process tests and the browser's, which must refuse the same ones."""
from __future__ import annotations

import copy
import json
from typing import Callable

from standard import delegation, jose, trustlist

CITY, PROVINCE, OTHER_CITY = "440100", "440000", "440300"      # Guangzhou and Shenzhen, of Guangdong

Change = Callable[[dict, dict], None]          # (the city's entry, the whole payload) → edited in place


def city_entry(payload: dict, city: str = CITY) -> dict:
    return next(i for i in payload["issuers"] if i["region"] == city)


def forged(keystore, now: int, signer_owner: str, typ: str = delegation.TYP, **changes) -> str:
    """A delegation for Guangzhou signed by ``signer_owner``'s active key, with ``changes``."""
    claims = delegation.claims(CITY, PROVINCE, ["4401"], ["dynamic", "offline"], now - 86400, now + 86400, now)
    signer = keystore.signer(signer_owner)
    body = json.dumps({**claims, **changes}, separators=(",", ":")).encode()
    return jose.encode(body, {"alg": signer.alg, "kid": signer.kid, "typ": typ}, signer.private_key)


def relisted(payload: dict, change: Change, national_signer) -> str:
    """``payload`` with ``change`` applied to Guangzhou's entry, signed by the national key."""
    edited = copy.deepcopy(payload)
    change(city_entry(edited), edited)
    return trustlist.sign(edited, national_signer)


def _set(**members) -> Change:
    return lambda entry, payload: entry.update(members)


def _drop(*members) -> Change:
    return lambda entry, payload: [entry.pop(m, None) for m in members]


def _revoke_province_keys(entry: dict, payload: dict) -> None:
    for key in city_entry(payload, PROVINCE)["keys"]:
        key["status"] = "revoked"


def _copy_other_city(entry: dict, payload: dict) -> None:
    entry["delegation"] = city_entry(payload, OTHER_CITY)["delegation"]


# name → (keystore, now) → change; every one must be refused with delegation_invalid
FORGERIES: dict[str, Callable[..., Change]] = {
    "signed by another province's key": lambda k, n: _set(delegation=forged(k, n, "310000")),
    "signed by the city's own key": lambda k, n: _set(delegation=forged(k, n, CITY)),
    "signed by the national key": lambda k, n: _set(delegation=forged(k, n, "national")),
    "expired": lambda k, n: _set(delegation=forged(k, n, PROVINCE, nbf=n - 9 * 86400, iat=n - 9 * 86400,
                                                   exp=n - 86400)),
    "not yet valid": lambda k, n: _set(delegation=forged(k, n, PROVINCE, nbf=n + 3600)),
    "for another city": lambda k, n: _set(delegation=forged(k, n, PROVINCE, city=OTHER_CITY)),
    "copied from another city's entry": lambda k, n: _copy_other_city,
    "from another province": lambda k, n: _set(delegation=forged(k, n, PROVINCE, parent="310000")),
    "kind not covered": lambda k, n: _set(delegation=forged(k, n, PROVINCE, kinds=["dynamic"])),
    "area not covered": lambda k, n: _set(delegation=forged(k, n, PROVINCE, areas=["4403"])),
    "area outside the province": lambda k, n: _set(delegation=forged(k, n, PROVINCE, areas=["4401", "3101"])),
    "a kind the standard lacks": lambda k, n: _set(delegation=forged(k, n, PROVINCE, kinds=["offline", "forever"])),
    "living past 90 days": lambda k, n: _set(delegation=forged(k, n, PROVINCE, exp=n + 91 * 86400)),
    "dated ahead to live past 90 days": lambda k, n: _set(delegation=forged(k, n, PROVINCE, iat=n + 3650 * 86400,
                                                                            exp=n + 3700 * 86400)),
    "altered signature": lambda k, n: _set(delegation=forged(k, n, PROVINCE)[:-4] + "AAAA"),
    "not a delegation (typ)": lambda k, n: _set(delegation=forged(k, n, PROVINCE, typ="JWT")),
    "no delegation": lambda k, n: _drop("delegation"),
    "no parent and no delegation": lambda k, n: _drop("parent", "delegation", "delegation_status"),
    "a parent in another province": lambda k, n: _set(parent="310000",
                                                      delegation=forged(k, n, "310000", parent="310000")),
    "an unknown status": lambda k, n: _set(delegation_status="paused"),
    "the province's key revoked": lambda k, n: _revoke_province_keys,
}
