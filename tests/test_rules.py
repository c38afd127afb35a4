"""Each region's rules as a table: facts → (status, reasons)."""
from __future__ import annotations

import pytest

from standard import rules
from config.settings import load_settings
from standard.errors import BadRequest
from standard import parse_rfc3339

NOW = parse_rfc3339("2026-11-22T12:00:00Z")
DAY = 86400


def ago(days: float) -> str:
    from standard import rfc3339
    return rfc3339(NOW - days * DAY)


def region_rules(code):
    return load_settings(data_dir="/nonexistent").region(code).rules


CASES = [
    # region, facts, expected status, expected reasons
    ("440000", {}, "green", []),
    ("440000", {"tests": [{"result": "positive", "at": ago(1)}]}, "red", ["positive_test"]),
    ("440000", {"tests": [{"result": "positive", "at": ago(9)}, {"result": "negative", "at": ago(1)}]},
     "green", []),
    ("440000", {"close_contact": True}, "red", ["close_contact"]),
    ("510000", {"close_contact": True}, "yellow", ["close_contact"]),
    ("440000", {"travel": [{"risk": "high", "left_at": ago(13)}]}, "yellow", ["high_risk_travel"]),
    ("440000", {"travel": [{"risk": "high", "left_at": ago(15)}]}, "green", []),
    ("310000", {"travel": [{"risk": "high", "left_at": ago(8)}],
                "tests": [{"result": "negative", "at": ago(1)}]}, "green", []),
    ("110000", {"travel": [{"risk": "high", "left_at": ago(8)}],
                "tests": [{"result": "negative", "at": ago(1)}]}, "red", ["high_risk_travel"]),
    ("310000", {}, "yellow", ["no_recent_test"]),
    ("310000", {"tests": [{"result": "negative", "at": ago(2)}]}, "green", []),
    ("310000", {"tests": [{"result": "negative", "at": ago(4)}]}, "yellow", ["no_recent_test"]),
    ("440000", {"symptoms": True, "close_contact": True}, "red", ["close_contact", "symptoms"]),
    ("110000", {"symptoms": True, "tests": [{"result": "negative", "at": ago(1)}]}, "yellow", ["symptoms"]),
]


@pytest.mark.parametrize("region,facts,status,reasons", CASES)
def test_region_rule(region, facts, status, reasons):
    assert rules.evaluate(region_rules(region), facts, NOW) == (status, reasons)


@pytest.mark.parametrize("facts", [
    {"tests": [{"result": "maybe", "at": ago(1)}]},
    {"tests": [{"result": "negative"}]},
    {"tests": "negative"},
    {"travel": [{"risk": "low", "left_at": ago(1)}]},
    {"travel": [{"risk": "high", "left_at": "yesterday"}]},
    {"close_contact": "yes"},
    {"favourite_colour": "green"},
    {"tests": [{"result": "negative", "at": ago(1)}] * 101},
])
def test_bad_facts_are_refused(facts):
    with pytest.raises(BadRequest):
        rules.evaluate(region_rules("440000"), facts, NOW)
