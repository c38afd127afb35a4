"""Regional issuing authorities: a person + health facts → a signed code in the region's format.

An :class:`Issuer` knows one region: its rules, its signing key and its native format.  It signs
only masked personal data and a pseudonymous subject id; the plain ID number never leaves here.

Issuers do not import the format adapters (they are siblings on the shared core): the
issuing service (gateway/services/issuing.py) hands each issuer a ``formats`` lookup, name →
:class:`CodeFormat` (what issuing needs of a format; ``adapters.issuing_format`` is that lookup,
and every ``adapters.contract.IssuingFormat`` is a :class:`CodeFormat`).  The rest of the issuing
side lives beside this module: signing keys
(:mod:`.keys`), pseudonyms (:mod:`.pseudonym`), personal data sealed at rest (:mod:`.seal`),
printed offline cards (:mod:`.printing`), re-deciding a colour for another region
(:mod:`.transcoding`).
"""
from __future__ import annotations

import secrets
import time
import unicodedata
from dataclasses import dataclass
from typing import Callable, Protocol

import standard
from issuers.keys import Signer
from issuers.pseudonym import Pseudonymizer
from standard import STANDARD_VERSION, idcard, rules
from issuers import transcoding
from standard.errors import BadRequest

ID_TYPES = ("resident", "passport", "hkmo_permit", "tw_permit", "macau_id", "hk_id", "foreign_permit")
MAX_NAME_CHARS = 64


@dataclass(frozen=True)
class Person:
    id_type: str
    id_number: str          # normalized; kept in memory only
    name: str

    def __repr__(self) -> str:               # never print personal data by accident
        return f"Person(id_type={self.id_type!r}, id={standard.mask_id(self.id_number)!r})"


def make_person(id_number: str, name: str | None, id_type: str = "resident",
                name_required: bool = True) -> Person:
    """Validate and normalize what a clerk or kiosk typed (a kiosk may not know the name)."""
    if id_type not in ID_TYPES:
        raise BadRequest(f"id_type must be one of {', '.join(ID_TYPES)}")
    if id_type == "resident":
        number = idcard.parse(id_number).number
    else:
        number = idcard.normalize_document(id_type, id_number)
    name = " ".join(unicodedata.normalize("NFC", str(name or "")).split())
    if not name and not name_required:
        return Person(id_type, number, "")
    if not name or len(name) > MAX_NAME_CHARS or not all(c.isprintable() for c in name):
        raise BadRequest(f"name must be 1-{MAX_NAME_CHARS} printable characters")
    return Person(id_type, number, name)


@dataclass(frozen=True)
class IssuedCode:
    qr_text: str
    claims: dict
    format: str
    answer: str | None = None       # online code: the signed status its region keeps and serves


class IssuingRegion(Protocol):
    """What an issuer reads of its region (``config.settings.Region`` is one)."""

    @property
    def code(self) -> str: ...

    @property
    def rules(self) -> dict: ...

    @property
    def format(self) -> str: ...

    @property
    def dynamic_ttl(self) -> int: ...

    @property
    def offline_ttl(self) -> int: ...

    @property
    def online_url(self) -> str: ...


class CodeFormat(Protocol):
    """What issuing needs of a code format."""

    @property
    def name(self) -> str: ...

    def issue(self, claims: dict, signer: Signer, online_url: str) -> tuple[str, str | None]:
        """(QR text, the signed status the region keeps for an online code, else None);
        BadRequest when the region cannot issue this format (an online code without
        ``online_url``)."""
        ...


class Issuer:
    def __init__(self, region: IssuingRegion, signer: Signer, pseudonymizer: Pseudonymizer,
                 formats: Callable[[str], CodeFormat]):
        self.region = region
        self.signer = signer
        self.pseudonymizer = pseudonymizer
        self.formats = formats
        self.adapter = formats(region.format)

    def subject(self, person: Person) -> str:
        return self.pseudonymizer.subject(person.id_type, person.id_number)

    def decide(self, facts: dict | None, status: str | None, now: int) -> tuple[str, list[str]]:
        """Rules decide, unless the issuer's staff set the colour by hand."""
        if status is None:
            return rules.evaluate(self.region.rules, facts, now)
        if status not in standard.STATUSES:
            raise BadRequest("status must be green, yellow or red")
        rules.check_facts(facts or {})
        return status, ([] if status == "green" else ["issuer_override"])

    def claims(self, person: Person, status: str, reasons: list[str], kind: str, now: int,
               extra: dict | None = None) -> dict:
        if kind not in standard.KINDS:
            raise BadRequest("kind must be dynamic or offline")
        ttl = self.region.dynamic_ttl if kind == "dynamic" else self.region.offline_ttl
        return {
            "ver": STANDARD_VERSION, "region": self.region.code, "sub": self.subject(person),
            "jti": secrets.token_urlsafe(12), "iat": now, "exp": now + ttl, "kind": kind,
            "status": status, "reasons": reasons, "name_masked": standard.mask_name(person.name),
            "id_masked": standard.mask_id(person.id_number), "id_type": person.id_type,
            **(extra or {}),
        }

    def transcoded_claims(self, source: dict, source_format: str, now: int) -> dict:
        """The claims of this region's code for a verified code of another region: the colour
        re-decided under this region's rules (issuers/transcoding.py), validity never longer
        than the source's, and ``prov`` naming the source and the first code of the chain."""
        status, reasons = transcoding.redecide(self.region.rules, source["status"], source["reasons"],
                                               source["iat"], now)
        prev = source.get("prov", {})
        prov = {"region": source["region"], "jti": source["jti"], "format": source_format,
                "origin_region": prev.get("origin_region", prev.get("region", source["region"])),
                "origin_jti": prev.get("origin_jti", prev.get("jti", source["jti"]))}
        ttl = self.region.dynamic_ttl if source["kind"] == "dynamic" else self.region.offline_ttl
        claims = {**{k: source[k] for k in ("sub", "name_masked", "id_masked", "id_type", "kind")},
                  "ver": source["ver"], "region": self.region.code, "jti": secrets.token_urlsafe(12),
                  "iat": now, "exp": min(source["exp"], now + ttl), "status": status,
                  "reasons": reasons + ["transcoded"], "prov": prov}
        if "dep" in source:
            claims["dep"] = source["dep"]
        return claims

    def sign(self, claims: dict, fmt: str | None = None) -> IssuedCode:
        adapter = self.formats(fmt) if fmt else self.adapter
        qr_text, answer = adapter.issue(claims, self.signer, self.region.online_url)
        return IssuedCode(qr_text, claims, adapter.name, answer)

    def issue(self, person: Person, facts: dict | None = None, status: str | None = None,
              kind: str = "dynamic", now: int | None = None, fmt: str | None = None,
              extra: dict | None = None) -> IssuedCode:
        now = int(now if now is not None else time.time())
        status, reasons = self.decide(facts, status, now)
        return self.sign(self.claims(person, status, reasons, kind, now, extra), fmt)
