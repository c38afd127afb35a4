"""CertLogic's number rules (JavaScript's), shared by the evaluator and its date-time arithmetic."""
from __future__ import annotations

from typing import Any

MAX_INT = 2 ** 53 - 1       # JavaScript's safe integers: beyond them the reference loses precision


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or \
        (isinstance(value, float) and value.is_integer())


def _as_int(value: Any) -> int:
    return int(value)


def _short(text: object) -> str:
    return str(text)[:40]
