"""Stage 3, the FHIR bundle: the holder, the immunization and test events, and the national claims
a verdict carries."""
from __future__ import annotations

from typing import Collection, Iterable
import re
from dataclasses import dataclass
from datetime import date, datetime, timezone


from adapters import foreign_rules
from adapters.foreign_rules import DEFAULT_VERDICT_TTL, Event
from adapters.shc.card import Card
from adapters.shc.numeric import COVID_CVX, COVID_LOINC, COVID_TYPE, CVX, FINAL_OBSERVATION, LOINC, MAX_CODINGS, MAX_NAME_CHARS, NEGATIVE_RESULTS, POSITIVE_RESULTS, SINGLE_DOSE_CVX, SNOMED

# === FHIR → events ================================================================================
_FHIR_DATE = re.compile(r"([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?", re.ASCII)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def fhir_time(value: object) -> int | None:
    """FHIR date / dateTime → epoch seconds (dates and naive times taken as UTC); None if unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        match = _FHIR_DATE.fullmatch(value)
        if match:
            y, m, d = match.groups()        # whole days since 1970-01-01: midnight UTC's timestamp
            return (date(int(y), int(m or 1), int(d or 1)).toordinal() - _EPOCH_ORDINAL) * 86400
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        return int(parsed.timestamp())
    except (ValueError, OverflowError):
        return None


def _codings(concept: object) -> list[tuple[str, str]]:
    codings = concept.get("coding") if isinstance(concept, dict) else None
    if not isinstance(codings, list):
        return []
    out = []
    for coding in codings[:MAX_CODINGS]:
        if isinstance(coding, dict):
            system, code = coding.get("system"), coding.get("code")
            if isinstance(system, str) and isinstance(code, str):
                out.append((system, code))
    return out


def resources(bundle: dict) -> list[dict]:
    return [e["resource"] for e in bundle.get("entry", [])
            if isinstance(e, dict) and isinstance(e.get("resource"), dict)]


def _patient(bundle: dict) -> dict:
    """The first Patient resource; {} if there is none."""
    return next((res for res in resources(bundle) if res.get("resourceType") == "Patient"), {})


def _first_name(patient: dict) -> dict:
    names = patient.get("name")
    return names[0] if isinstance(names, list) and names and isinstance(names[0], dict) else {}


def holder(bundle: dict) -> tuple[str, str]:
    """(``"given family"``, birthDate) of the first Patient; ``("", "")`` if there is none."""
    for res in resources(bundle):
        if res.get("resourceType") != "Patient":
            continue
        name = ""
        names = res.get("name")
        if isinstance(names, list) and names and isinstance(names[0], dict):
            first = names[0]
            given, family, text = first.get("given"), first.get("family"), first.get("text")
            parts = [g for g in given if isinstance(g, str)] if isinstance(given, list) else []
            parts.append(family if isinstance(family, str) else "")
            name = " ".join(parts).strip() or (text if isinstance(text, str) else "")
        birth_date = res.get("birthDate")
        birth = birth_date if isinstance(birth_date, str) else ""
        return " ".join(name.split())[:MAX_NAME_CHARS], birth[:20]
    return "", ""


def name_parts(bundle: dict) -> tuple[str, str]:
    """(family, given) of the first Patient's first name, as SMART verifier apps show them; a
    name given only as ``text`` counts its last word as the family name."""
    first = _first_name(_patient(bundle))
    given = first.get("given")
    given = " ".join(g for g in given if isinstance(g, str)) if isinstance(given, list) else ""
    family_value = first.get("family")
    family: str = family_value if isinstance(family_value, str) else ""
    if not (family.strip() or given.strip()) and isinstance(first.get("text"), str):
        *given_words, family = first["text"].split() or [""]
        given = " ".join(given_words)
    return " ".join(family.split())[:MAX_NAME_CHARS], " ".join(given.split())[:MAX_NAME_CHARS]


@dataclass(frozen=True)
class Facts:
    events: tuple[Event, ...]
    immunizations: int
    series_complete: bool
    lab_results: int
    vaccine_codes: tuple[str, ...]


def events_from_bundle(bundle: dict, card_types: Collection[str] = (),
                       single_dose_cvx: Iterable[str] = SINGLE_DOSE_CVX) -> Facts:
    """Completed COVID-19 immunizations and final COVID-19 lab results → foreign_rules events.

    An Immunization counts when its CVX code is a COVID-19 vaccine, or any code when the card is
    typed ``#covid19``.  The series is complete from the 2nd counted dose on, or at a dose of a
    single-dose vaccine (CVX 212).  An Observation counts when it is final, has a LOINC SARS-CoV-2
    test code (or the card is typed ``#covid19``) and a SNOMED negative/positive result.
    Resources without a readable date are ignored (they never make anyone green)."""
    covid_card = COVID_TYPE in card_types
    doses: list[tuple[int, bool, str | None]] = []
    tests: list[Event] = []
    for res in resources(bundle):
        kind = res.get("resourceType")
        if kind == "Immunization" and res.get("status") == "completed":
            codes = _codings(res.get("vaccineCode"))
            cvx = [code for system, code in codes if system == CVX]
            if not (covid_card or COVID_CVX.intersection(cvx)):
                continue
            at = fhir_time(res.get("occurrenceDateTime"))
            if at is not None:
                doses.append((at, bool(set(single_dose_cvx).intersection(cvx)), cvx[0] if cvx else None))
        elif kind == "Observation" and res.get("status") in FINAL_OBSERVATION:
            loinc = {code for system, code in _codings(res.get("code")) if system == LOINC}
            if not (covid_card or COVID_LOINC.intersection(loinc)):
                continue
            results = {code for system, code in _codings(res.get("valueCodeableConcept")) if system == SNOMED}
            result = ("positive" if POSITIVE_RESULTS & results else
                      "negative" if NEGATIVE_RESULTS & results else None)
            at = fhir_time(res.get("effectiveDateTime"))
            if result and at is not None:
                tests.append(Event("test", at, result=result))
    doses.sort(key=lambda d: d[0])
    vaccinations, complete = [], False
    for number, (at, single, _) in enumerate(doses, 1):
        complete = complete or single or number >= 2
        vaccinations.append(Event("vaccination", at, complete=complete))
    vaccine_codes = tuple(dict.fromkeys(code for _, _, code in doses if code))
    return Facts(tuple(vaccinations + tests), len(doses), complete, len(tests), vaccine_codes)


# === national claims ========================================================================
def subject_id(iss: str, name: str, birth_date: str) -> str:
    return foreign_rules.digest_id(f"shc:{iss}|{name}|{birth_date}", 24)


def code_id(token: str) -> str:
    return foreign_rules.digest_id(token, 22)


def to_claims(token: str, card: Card, name: str, birth_date: str, status: str, reasons: list,
              valid_until: int | None, now: int, region: str, ttl: int = DEFAULT_VERDICT_TTL, *,
              name_masked: str | None = None) -> dict:
    """The national claims; ``name_masked`` is the masked :func:`name_parts`, computed here
    unless the caller has it."""
    return foreign_rules.national_claims(
        region=region, sub=subject_id(card.iss, name, birth_date), jti=code_id(token),
        issued=card.nbf, expires=card.exp, valid_until=valid_until, status=status,
        reasons=reasons, name_masked=name_masked or foreign_rules.masked_name(*name_parts(card.bundle)),
        now=now, ttl=ttl)


