"""``healthcode rules …``: evaluate CertLogic, import EU business rules and value sets, run
a rule directory's own tests.

``healthcode rules evaluate`` is the interface peer test suites drive: JSON Lines
``{"id", "logic", "data"}`` on stdin, one ``{"id", "result"}`` or ``{"id", "error": {"code",
"message"}}`` per line on stdout, in order, exit 0 — a malformed line gives an error line.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from toolkit import jsonin
from gateway.cli.common import DATA_MANAGER_CLI, CommandGroup, InputPath, emit as _emit, service as _service
from gateway.cli.common import read_bytes
from gateway.rulesets import MAX_FILE_BYTES
from adapters.eu_dcc import certlogic
from adapters.eu_dcc import rules as dccrules
from standard.errors import BadRequest, FileInvalid, HealthCodeError, PayloadTooLarge

MAX_LINE_BYTES = 1_000_000



def read_json_file(path: Path):
    """A rule or value-set file given on the command line, as JSON (``path_unusable`` if it
    cannot be read, ``file_invalid`` if it is too large or not JSON)."""
    raw = read_bytes(path, "rule file", MAX_FILE_BYTES)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise FileInvalid(f"{path}: not JSON") from None

@click.group(cls=CommandGroup)
def rules():
    """EU DCC business rules (CertLogic) and value sets."""


def _no_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def evaluate_line(line: bytes) -> dict:
    """One request line → one answer (never raises)."""
    item_id = None
    try:
        try:
            item = json.loads(line, parse_constant=_no_constant)
        except (ValueError, RecursionError):
            raise BadRequest("line is not JSON (UTF-8)") from None
        if not isinstance(item, dict):
            raise BadRequest('line must be a JSON object {"id", "logic", "data"}')
        item_id = item.get("id")
        try:
            jsonin.check(item, jsonin.MAX_DEPTH + certlogic.MAX_DEPTH)     # depth; Unicode text only
        except BadRequest as exc:
            raise BadRequest(f"line is nested too deeply or not Unicode: {exc.message}") from None
        if "logic" not in item:
            raise BadRequest('line has no "logic"')
        result = certlogic.evaluate(item["logic"], item.get("data"))
        return {"id": item_id, "result": certlogic.to_json(result)}
    except HealthCodeError as exc:
        return {"id": item_id, "error": exc.as_dict()}


def read_lines(stream, limit: int = MAX_LINE_BYTES):
    """Lines of at most ``limit`` bytes; a longer one is yielded as None (and skipped whole)
    without ever holding more than ``limit`` bytes of it."""
    while True:
        line = stream.readline(limit + 1)
        if not line:
            return
        if len(line) > limit and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(limit + 1)
            yield None
        else:
            yield line


@rules.command("evaluate")
def evaluate():
    """JSON Lines {"id", "logic", "data"} on stdin → {"id", "result"} or {"id", "error"}."""
    for line in read_lines(sys.stdin.buffer):
        if line is None:
            _emit({"id": None, "error": PayloadTooLarge(f"line longer than {MAX_LINE_BYTES} bytes").as_dict()})
        elif line.strip():
            _emit(evaluate_line(line))
        else:
            continue
        sys.stdout.flush()


def _rule_documents(paths) -> list:
    """Rules from files (a rule, a list, or {"rules": [...]}) and directories (every
    ``rule.json`` below, as in the EU's rule repositories)."""
    found = []
    for path in map(Path, paths):
        files = sorted(path.rglob("rule.json")) if path.is_dir() else [path]
        for file in files:
            value = read_json_file(file)
            value = value["rules"] if isinstance(value, dict) and "rules" in value else value
            found.extend(value if isinstance(value, list) else [value])
    return found


@rules.command("import")
@click.option("--country", required=True, help="country of arrival, e.g. DE (the rules' Country)")
@click.argument("paths", nargs=-1, required=True, type=InputPath(dir_okay=True))
def import_rules(country, paths):
    """Replace COUNTRY's business rules with those in PATHS; they ride in the trust list."""
    _emit({"country": country, "imported": _service().trust.import_rules(country, _rule_documents(paths),
                                                                   DATA_MANAGER_CLI)})


@rules.command("remove")
@click.option("--country", required=True, help="country of arrival whose rules go, e.g. DE")
def remove_rules(country):
    """Remove COUNTRY's business rules; the next trust list does not carry them."""
    _service().trust.remove_rules(country, DATA_MANAGER_CLI)
    _emit({"removed": country})


@rules.command("value-sets")
@click.argument("paths", nargs=-1, required=True, type=InputPath(dir_okay=True))
def import_value_sets(paths):
    """Import value sets (EU valueSetId/valueSetValues files, or a directory of them)."""
    docs = [read_json_file(f) for p in map(Path, paths)
            for f in (sorted(p.glob("*.json")) if p.is_dir() else [p])]
    _emit({"value_sets": _service().trust.import_value_sets(docs, DATA_MANAGER_CLI)})


@rules.command("list")
def list_rules():
    """Print the imported rules per country (identifier, version, type, validity) and the value sets."""
    _emit(_service().trust.rule_summary())


@rules.command("test")
@click.argument("paths", nargs=-1, required=True, type=InputPath(dir_okay=True, file_okay=False))
def test_rules(paths):
    """Run the tests beside each rule (``<rule>/tests/*.json``: payload, external, expected) the
    way the EU's rule repositories lay them out; print each failure and a summary.  Exit 1 if any
    test disagrees."""
    passed = failed = 0
    for path in map(Path, paths):
        for rule_file in sorted(path.rglob("rule.json")):
            try:
                rule = dccrules.parse_rule(read_json_file(rule_file))
            except HealthCodeError as exc:
                _emit({"rule": str(rule_file), "error": exc.as_dict()})
                failed += 1
                continue
            for test_file in sorted((rule_file.parent / "tests").glob("*.json")):
                try:
                    test = read_json_file(test_file)
                    outcome, = dccrules.run([rule], test.get("payload"), test.get("external"))
                    ok = (outcome.result == "passed") == test.get("expected")
                except (HealthCodeError, AttributeError, ValueError):
                    ok, outcome = False, None
                passed, failed = passed + ok, failed + (not ok)
                if not ok:
                    _emit({"rule": rule["Identifier"], "test": test_file.name,
                           "result": outcome.result if outcome else "unreadable"})
    _emit({"passed": passed, "failed": failed})
    sys.exit(0 if failed == 0 and passed else 1)
