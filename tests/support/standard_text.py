"""The standard's text (docs/standard.md) as the tests read it: its sections and §6's error codes."""
from __future__ import annotations

import re

from support.paths import ROOT

STANDARD_MD = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8")


def section(number: int) -> str:
    start = re.search(rf"^## {number}\. ", STANDARD_MD, re.M).start()
    end = re.search(rf"^## {number + 1}\. ", STANDARD_MD, re.M)
    return STANDARD_MD[start:end.start() if end else None]


def documented_error_codes() -> set[str]:
    table = [line for line in section(6).splitlines() if line.startswith("| `")]
    return {code for line in table for code in re.findall(r"`([a-z0-9_]+)`", line.split("|")[1])}
