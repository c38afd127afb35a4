"""Status rules and national claims for foreign health certificates (EU DCC, SMART Health Cards).

Foreign certificates state *events* (a test, a vaccination, a recovery), not a colour.  A
deployment decides what each event is worth in ``[format.<name>.rules]``; this module turns the
events into (status, reasons, valid_until) so the verdict says why, and a green from a test
ends when the test ages out.  :func:`national_claims` then writes the verdict in the national
standard's terms, the same way for every foreign format.  Pure functions.
"""
from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pybase64

HOUR = 3600
DAY = 86400

DEFAULT_RULES = {
    "negative_test_hours": 48,          # a negative test is green this long after sampling
    "vaccination_wait_days": 14,        # a completed series counts this long after the last dose
    "vaccination_valid_days": 365,
    "recovery": True,                   # a recovery certificate is green inside its own window
    "otherwise": "yellow",              # no event that counts
}


@dataclass(frozen=True)
class Event:
    type: str                   # test | vaccination | recovery
    at: int                     # sampling time, dose date, first positive result
    result: str | None = None   # tests: negative | positive
    complete: bool = False      # vaccination: dose n of n
    valid_from: int | None = None
    valid_until: int | None = None


def evaluate(events: list[Event], rules: dict | None, now: int) -> tuple[str, list[str], int | None]:
    """Worst-wins over events that currently count; ``valid_until`` caps the code's expiry."""
    r = {**DEFAULT_RULES, **(rules or {})}
    greens: list[tuple[str, int]] = []
    for event in events:
        if event.type == "test" and event.result == "positive" and now - event.at <= 14 * DAY:
            return "red", ["positive_test"], None
        if event.type == "test" and event.result == "negative":
            until = event.at + int(r["negative_test_hours"]) * HOUR
            if event.at - 60 <= now <= until:
                greens.append(("negative_test", until))
        elif event.type == "vaccination" and event.complete:
            start = event.at + int(r["vaccination_wait_days"]) * DAY
            until = event.at + int(r["vaccination_valid_days"]) * DAY
            if start <= now <= until:
                greens.append(("vaccinated", until))
        elif event.type == "recovery" and r["recovery"] and event.valid_from is not None:
            if event.valid_from <= now <= (event.valid_until or now):
                greens.append(("recovered", event.valid_until or now + DAY))
    if greens:
        reasons = list(dict.fromkeys(reason for reason, _ in greens))
        return "green", reasons, max(until for _, until in greens)
    return r["otherwise"], ["no_valid_certificate"], None


# --- national claims for a verified foreign certificate ----------------------------------------
DEFAULT_VERDICT_TTL = 86400      # exp when neither the certificate nor the rules give one


def digest_id(text: str, length: int) -> str:
    """A pseudonymous identifier: base64url SHA-256, cut to ``length`` characters (at most 43:
    the encoding's padding is never reached)."""
    return pybase64.urlsafe_b64encode(hashlib.sha256(text.encode("utf-8")).digest())[:min(length, 43)].decode("ascii")


def masked_name(family: str, given: str) -> str:
    """The holder as a checker compares them with a passport, like 张*丰 for a Chinese name: the
    family name as the certificate writes it and the initials of the given names
    (MUSTERMANN, ERIKA DOERTE → ``MUSTERMANN, E. D.``), within the schema's 64 characters.
    A certificate that names nobody reads ``无姓名 no name``."""
    family = " ".join(str(family or "").split())[:48]
    initials = " ".join(word[0] + "." for word in str(given or "").replace("-", " ").split())[:14].strip()
    masked = ", ".join(part for part in (family, initials) if part)
    return masked or "无姓名 no name"


def masked_birth_date(value: object) -> str:
    """1964-08-12 → 1964-**-** (1964-08 → 1964-**; 1964 stays): a checker compares the year with
    the face and the passport; the full date would identify the holder to anyone watching."""
    parts = str(value or "").strip()[:10].split("-")
    if not parts[0].isdigit() or len(parts[0]) != 4:
        return ""
    return "-".join([parts[0], *("**" for _ in parts[1:3])])


def foreign_holder(family: str, given: str, birth_date: object) -> dict:
    """What EU DCC and SMART verifier apps show a checker, as ``details.holder``: the name in
    Latin letters, "FAMILY, GIVEN" (ICAO transliteration for DCC), and the masked date of birth.
    Only in the verdict; a scan event never stores it."""
    return {"name_transliterated": _latin_name(family, given), "birth_date_masked": masked_birth_date(birth_date)}


def _latin_name(family: str, given: str) -> str:
    """"FAMILY, GIVEN" as :func:`foreign_holder` shows it, at most 120 characters."""
    return ", ".join(" ".join(str(part or "").split()) for part in (family, given) if str(part or "").strip())[:120]


def holder_views(family: str, given: str, birth_date: object) -> tuple[str, dict, dict]:
    """(:func:`masked_name`, :func:`foreign_holder`, :func:`verdict_holder`) of one person, each
    mask computed once: what a verdict of a foreign certificate carries."""
    masked, birth = masked_name(family, given), masked_birth_date(birth_date)
    return masked, {"name_transliterated": _latin_name(family, given), "birth_date_masked": birth}, \
        {"name_masked": masked, "birth_date_masked": birth}


def verdict_holder(family: str, given: str, birth_date: object) -> dict:
    """The verdict's ``holder`` for a foreign certificate: the same person as ``details.holder``,
    masked — ``name_masked`` and ``birth_date_masked``, and no ``id_masked``: a foreign
    certificate carries no Chinese ID number, and the verdict does not pretend it does."""
    return {"name_masked": masked_name(family, given), "birth_date_masked": masked_birth_date(birth_date)}


def national_claims(*, region: str, sub: str, jti: str, issued: int, expires: int | None,
                    valid_until: int | None, status: str, reasons: list, name_masked: str, now: int,
                    ttl: int = DEFAULT_VERDICT_TTL) -> dict:
    """exp = the earlier of the certificate's own expiry and the rules' ``valid_until``, else a
    verdict lifetime of ``ttl`` from now; always after iat.  ``name_masked`` is
    :func:`masked_name`'s.  The claims schema needs an ``id_masked``: foreign certificates carry
    no Chinese ID number, hence "*" and ``id_type`` unspecified — claims only, never shown (the
    verdict's holder is :func:`verdict_holder`)."""
    ends = [t for t in (expires, valid_until) if t is not None]
    exp = min(ends) if ends else max(now, issued) + ttl
    return {
        "ver": "1.0", "region": region, "sub": sub, "jti": jti, "iat": issued,
        "exp": max(exp, issued + 1), "kind": "offline", "status": status, "reasons": list(reasons),
        "name_masked": name_masked, "id_masked": "*", "id_type": "unspecified",
    }
