"""CertLogic 1.3.3: the EU's restricted JsonLogic for DCC business rules, as pure functions.

The specification (eu-dcc-business-rules, ``certlogic/specification.md``) says an evaluator
checks an expression's validity before it evaluates anything, never has undefined behaviour and
throws an error for an invalid expression or a type mismatch.  Here that error is
:class:`standard.errors.CertLogicInvalid` (``certlogic_invalid``), and a rule that is too big,
too deep or does too much work (a hostile rule set, ``reduce`` inside ``reduce`` over long
arrays) stops with :class:`standard.errors.CertLogicLimit` (``certlogic_limit``) — never a
RecursionError, never a hang.

Values are JSON values plus one internal type, :class:`DateTime` (milliseconds since the epoch,
UTC), which only ``plusTime`` and ``dccDateOfBirth`` make and only ``after``/``before``/
``not-after``/``not-before`` compare.  :func:`to_json` renders a result the way JavaScript's
``JSON.stringify`` renders the reference implementation's ``Date`` (``…T…:…:….mmmZ``).

Choices the specification leaves open, taken as the reference implementation (certlogic-js)
takes them: ``reduce`` over ``null`` gives the initial value; a JSON number with an integral
value is an integer (JavaScript cannot tell ``1`` from ``1.0``); ``===`` compares only scalars
(two arrays or objects are never ``===``, as two JavaScript objects are not); ``if`` with a
guard that is neither truthy nor falsy takes the else branch.  The optional extension of
``reduce`` is implemented: the lambda also sees the original data context as ``data``.
"""
from __future__ import annotations

from typing import Any, Callable
import operator
import re
from functools import lru_cache

from standard.errors import CertLogicInvalid, CertLogicLimit, RulesBudgetExceeded
from adapters.eu_dcc.certlogic_dates import TIME_UNITS, DateTime, _show, dcc_date_of_birth, plus_time

MAX_INT = 2 ** 53 - 1       # JavaScript's safe integers: beyond them the reference loses precision
MAX_DEPTH = 64              # EU rules nest about 15 deep
MAX_NODES = 20_000          # the largest EU rule has a few hundred
MAX_STEPS = 200_000         # evaluations of sub-expressions per call (incl. reduce iterations)

COMPARISONS = {"<": "int", ">": "int", "<=": "int", ">=": "int",
               "before": "date", "after": "date", "not-after": "date", "not-before": "date"}
UVCI_SEPARATORS = re.compile(r"[/#:]")


class Budget:
    """Steps shared by many evaluations (every rule run for one verification): when they are
    spent, the next step raises :class:`standard.errors.RulesBudgetExceeded`, which — unlike a
    single rule's CertLogicLimit — ends the whole verification."""

    def __init__(self, steps: int):
        self.left = steps


# --- public API ---------------------------------------------------------------------------------
def evaluate(expr: Any, data: Any, *, max_steps: int = MAX_STEPS, validated: bool = False,
             budget: Budget | None = None) -> Any:
    """The value of ``expr`` on ``data``; CertLogicInvalid / CertLogicLimit otherwise.
    ``validated``: ``expr`` already passed :func:`validate` (a stored rule, checked on import);
    ``budget``: steps shared with other evaluations, RulesBudgetExceeded when they run out."""
    if validated:
        return compiled(expr)(_Run(max_steps, budget), data, data)
    validate(expr)
    return _compile(expr)(_Run(max_steps, budget), data, data)


def to_json(value: Any) -> Any:
    """A result as JSON data: date-times become ISO strings with milliseconds."""
    if isinstance(value, DateTime):
        return value.isoformat()
    if isinstance(value, list):
        return [to_json(v) for v in value]
    if isinstance(value, dict):
        return {k: to_json(v) for k, v in value.items()}
    return value


def is_truthy(value: Any) -> bool:
    if value is True:
        return True
    if isinstance(value, str):
        return value != ""
    if _is_number(value):
        return value != 0
    if isinstance(value, (list, dict)):
        return len(value) > 0
    return False


def is_falsy(value: Any) -> bool:
    if value is False or value is None:
        return True
    if isinstance(value, str):
        return value == ""
    if _is_number(value):
        return value == 0
    if isinstance(value, (list, dict)):
        return len(value) == 0
    return False


# --- validation: the whole expression is checked before anything is evaluated -----------------
def validate(expr: Any) -> None:
    """Raise CertLogicInvalid for anything the specification does not allow, CertLogicLimit for
    an expression that is too deep or too large.  Iterative, so depth cannot blow the stack."""
    stack, nodes = [(expr, 1)], 0
    while stack:
        node, depth = stack.pop()
        nodes += 1
        if depth > MAX_DEPTH:
            raise CertLogicLimit(f"CertLogic expression nested deeper than {MAX_DEPTH} levels")
        if nodes > MAX_NODES:
            raise CertLogicLimit(f"CertLogic expression has more than {MAX_NODES} parts")
        if isinstance(node, bool) or isinstance(node, str) or _is_int(node):
            continue
        if isinstance(node, list):
            stack.extend((item, depth + 1) for item in node)
            continue
        if not isinstance(node, dict):
            raise CertLogicInvalid(f"invalid CertLogic expression: {_show(node)}")
        if len(node) != 1:
            raise CertLogicInvalid("a CertLogic operation is an object with exactly one key "
                                   f"(got {len(node)})")
        (op, args), = node.items()
        stack.extend((a, depth + 1) for a in _check_operation(op, args))


def _check_operation(op: str, args: Any) -> list:
    """The operands of ``{op: args}`` that are themselves expressions, after checking its form."""
    if op == "var":
        if isinstance(args, str) or (_is_int(args) and args >= 0):
            return []
        raise CertLogicInvalid('not of the form { "var": "<path>" }')
    if not isinstance(args, list) or not args:
        raise CertLogicInvalid(f'operation "{_short(op)}" needs a non-empty array of operands')
    n = len(args)
    if op == "if":
        _arity(op, n == 3, "exactly 3 operands (guard, then, else)")
    elif op in ("===", "in", "+"):
        _arity(op, n == 2, "exactly 2 operands")
    elif op == "and":
        _arity(op, n >= 2, "at least 2 operands")
    elif op in COMPARISONS:
        _arity(op, n in (2, 3), "2 or 3 operands")
    elif op in ("!", "dccDateOfBirth"):
        _arity(op, n == 1, "exactly 1 operand")
    elif op == "plusTime":
        _arity(op, n == 3, "exactly 3 operands (date-time, amount, unit)")
        if not _is_int(args[1]):
            raise CertLogicInvalid('"plusTime" amount must be an integer')
        if args[2] not in TIME_UNITS:
            raise CertLogicInvalid(f'"plusTime" unit must be one of {", ".join(TIME_UNITS)}')
        return [args[0]]
    elif op == "reduce":
        _arity(op, n == 3, "exactly 3 operands (operand, lambda, initial)")
    elif op == "extractFromUVCI":
        _arity(op, n == 2, "exactly 2 operands (UCI, index)")
        if not _is_int(args[1]):
            raise CertLogicInvalid('"extractFromUVCI" index must be an integer')
        return [args[0]]
    else:
        raise CertLogicInvalid(f'unknown CertLogic operation "{_short(op)}"')
    return list(args)


def _arity(op: str, ok: bool, what: str) -> None:
    if not ok:
        raise CertLogicInvalid(f'operation "{op}" takes {what}')


# --- evaluation: an expression compiled once into closures -------------------------------------
Node = Callable[["_Run", Any, Any], Any]          # (run, data, root) → value
MAX_COMPILED = 4096                                # expressions kept compiled (a rule set has ~100)
_COMPILED: dict[int, tuple[Any, Node]] = {}


def compiled(expr: Any) -> Node:
    """A validated ``expr`` as closures, built on its first evaluation and kept: the stored rules
    of a trust list are compiled once, not on every scan.  Keyed by the expression object (which
    the entry holds, so its id is not reused while cached); a validated expression is never
    mutated (rules are parsed once per trust list).  Bounded; losing an entry only recompiles."""
    hit = _COMPILED.get(id(expr))
    if hit is not None and hit[0] is expr:
        return hit[1]
    node = _compile(expr)
    if len(_COMPILED) >= MAX_COMPILED:
        _COMPILED.clear()
    _COMPILED[id(expr)] = (expr, node)
    return node


class _Run:
    """One evaluation with its work budget: every sub-expression evaluated (a node run) takes one
    step, as the specification's recursive evaluator would recurse."""

    def __init__(self, max_steps: int, budget: Budget | None = None):
        self.left = max_steps
        self.budget = budget

    def _spend(self, steps: int) -> None:
        self.left -= steps
        if self.left < 0:
            raise CertLogicLimit("CertLogic evaluation took more steps than allowed")
        if self.budget is not None:
            self.budget.left -= steps
            if self.budget.left < 0:
                raise RulesBudgetExceeded("the business rules need more work than one verification may "
                                          "spend; refused rather than waited for")

    def step(self) -> None:
        left, budget = self.left - 1, self.budget
        if left < 0 or (budget is not None and budget.left < 1):
            self._spend(1)                         # raises
        self.left = left
        if budget is not None:
            budget.left -= 1

    def _compare(self, op: str, args: list, values: list) -> bool:
        return compare(op, values)


def _compile(expr: Any) -> Node:
    """Closures for a validated expression; each evaluates its operands as the specification's
    recursive evaluator does (same order, same steps, same errors)."""
    kind = type(expr)
    if kind is list:
        items = tuple(_compile(item) for item in expr)

        def array(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return [f(run, data, root) for f in items]
        return array
    if kind is not dict:                           # validated: a boolean, string or integral number
        def literal(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return expr
        return literal
    (op, args), = expr.items()
    if op == "var":
        fragments = None if args == "" else _fragments(args if isinstance(args, str) else str(int(args)))

        def read(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return data if fragments is None else _drill(data, fragments)
        return read
    if op in ("plusTime", "extractFromUVCI"):
        operand, number = _compile(args[0]), _as_int(args[1])
        apply = (lambda value: plus_time(value, number, args[2])) if op == "plusTime" \
            else (lambda value: extract_from_uvci(value, number))

        def unary(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return apply(operand(run, data, root))
        return unary
    nodes = tuple(_compile(a) for a in args)
    if op == "if":
        guard, then, otherwise = nodes

        def choose(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return (then if is_truthy(guard(run, data, root)) else otherwise)(run, data, root)
        return choose
    if op == "and":
        def conjunction(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            value = None
            for operand in nodes:
                value = operand(run, data, root)
                if is_falsy(value):
                    return value
                if not is_truthy(value):
                    raise CertLogicInvalid(f'all operands of "and" must be truthy or falsy, got {_show(value)}')
            return value
        return conjunction
    if op == "!":
        def negation(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            value = nodes[0](run, data, root)
            if is_falsy(value):
                return True
            if is_truthy(value):
                return False
            raise CertLogicInvalid(f'operand of "!" must be truthy or falsy, got {_show(value)}')
        return negation
    if op == "reduce":
        over, fold, initial = nodes

        def reduce(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            operand = over(run, data, root)
            accumulator = initial(run, data, root)
            if operand is None:
                return accumulator
            if not isinstance(operand, list):
                raise CertLogicInvalid('operand of "reduce" must be an array or null')
            for current in operand:
                accumulator = fold(run, {"current": current, "accumulator": accumulator, "data": root}, root)
            return accumulator
        return reduce
    combine = _COMBINE.get(op)
    if combine is None:
        if op not in COMPARISONS:
            raise CertLogicInvalid(f'unknown CertLogic operation "{_short(op)}"')

        def comparison(run: _Run, data: Any, root: Any) -> Any:
            run.step()
            return run._compare(op, args, [f(run, data, root) for f in nodes])
        return comparison

    def operation(run: _Run, data: Any, root: Any) -> Any:
        run.step()
        return combine(run, [f(run, data, root) for f in nodes])
    return operation


def _in(run: _Run, values: list) -> bool:
    if not isinstance(values[1], list):
        raise CertLogicInvalid('right-hand side of "in" must be an array')
    run._spend(len(values[1]))
    return any(strict_equal(values[0], item) for item in values[1])


def _plus(run: _Run, values: list) -> int:
    if not (_is_int(values[0]) and _is_int(values[1])):
        raise CertLogicInvalid('operands of "+" must both be integers')
    total = _as_int(values[0]) + _as_int(values[1])
    if abs(total) > MAX_INT:
        raise CertLogicInvalid('result of "+" is beyond the safe integer range')
    return total


_COMBINE: dict[str, Callable[[_Run, list], Any]] = {
    "dccDateOfBirth": lambda run, values: dcc_date_of_birth(values[0]),
    "===": lambda run, values: strict_equal(values[0], values[1]),
    "in": _in, "+": _plus}


def var(data: Any, path: Any) -> Any:
    """Drill into ``data`` along a dotted path; anything missing or undrillable is null."""
    if path == "":
        return data
    return _drill(data, _fragments(path if isinstance(path, str) else str(int(path))))


def _drill(value: Any, fragments: tuple[tuple[str, int | None], ...]) -> Any:
    for fragment, index in fragments:
        if isinstance(value, dict):
            value = value.get(fragment)
        elif isinstance(value, list) and index is not None:
            value = value[index] if index < len(value) else None
        else:
            return None
    return value


@lru_cache(maxsize=4096)
def _fragments(path: str) -> tuple[tuple[str, int | None], ...]:
    """A var path's fragments, each with its array index when it is one (ASCII digits)."""
    return tuple((f, int(f) if f.isascii() and f.isdigit() else None) for f in path.split("."))


def strict_equal(a: Any, b: Any) -> bool:
    """JavaScript ``===`` on JSON scalars: no coercion (``1 === "1"`` and ``1 === true`` are false)."""
    if a is None or b is None:
        return a is None and b is None
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if _is_number(a) and _is_number(b):
        return a == b
    if isinstance(a, str) and isinstance(b, str):
        return a == b
    return False


def compare(op: str, values: list) -> bool:
    """Binary ``a op b`` or ternary ``a op b op c``, integers or date-times as the operator says."""
    kind = COMPARISONS[op]
    if kind == "int":
        if not all(_is_int(v) for v in values):
            raise CertLogicInvalid(f'all operands of "{op}" must be integers')
        values = [_as_int(v) for v in values]
    elif not all(isinstance(v, DateTime) for v in values):
        raise CertLogicInvalid(f'all operands of "{op}" must be date-times (from plusTime or dccDateOfBirth)')
    test = _TESTS[op]
    return all(test(values[i], values[i + 1]) for i in range(len(values) - 1))


_TESTS = {"<": operator.lt, "before": operator.lt, ">": operator.gt, "after": operator.gt,
          "<=": operator.le, "not-after": operator.le, ">=": operator.ge, "not-before": operator.ge}


# --- UCI ----------------------------------------------------------------------------------------
def extract_from_uvci(uci: Any, index: int) -> str | None:
    if uci is None:
        return None
    if not isinstance(uci, str):
        raise CertLogicInvalid('"extractFromUVCI" operand must be a string or null')
    fragments = UVCI_SEPARATORS.split(uci[9:] if uci.startswith("URN:UVCI:") else uci)
    return fragments[index] if 0 <= index < len(fragments) else None


# --- helpers ------------------------------------------------------------------------------------
def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_int(value: object) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)) or \
        (isinstance(value, float) and value.is_integer())


def _as_int(value: Any) -> int:
    return int(value)


def _short(text: object) -> str:
    return str(text)[:40]
