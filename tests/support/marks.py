"""What a test needs, found from its code: a helper says what it needs with ``@needs("server")``,
and every test that reaches the helper — from its own body, a fixture it uses, or a test helper
either of them calls, however deep — carries that pytest marker.  A new test is marked without
anyone remembering to: using ``LiveServer`` makes it a ``server`` test.

The walk follows only code defined under ``tests/`` (the project's own code is not a test's need);
it reads global names, attributes of imported test-helper modules (imported at the top or inside
the function), nested functions and lambdas.
Code that imports Selenium itself is a ``browser`` test.  A test that needs something the walk
cannot see (a README block that starts a server) says so with ``pytestmark``."""
from __future__ import annotations

import functools
import importlib
import importlib.util
import inspect
import sys
import types
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent
MARKS = ("browser", "server", "elasticsearch", "slow")
_ATTR = "__test_needs__"
_HELPER_TOPS = {path.stem for path in TESTS.glob("*.py")} | {"support"}


def needs(*markers: str):
    """Declare that a helper (a function or a class) needs what ``markers`` name."""
    unknown = set(markers) - set(MARKS)
    if unknown:
        raise ValueError(f"unknown test marker(s) {sorted(unknown)}; known: {MARKS}")

    def declare(obj):
        setattr(obj, _ATTR, frozenset(getattr(obj, _ATTR, frozenset())) | set(markers))
        return obj
    return declare


def _code_objects(code: types.CodeType):
    yield code
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_objects(const)


@functools.lru_cache(maxsize=None)
def _test_module(dotted: str) -> types.ModuleType | None:
    """The test helper module ``dotted`` names (a function's own ``from support.cli import …``)."""
    if dotted.split(".")[0] not in _HELPER_TOPS:
        return None
    try:
        spec = importlib.util.find_spec(dotted)
    except (ImportError, ValueError):
        return None
    if spec is None or not _is_test_path(spec.origin):
        return None
    return importlib.import_module(dotted)


@functools.lru_cache(maxsize=None)
def _is_test_path(path: str | None) -> bool:
    return bool(path) and Path(path).resolve().is_relative_to(TESTS)


def needs_of(obj, _seen: set | None = None) -> frozenset[str]:
    """Every marker ``obj`` (a test, fixture or helper) needs, directly or through what it calls."""
    seen = set() if _seen is None else _seen
    if id(obj) in seen:
        return frozenset()
    seen.add(id(obj))
    found = set(getattr(obj, _ATTR, ()) if isinstance(obj, (type, types.FunctionType)) else ())
    if isinstance(obj, type):
        module = sys.modules.get(obj.__module__)
        if _is_test_path(getattr(module, "__file__", None)):
            for member in vars(obj).values():
                member = getattr(member, "__func__", getattr(member, "fget", member))
                if isinstance(member, types.FunctionType):
                    found |= needs_of(member, seen)
        return frozenset(found)
    func = inspect.unwrap(obj) if callable(obj) else obj
    code = getattr(func, "__code__", None)
    if code is None or not _is_test_path(code.co_filename):
        return frozenset(found)
    scope = getattr(func, "__globals__", {})
    for closure_cell in getattr(func, "__closure__", None) or ():
        try:
            found |= needs_of(closure_cell.cell_contents, seen)
        except ValueError:                      # an empty cell
            pass
    for each in _code_objects(code):
        if "selenium" in each.co_names:         # drives a browser itself
            found.add("browser")
        for name in each.co_names:
            target = scope.get(name) if name in scope else _test_module(name)
            if isinstance(target, types.ModuleType):
                if _is_test_path(getattr(target, "__file__", None)):
                    for attr in each.co_names:
                        found |= needs_of(getattr(target, attr, None), seen)
            elif isinstance(target, (type, types.FunctionType)):
                found |= needs_of(target, seen)
    return frozenset(found)

