"""The CertLogic specification's own test suite (shared vectors), assertion by assertion."""
from __future__ import annotations

import json

import pytest

from support.paths import vectors_dir

SUITE = vectors_dir() / "certlogic" / "testSuite"


def suite_assertions(skipped: bool):
    """(id, expression, data, expected) of every assertion; ``skipped``: only those the suite
    marks ``"directive": "skip"`` (itself or its file), else only the others."""
    for path in sorted(SUITE.glob("*.json")):
        document = json.loads(path.read_text(encoding="utf-8"))
        for c, case in enumerate(document["cases"]):
            for a, assertion in enumerate(case["assertions"]):
                marked = "skip" in (document.get("directive"), case.get("directive"), assertion.get("directive"))
                if marked == skipped:
                    expr = assertion.get("certLogicExpression", case.get("certLogicExpression"))
                    yield pytest.param(expr, assertion["data"], assertion["expected"],
                                       id=f"{path.stem}-{c}-{a}")
