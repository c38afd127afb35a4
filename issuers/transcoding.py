"""Re-deciding a colour under another region's rules.  Pure functions.

A code carries reasons, not the facts behind them.  Each reason that stands for a fact becomes
that fact again, dated at the source code's issue time (the latest moment we know it was
true), and the target region's rules decide.  Reasons that stand for a decision rather than a
fact (an issuer's override, a foreign certificate's verdict) cannot be re-decided: for those the
source colour is kept as a floor, so transcoding never launders a red into a green.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable, Sequence

from standard import rules
import standard

FACT_OF_REASON: dict[str, Callable[[str], dict[str, Any]]] = {
    "positive_test": lambda at: {"tests": [{"result": "positive", "at": at}]},
    "close_contact": lambda at: {"close_contact": True},
    "high_risk_travel": lambda at: {"travel": [{"risk": "high", "left_at": at}]},
    "medium_risk_travel": lambda at: {"travel": [{"risk": "medium", "left_at": at}]},
    "symptoms": lambda at: {"symptoms": True},
    "negative_test": lambda at: {"tests": [{"result": "negative", "at": at}]},
}
RE_DECIDED_BY_TARGET = {"no_recent_test", "transcoded"}


def facts_from_reasons(reasons: Iterable[str], at: int) -> dict:
    facts: dict = {}
    stamp = standard.rfc3339(at)
    for reason in reasons:
        if reason in FACT_OF_REASON:
            for key, value in FACT_OF_REASON[reason](stamp).items():
                facts[key] = facts.get(key, []) + value if isinstance(value, list) else value
    return facts


def redecide(target_rules: dict, source_status: str, source_reasons: Sequence[str], source_iat: int,
             now: int) -> tuple[str, list[str]]:
    status, reasons = rules.evaluate(target_rules, facts_from_reasons(source_reasons, source_iat), now)
    opaque = [r for r in source_reasons if r not in FACT_OF_REASON and r not in RE_DECIDED_BY_TARGET]
    if opaque and standard.SEVERITY[source_status] > standard.SEVERITY[status]:
        status = source_status
        reasons = reasons + [r for r in opaque if r not in reasons]
    if status == "green":
        reasons = []
    return status, reasons
