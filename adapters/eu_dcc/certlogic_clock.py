"""The validation clock in CertLogic rules: where a rule's outcome can turn.

A rule that reads ``external.validationClock`` only as ``plusTime(clock, n, hour|day)`` compared
with a clock-free date-time gives the same answer between the instants its comparisons name, so
the end of a green from such rules follows from a few evaluations, not a search over time
(:mod:`.business_rules`)."""
from __future__ import annotations

from typing import Any

from adapters.eu_dcc.certlogic import (COMPARISONS, MAX_STEPS, Budget, DateTime, _Run, _as_int, _is_int,
                                       compare, compiled)

CLOCK = "external.validationClock"
_CLOCK_READ = {"var": CLOCK}
_SHIFT_MS = {"hour": 3_600_000, "day": 86_400_000}
_WHOLE_CONTEXTS = ("", "external", "data", "data.external")     # var paths whose value holds the clock


def _clock_shift(expr: Any) -> int | None:
    """``plusTime(external.validationClock, n, hour|day)`` → its shift in ms (the clock + shift); else None."""
    if type(expr) is dict and len(expr) == 1 and "plusTime" in expr:
        args = expr["plusTime"]
        if isinstance(args, list) and len(args) == 3 and args[0] == _CLOCK_READ and args[2] in _SHIFT_MS \
                and _is_int(args[1]):
            return _as_int(args[1]) * _SHIFT_MS[args[2]]
    return None


def reads_clock_only_in_comparisons(expr: Any) -> bool:
    """True when ``expr`` (validated) reads the validation clock only as ``plusTime(clock, n, hour|day)``
    directly compared with ``before``/``after``/``not-after``/``not-before``, and no ``var`` returns
    a context that holds the clock.  Such a rule's outcome is constant between the instants
    :func:`evaluate_with_turns` reports, so its value over time follows from a few evaluations."""
    stack = [expr]
    while stack:
        node = stack.pop()
        if isinstance(node, list):
            stack.extend(node)
            continue
        if type(node) is not dict:
            continue
        (op, args), = node.items()
        if op == "var":
            if isinstance(args, str) and (args in _WHOLE_CONTEXTS or "validationClock" in args):
                return False
        elif COMPARISONS.get(op) == "date":
            stack.extend(a for a in args if _clock_shift(a) is None)
        elif op in ("plusTime", "extractFromUVCI"):
            stack.append(args[0])
        else:
            stack.extend(args)
    return True


def evaluate_with_turns(expr: Any, data: Any, *, max_steps: int = MAX_STEPS,
                        budget: Budget | None = None) -> tuple[Any, set[int]]:
    """:func:`evaluate` of a validated ``expr`` for which :func:`reads_clock_only_in_comparisons`
    holds, plus the instants (epoch seconds) at which a clock comparison it made could change its
    outcome: while the clock moves without reaching one, the evaluation takes the same path and
    gives the same value.  Counts the same steps as :func:`evaluate`."""
    run = _TurnsRun(max_steps, budget)
    return compiled(expr)(run, data, data), run.turns


class _TurnsRun(_Run):
    """A :class:`_Run` that notes where each date comparison against the clock turns."""

    def __init__(self, max_steps: int, budget: Budget | None = None):
        super().__init__(max_steps, budget)
        self.turns: set[int] = set()

    def _compare(self, op: str, args: list, values: list) -> bool:
        if COMPARISONS[op] == "date":
            for i in range(len(args) - 1):
                self._note(op, args[i], values[i], args[i + 1], values[i + 1])
        return compare(op, values)

    def _note(self, op: str, left: Any, left_value: Any, right: Any, right_value: Any) -> None:
        """``clock + shift`` against a clock-free date-time ``c``: the outcome turns at the first
        millisecond past ``c − shift`` for ``not-after``/``after`` with the clock on the left (and
        ``before``/``not-before`` with it on the right), at ``c − shift`` itself otherwise; the
        turn is the first whole second (the clock's resolution) at or after it."""
        shifts = (_clock_shift(left), _clock_shift(right))
        if (shifts[0] is None) == (shifts[1] is None):
            return                                    # no clock, or clock against clock: never turns
        on_left = shifts[0] is not None
        shift, other = (shifts[0], right_value) if on_left else (shifts[1], left_value)
        if isinstance(other, DateTime) and shift is not None:
            at_ms = other.ms - shift + (op in (("not-after", "after") if on_left else ("before", "not-before")))
            self.turns.add(-(-at_ms // 1000))
