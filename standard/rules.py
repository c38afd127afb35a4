"""A region's rules: health facts → (status, reasons).  Pure, so every rule is a table test.

Facts (docs/standard.md §5)::

    {"tests": [{"result": "negative"|"positive", "at": RFC3339}],
     "travel": [{"risk": "high"|"medium", "left_at": RFC3339}],
     "close_contact": bool,
     "symptoms": bool}

Rules (config/regions.toml ``[region.rules]``) say which colour each fact gives.  The code's
colour is the worst of them, and the reasons list every fact that counted.
"""
from __future__ import annotations

import re

from standard.errors import BadRequest
from standard import SEVERITY, parse_rfc3339, worst

DAY = 86400
FACT_KEYS = {"tests", "travel", "close_contact", "symptoms"}
MAX_FACT_ITEMS = 100


def evaluate(rules: dict, facts: dict | None, now: int) -> tuple[str, list[str]]:
    facts = check_facts(facts or {})
    found: list[tuple[str, str]] = []          # (status, reason)
    tests = sorted(facts.get("tests", []), key=lambda t: parse_rfc3339(t["at"]))
    if tests and tests[-1]["result"] == "positive":
        found.append((rules.get("positive_test", "red"), "positive_test"))
    if facts.get("close_contact"):
        found.append((rules.get("close_contact", "red"), "close_contact"))
    for level in ("high", "medium"):
        rule = rules.get(f"{level}_risk_travel")
        if rule and any(trip["risk"] == level and now - parse_rfc3339(trip["left_at"]) <= rule["days"] * DAY
                        for trip in facts.get("travel", [])):
            found.append((rule["status"], f"{level}_risk_travel"))
    if facts.get("symptoms"):
        found.append((rules.get("symptoms", "yellow"), "symptoms"))
    required = rules.get("test_required_days", 0)
    if required and not any(t["result"] == "negative" and now - parse_rfc3339(t["at"]) <= required * DAY
                            for t in tests):
        found.append(("yellow", "no_recent_test"))
    found = [(status, reason) for status, reason in found if status != "green"]
    found.sort(key=lambda item: -SEVERITY[item[0]])
    return worst(s for s, _ in found), [reason for _, reason in found]


def check_facts(facts: dict) -> dict:
    """Reject malformed facts with a clear message instead of guessing."""
    if not isinstance(facts, dict):
        raise BadRequest("facts must be an object")
    unknown = set(facts) - FACT_KEYS
    if unknown:
        # Named back only when it looks like a fact name: the key may be an ID number or a name.
        shown = sorted(unknown)[0]
        raise BadRequest(f"unknown fact {shown!r}" if re.fullmatch(r"[a-z_]{1,32}", str(shown))
                         else f"unknown fact (the facts are {', '.join(sorted(FACT_KEYS))})")
    for test in _items(facts, "tests"):
        if test.get("result") not in ("negative", "positive") or "at" not in test:
            raise BadRequest("each test needs result negative|positive and at")
        parse_rfc3339(test["at"])
    for trip in _items(facts, "travel"):
        if trip.get("risk") not in ("high", "medium") or "left_at" not in trip:
            raise BadRequest("each trip needs risk high|medium and left_at")
        parse_rfc3339(trip["left_at"])
    for flag in ("close_contact", "symptoms"):
        if not isinstance(facts.get(flag, False), bool):
            raise BadRequest(f"{flag} must be true or false")
    return facts


def _items(facts: dict, key: str) -> list:
    items = facts.get(key, [])
    if not isinstance(items, list) or len(items) > MAX_FACT_ITEMS \
            or not all(isinstance(i, dict) for i in items):
        raise BadRequest(f"{key} must be a list of objects")
    return items
