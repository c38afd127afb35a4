"""A foreign EU DCC's colour from the EU business rules this deployment imported.

The data manager imports rule sets per country of arrival (``healthcode rules import``); they
ride in the signed trust list as ``dcc_rules`` with the value sets, so an offline verifier runs
exactly the rules the gateway runs.  The deployment names its country of arrival in
``[format.eu_dcc] country_of_arrival``.  When rules for that country are imported and some
apply to the certificate, they decide:

* every applicable rule passes → green, the reason the certificate's event gives
  (``vaccinated``, ``negative_test``, ``recovered``);
* a rule fails or stays open (its Logic raised an error) → not green: red when the certificate
  itself is a recent positive test (as :mod:`.foreign_rules` says), else the deployment's
  ``otherwise`` colour, reason ``no_valid_certificate``; the verdict's details name each failed
  rule's identifier and description.

Without imported rules for the country (or none that applies now), :mod:`.foreign_rules`
decides alone — :func:`decide` returns None.  Invalidation rules of the certificate's
issuing country are run too when that country's rules are imported.
"""
from __future__ import annotations

from typing import Callable
import json
from dataclasses import dataclass, field

from adapters.eu_dcc import certlogic, certlogic_clock
from adapters.eu_dcc import rules as dccrules
from adapters import foreign_rules
from adapters.foreign_rules import Event
from standard.trustlist import TrustList

EVENT_REASONS = {"v": "vaccinated", "t": "negative_test", "r": "recovered"}
HORIZON = 400 * 86400          # a certificate without exp: look this far ahead for its green's end
RESOLUTION = 3600              # a green's end is found to the hour (and never later than it is)
# CertLogic steps all the rules of one verification may take together, the green-end search
# included: one rule may take certlogic.MAX_STEPS, ten of them re-run ~14 times took 31 s.
# The German rule set takes a few thousand; past this the verdict is rules_budget_exceeded.
VERIFICATION_STEPS = 400_000
# Instants at which the clock-comparing rules are re-run to find where a green ends (EU test
# rules turn once: at now and at the turn); past this the search bisects them instead.
MAX_TURNS = 6


def green_until(passes: Callable[[int], bool], now: int, horizon: int) -> int:
    """When a green from rules ends: the last instant (to the hour, searching up to
    ``horizon``) at which every rule still passes, found by bisection (~14 re-runs).  A test's
    green thus ends when the country's rules say the test has aged out, as the table's does —
    which keeps printed and transcoded codes from outliving it.  Assumes a passing certificate,
    once failing, does not pass again (true of ageing rules); if it did, the earlier end counts.
    Only the rules that read ``external.validationClock`` are asked; without any, a green from
    rules does not end before the certificate.  ``passes`` is cheap when :func:`green_end` found
    the end: the bisection then only rounds it as it always has."""
    if passes(horizon):
        return horizon
    good, bad = now, horizon
    while bad - good > RESOLUTION:
        middle = (good + bad) // 2
        good, bad = (middle, bad) if passes(middle) else (good, middle)
    return good


def green_end(rules: list[dict], payload: dict, external: dict, now: int, horizon: int,
              budget: certlogic.Budget, turns_now: set[int] | None = None) -> tuple[bool, int | None]:
    """For rules that read the clock only in date comparisons: (found, end) — the first instant in
    (now, horizon] at which not all of them pass, or None when they pass throughout.  Each run
    reports the instants where a comparison it made could turn; between them the rules cannot
    change their answer, so only those instants are run (typically one).  found is False after
    MAX_TURNS runs (the caller then bisects these rules).  ``turns_now``: the turns of these
    rules' passing run at ``now``, when the caller has them (that run is then not repeated)."""
    t = now
    for _ in range(MAX_TURNS):
        if t == now and turns_now is not None:
            ok, turns = True, turns_now
        else:
            ok, turns = dccrules.all_pass_with_turns(rules, payload,
                                                     {**external, "validationClock": dccrules.stamp(t)}, budget)
        if not ok:
            return True, t
        later = [x for x in turns if t < x <= horizon]
        if not later:
            return True, None
        t = min(later)
    return False, None


@dataclass(frozen=True)
class RuleBook:
    rules: dict            # country → [rule]
    value_sets: dict       # valueSetId → [codes]
    clocked: frozenset = frozenset()     # (country, Identifier, Version) of rules that read the clock
    traceable: frozenset = frozenset()   # those of them that read it only in date comparisons (green_end)
    # certificate → what these rules said of it, and for which instants that holds (see decide)
    judged: dict = field(default_factory=dict, compare=False, repr=False)

    @classmethod
    def build(cls, section: dict) -> "RuleBook":
        """The trust list's ``dcc_rules`` section; rules that no longer parse are dropped (a
        broken entry must not stop verification — it simply decides nothing)."""
        rules = {}
        for country, items in (section.get("rules") or {}).items():
            kept = []
            for item in items if isinstance(items, list) else []:
                try:
                    kept.append(dccrules.parse_rule(item, country))
                except Exception:           # noqa: BLE001
                    continue
            if kept:
                rules[country] = kept
        value_sets = section.get("value_sets")
        clocked = frozenset((r["Country"], r["Identifier"], r["Version"]) for kept in rules.values()
                            for r in kept if "validationClock" in json.dumps(r["Logic"]))
        traceable = frozenset((r["Country"], r["Identifier"], r["Version"]) for kept in rules.values()
                              for r in kept if (r["Country"], r["Identifier"], r["Version"]) in clocked
                              and certlogic_clock.reads_clock_only_in_comparisons(r["Logic"]))
        return cls(rules, value_sets if isinstance(value_sets, dict) else {}, clocked, traceable)


def rule_book(trust: TrustList) -> RuleBook:
    return trust.section_index("dcc_rules", RuleBook.build)


# Certificates whose judgement a rule book keeps (a few hundred bytes each).
MAX_JUDGED = 4096


@dataclass
class Judgement:
    """What the chosen rules said of one certificate, valid for every clock in [since, before):
    the run at ``now`` reported every instant at which a clock comparison it made could turn,
    and between two of them each rule takes the same path to the same value.  ``end`` is the
    green's end (:func:`green_end`) once computed; it follows from the same runs."""
    since: float
    before: float
    outcomes: list
    end: tuple[bool, int | None] | None = None


def decide(trust: TrustList, country_of_arrival: str | None, payload: dict, kind: str, issuer_country: str,
           iat: int | None, exp: int | None, events: list[Event], now: int,
           options: dict | None = None, certificate: bytes | None = None) -> tuple[str, list[str], int | None, dict] | None:
    """(status, reasons, valid_until, details) from the imported rules, or None.  ``certificate``:
    the bytes ``payload`` was decoded from; given, the rules' judgement of it is kept in the rule
    book while the clock stays between the instants where it could turn, so a certificate
    scanned again is not re-run through the same rules (the same answers: the kept judgement is
    the one a run would give)."""
    if not country_of_arrival:
        return None
    book = rule_book(trust)
    certificate_type = dccrules.ENTRY_TYPES[kind]
    chosen = dccrules.applicable(book.rules.get(country_of_arrival, ()), "Acceptance", certificate_type, now)
    if not chosen:
        return None
    chosen += dccrules.applicable(book.rules.get(issuer_country, ()), "Invalidation", certificate_type, now)
    external = dccrules.external_data(now, book.value_sets, country_of_arrival, issuer_country, iat, exp)
    budget = certlogic.Budget(VERIFICATION_STEPS)          # every evaluation below draws on it
    keys = [(r["Country"], r["Identifier"], r["Version"]) for r in chosen]
    traced = [r for r, k in zip(chosen, keys) if k in book.traceable]
    bisected = [r for r, k in zip(chosen, keys) if k in book.clocked and k not in book.traceable]
    horizon = exp if exp is not None and exp > now else now + HORIZON
    # rules that read the clock otherwise are bisected afresh: no interval is known for them
    memo = None if certificate is None or bisected else \
        (certificate, kind, country_of_arrival, issuer_country, iat, exp, horizon, tuple(map(id, chosen)))
    judged = book.judged.get(memo) if memo is not None else None
    if judged is None or not judged.since <= now < judged.before:
        turns_now: set[int] = set()
        outcomes = dccrules.run(chosen, payload, external, budget, {id(r) for r in traced}, turns_now)
        judged = Judgement(max((t for t in turns_now if t <= now), default=float("-inf")),
                           min((t for t in turns_now if t > now), default=float("inf")), outcomes)
        # an open rule stopped part-way: the instants it would have reported are unknown
        if memo is not None and all(o.result != "open" for o in outcomes):
            if len(book.judged) >= MAX_JUDGED:
                book.judged.clear()
            book.judged[memo] = judged
        turns = turns_now
    else:
        turns = None                      # the run at now is not repeated; green_end reads end
    outcomes = judged.outcomes
    failed = [o for o in outcomes if o.result != "passed"]
    own_status, own_reasons, _ = foreign_rules.evaluate(events, options, now)
    details = {"country_of_arrival": country_of_arrival, "checked": len(outcomes),
               "passed": len(outcomes) - len(failed), "failed": [o.as_dict() for o in failed]}
    if own_status == "red":
        return "red", own_reasons, None, details
    if not failed:
        until = None
        if traced or bisected:
            if judged.end is None:
                judged.end = green_end(traced, payload, external, now, horizon, budget, turns) if traced \
                    else (True, None)
            found, end = judged.end
            if not found:
                bisected, end = traced + bisected, None
            until = green_until(lambda t: (end is None or t < end) and (not bisected or dccrules.all_pass(
                bisected, payload, {**external, "validationClock": dccrules.stamp(t)}, budget)), now, horizon)
        return "green", [EVENT_REASONS[kind]], until, details
    otherwise = {**foreign_rules.DEFAULT_RULES, **(options or {})}["otherwise"]
    return (otherwise if otherwise != "green" else "yellow"), ["no_valid_certificate"], None, details
