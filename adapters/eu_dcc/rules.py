"""EU DCC business rules in the EU's own rule format, and the value sets they read.  Pure.

A rule (as the EU DCC gateway distributes it, eu-dcc-business-rules ``rule.json``)::

    {"Identifier": "VR-DE-0001", "Type": "Acceptance", "Country": "DE", "Version": "1.0.0",
     "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5",
     "CertificateType": "Vaccination", "Description": [{"lang": "en", "desc": "…"}],
     "ValidFrom": RFC3339, "ValidTo": RFC3339, "AffectedFields": ["v.0.dn", …],
     "Logic": <CertLogic expression>}

*Acceptance* rules are the country of arrival's entry conditions; *Invalidation* rules are a
country of issuance's withdrawals of its own certificates.  A rule applies to a certificate when
its CertificateType is ``General`` or the certificate's type, and the validation clock lies in
[ValidFrom, ValidTo); of the versions of one Identifier the highest valid one counts.  A rule
passes when its Logic evaluates to ``true`` on ``{"payload": DCC, "external": {...}}``; any
other value fails it, and an evaluation error leaves it *open* (failed too: the specification
advises ``false`` on error; EU verifier apps show such a rule as open).

Value sets are imported in the EU's form (``{"valueSetId", "valueSetValues": {code: …}}``) or
already compressed (``{id: [codes]}``) and handed to rules compressed, as the EU apps do.
"""
from __future__ import annotations

from typing import Container, Iterable, Sequence
import re
from dataclasses import dataclass
from functools import lru_cache

from standard import parse_rfc3339
from adapters.eu_dcc import certlogic, certlogic_clock
from standard.errors import CertLogicInvalid, HealthCodeError, RuleSetInvalid, RulesBudgetExceeded

RULE_TYPES = ("Acceptance", "Invalidation")
CERTIFICATE_TYPES = ("General", "Test", "Vaccination", "Recovery")
ENTRY_TYPES = {"v": "Vaccination", "t": "Test", "r": "Recovery"}
MAX_RULES_PER_COUNTRY = 500          # countries publish a few dozen
MAX_RULE_CHARS = 100_000             # the largest EU rule is ~5 KB of JSON
MAX_VALUE_SETS = 100
MAX_VALUE_SET_CODES = 5_000
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_VERSION = re.compile(r"(\d{1,6})\.(\d{1,6})\.(\d{1,6})", re.ASCII)
_SHORT_TEXT = re.compile(r"[\x20-\x7e]{1,64}", re.ASCII)


# --- reading rules --------------------------------------------------------------------------
def parse_rule(rule: object, country: str | None = None) -> dict:
    """A rule in the EU format, checked; its Logic validated as CertLogic.  ``country``: the
    country of arrival it is imported for (its Country must say the same)."""
    if not isinstance(rule, dict):
        raise RuleSetInvalid("a business rule must be a JSON object")
    ident = _text(rule, "Identifier")
    where = f"rule {ident}"
    kind = _choice(rule, "Type", RULE_TYPES, where)
    rule_country = _text(rule, "Country", where)
    if not _COUNTRY.fullmatch(rule_country):
        raise RuleSetInvalid(f"{where}: Country must be two capital letters (ISO 3166-1)")
    if country is not None and rule_country != country:
        raise RuleSetInvalid(f"{where} is a rule of {rule_country}, not of {country}")
    version = _text(rule, "Version", where)
    if not _VERSION.fullmatch(version):
        raise RuleSetInvalid(f"{where}: Version must be a semantic version like 1.0.0")
    engine = _text(rule, "Engine", where)
    if engine.upper() != "CERTLOGIC":
        raise RuleSetInvalid(f"{where}: Engine {engine!r} is not supported (only CERTLOGIC)")
    cert_type = _choice(rule, "CertificateType", CERTIFICATE_TYPES, where)
    valid_from, valid_to = (_time(rule, key, where) for key in ("ValidFrom", "ValidTo"))
    if valid_to <= valid_from:
        raise RuleSetInvalid(f"{where}: ValidTo must be after ValidFrom")
    description = rule.get("Description")
    if not isinstance(description, list) or not description or not all(
            isinstance(d, dict) and isinstance(d.get("lang"), str) and isinstance(d.get("desc"), str)
            and len(d["lang"]) <= 16 and len(d["desc"]) <= 2000 for d in description) or len(description) > 64:
        raise RuleSetInvalid(f"{where}: Description must be a list of {{lang, desc}}")
    fields = rule.get("AffectedFields", [])
    if not isinstance(fields, list) or len(fields) > 200 or \
            not all(isinstance(f, str) and len(f) <= 128 for f in fields):
        raise RuleSetInvalid(f"{where}: AffectedFields must be a list of field paths")
    if "Logic" not in rule:
        raise RuleSetInvalid(f"{where} has no Logic")
    try:
        certlogic.validate(rule["Logic"])
    except CertLogicInvalid as exc:
        raise RuleSetInvalid(f"{where}: Logic is not valid CertLogic: {exc.message}") from None
    out = {"Identifier": ident, "Type": kind, "Country": rule_country, "Version": version,
           "SchemaVersion": str(rule.get("SchemaVersion", ""))[:32], "Engine": "CERTLOGIC",
           "EngineVersion": str(rule.get("EngineVersion", ""))[:32], "CertificateType": cert_type,
           "Description": [{"lang": d["lang"], "desc": d["desc"]} for d in description],
           "ValidFrom": rule["ValidFrom"], "ValidTo": rule["ValidTo"],
           "AffectedFields": list(fields), "Logic": rule["Logic"]}
    if len(repr(out)) > MAX_RULE_CHARS:
        raise RuleSetInvalid(f"{where} is larger than {MAX_RULE_CHARS} characters")
    return out


def parse_rule_set(value: object, country: str) -> list[dict]:
    """A country's rules: a list of rules, ``{"rules": [...]}``, or one rule."""
    if not isinstance(country, str) or not _COUNTRY.fullmatch(country):
        raise RuleSetInvalid("country must be two capital letters (ISO 3166-1), e.g. DE")
    if isinstance(value, dict) and "rules" in value:
        value = value["rules"]
    rules = value if isinstance(value, list) else [value]
    if not rules or len(rules) > MAX_RULES_PER_COUNTRY:
        raise RuleSetInvalid(f"a rule set holds 1 to {MAX_RULES_PER_COUNTRY} rules")
    parsed = [parse_rule(rule, country) for rule in rules]
    keys = [(r["Identifier"], r["Version"]) for r in parsed]
    if len(set(keys)) != len(keys):
        raise RuleSetInvalid("a rule set lists the same Identifier and Version twice")
    return parsed


def parse_value_sets(documents: object) -> dict[str, list[str]]:
    """Value set documents (EU form or compressed) → ``{valueSetId: [codes]}``."""
    documents = documents if isinstance(documents, list) else [documents]
    out: dict[str, list[str]] = {}
    for doc in documents:
        if isinstance(doc, dict) and "valueSetId" in doc:
            values = doc.get("valueSetValues")
            if not isinstance(values, dict):
                raise RuleSetInvalid("a value set needs valueSetValues (an object of codes)")
            pairs = [(doc["valueSetId"], list(values))]
        elif isinstance(doc, dict):
            pairs = list(doc.items())
        else:
            raise RuleSetInvalid("a value set must be a JSON object")
        for vs_id, codes in pairs:
            if not isinstance(vs_id, str) or not _SHORT_TEXT.fullmatch(vs_id):
                raise RuleSetInvalid("a valueSetId is short printable text")
            if not isinstance(codes, list) or len(codes) > MAX_VALUE_SET_CODES or \
                    not all(isinstance(c, str) and 0 < len(c) <= 128 for c in codes):
                raise RuleSetInvalid(f"value set {vs_id}: codes must be a list of at most "
                                     f"{MAX_VALUE_SET_CODES} short strings")
            out[vs_id] = codes
    if not out or len(out) > MAX_VALUE_SETS:
        raise RuleSetInvalid(f"give 1 to {MAX_VALUE_SETS} value sets")
    return out


# --- choosing and running rules --------------------------------------------------------------
def version_key(rule: dict) -> tuple[int, ...]:
    """A parsed rule's Version (parse_rule checked its form) as numbers, for ordering."""
    match = _VERSION.fullmatch(rule["Version"])
    if match is None:
        raise RuleSetInvalid(f"rule {rule.get('Identifier')}: Version must be <major>.<minor>.<patch>")
    return tuple(int(part) for part in match.groups())


# A rule book's few dozen validity instants and versions, read once, not on every scan.
@lru_cache(maxsize=1024)
def _instant(text: str) -> int:
    return parse_rfc3339(text)


@lru_cache(maxsize=1024)
def _version(text: str) -> tuple[int, ...]:
    return version_key({"Version": text})


def applicable(rules: Iterable[dict], kind: str, certificate_type: str, now: int) -> list[dict]:
    """The rules of one Type for this certificate type at ``now``: per Identifier the highest
    Version valid then, in Identifier order (so reasons come out the same everywhere)."""
    chosen: dict[str, dict] = {}
    for rule in rules:
        if rule["Type"] != kind or rule["CertificateType"] not in ("General", certificate_type):
            continue
        if not _instant(rule["ValidFrom"]) <= now < _instant(rule["ValidTo"]):
            continue
        best = chosen.get(rule["Identifier"])
        if best is None or _version(rule["Version"]) > _version(best["Version"]):
            chosen[rule["Identifier"]] = rule
    return [chosen[ident] for ident in sorted(chosen)]


@dataclass(frozen=True)
class Outcome:
    identifier: str
    version: str
    country: str
    type: str
    result: str                    # passed | failed | open
    description: str               # English where given
    error: str | None = None       # open: the CertLogic error code

    def as_dict(self) -> dict:
        out = {"identifier": self.identifier, "version": self.version, "country": self.country,
               "type": self.type, "result": self.result, "description": self.description}
        if self.error:
            out["error"] = self.error
        return out


def description(rule: dict, lang: str = "en") -> str:
    texts = {d["lang"]: d["desc"] for d in rule["Description"]}
    return texts.get(lang) or rule["Description"][0]["desc"]


def run(rules: Iterable[dict], payload: dict, external: dict,
        budget: certlogic.Budget | None = None, traced: Container[int] = (),
        turns: set[int] | None = None) -> list[Outcome]:
    """Every rule on one certificate: ``data = {"payload": DCC, "external": external}``.
    The rules come from :func:`parse_rule`, which validated their Logic once.  A rule's own
    error leaves it *open*; a spent ``budget`` (RulesBudgetExceeded) ends the whole run.
    Rules whose ``id()`` is in ``traced`` (they read the clock only in comparisons) add the
    instants where they could turn to ``turns`` (:func:`all_pass_with_turns`)."""
    data = {"payload": payload, "external": external}
    outcomes = []
    for rule in rules:
        try:
            if turns is not None and id(rule) in traced:
                value, more = certlogic_clock.evaluate_with_turns(rule["Logic"], data, budget=budget)
                turns |= more
            else:
                value = certlogic.evaluate(rule["Logic"], data, validated=True, budget=budget)
            result, error = ("passed" if value is True else "failed"), None
        except RulesBudgetExceeded:
            raise
        except HealthCodeError as exc:
            result, error = "open", exc.code
        outcomes.append(Outcome(rule["Identifier"], rule["Version"], rule["Country"], rule["Type"],
                                result, description(rule), error))
    return outcomes


def external_data(now: int, value_sets: dict, country_of_arrival: str, issuer_country: str | None,
                  iat: int | None, exp: int | None) -> dict:
    """The ``external`` part of a rule's data, with the members EU verifier apps pass."""
    return {"validationClock": stamp(now), "valueSets": value_sets,
            "countryCode": country_of_arrival, "issuerCountryCode": issuer_country,
            "iat": stamp(iat), "exp": stamp(exp)}


@lru_cache(maxsize=1024)
def stamp(t: int | None) -> str | None:
    """Epoch seconds → the ``YYYY-MM-DDThh:mm:ss.sssZ`` rules read (a pure function, kept for
    the certificate's iat and exp and the current second)."""
    return None if t is None else certlogic.DateTime(int(t) * 1000).isoformat()


def all_pass(rules: Iterable[dict], payload: dict, external: dict,
             budget: certlogic.Budget | None = None) -> bool:
    """:func:`run` that stops at the first rule that does not pass (a spent ``budget`` raises)."""
    data = {"payload": payload, "external": external}
    for rule in rules:
        try:
            if certlogic.evaluate(rule["Logic"], data, validated=True, budget=budget) is not True:
                return False
        except RulesBudgetExceeded:
            raise
        except HealthCodeError:
            return False
    return True


def all_pass_with_turns(rules: Iterable[dict], payload: dict, external: dict,
                        budget: certlogic.Budget | None = None) -> tuple[bool, set[int]]:
    """:func:`all_pass` of rules that read the clock only in comparisons
    (:func:`certlogic_clock.reads_clock_only_in_comparisons`), plus the instants at which one of the
    comparisons made could turn: until the clock reaches one, the answer stays the same."""
    data = {"payload": payload, "external": external}
    turns: set[int] = set()
    for rule in rules:
        try:
            value, more = certlogic_clock.evaluate_with_turns(rule["Logic"], data, budget=budget)
        except RulesBudgetExceeded:
            raise
        except HealthCodeError:
            return False, turns
        turns |= more
        if value is not True:
            return False, turns
    return True, turns


# --- helpers --------------------------------------------------------------------------------
def _text(rule: dict, key: str, where: str = "rule") -> str:
    value = rule.get(key)
    if not isinstance(value, str) or not _SHORT_TEXT.fullmatch(value):
        raise RuleSetInvalid(f"{where}: {key} must be short printable text")
    return value


def _choice(rule: dict, key: str, allowed: Sequence[str], where: str) -> str:
    """One of ``allowed``, in its canonical spelling (the EU gateway's listings write
    ``ACCEPTANCE`` and ``GENERAL`` where the rule files write ``Acceptance`` and ``General``)."""
    value = rule.get(key)
    for choice in allowed:
        if isinstance(value, str) and value.lower() == choice.lower():
            return choice
    raise RuleSetInvalid(f"{where}: {key} must be one of {', '.join(allowed)}")


def _time(rule: dict, key: str, where: str) -> int:
    value = rule.get(key)
    if isinstance(value, str):
        try:
            return parse_rfc3339(value)
        except (HealthCodeError, ValueError):
            pass
    raise RuleSetInvalid(f"{where}: {key} must be an RFC 3339 date-time")
