"""The design card's layout, imports that run one way, and no import cycle anywhere.

standard ← toolkit, config ← store ← adapters ← issuers ← gateway; ``tools/`` (documentation
generators, not installed) may read everything but the gateway.  Issuers and adapters are
siblings (the gateway wires them together); the national standard imports nothing above it.
Every ``import`` statement counts, relative ones and those inside functions included, so a lazy
import cannot hide a back-edge or a cycle.
"""
from __future__ import annotations

import ast
import re
import tomllib

import pytest

from support.paths import ROOT

PACKAGES = ("standard", "toolkit", "config", "store", "adapters", "issuers", "gateway")
CHECKED = (*PACKAGES, "tools")
ALLOWED = {
    "standard": {"standard"},
    "toolkit": {"toolkit", "standard"},
    "config": {"config", "standard"},
    "store": {"store", "standard", "toolkit"},
    "adapters": {"adapters", "standard", "toolkit"},
    "issuers": {"issuers", "standard", "toolkit", "store"},
    "gateway": set(PACKAGES),
    "tools": {"tools", "standard", "toolkit", "config", "adapters", "issuers"},
}


def module_name(path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts) if path.is_relative_to(ROOT) else [path.stem]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path, known: set[str] | None = None) -> set[tuple[str, int]]:
    """(dotted module, line) of every project import in one file, relative imports resolved; for
    ``from X import y`` the module ``X.y`` when that is a module of ours, else ``X``."""
    here = module_name(path)
    package = here if path.name == "__init__.py" else here.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")
                anchor = anchor[:len(anchor) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            targets = [f"{base}.{alias.name}" if known is not None and f"{base}.{alias.name}" in known else base
                       for alias in node.names]
        else:
            continue
        found |= {(t, node.lineno) for t in targets if t.split(".")[0] in CHECKED}
    return found


def project_imports(path) -> set[tuple[str, int]]:
    """(top-level project package, line) of every import in one file."""
    return {(target.split(".")[0], line) for target, line in imported_modules(path)}


@pytest.mark.parametrize("package", CHECKED)
def test_imports_run_one_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    back_edges = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                  for path in files for target, line in project_imports(path)
                  if target not in ALLOWED[package]]
    assert not back_edges, "imports that run back up:\n" + "\n".join(back_edges)


def import_graph() -> dict[str, set[str]]:
    files = {module_name(p): p for package in CHECKED for p in (ROOT / package).rglob("*.py")}
    known = set(files)
    return {name: {t for t, _ in imported_modules(path, known) if t in known and t != name}
            for name, path in files.items()}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node):
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_no_import_cycle_anywhere():
    """Module by module, packages' insides included: a module names what it imports, and
    nothing it imports leads back to it."""
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_the_cycle_finder_sees_a_cycle_and_relative_imports(tmp_path, monkeypatch):
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    package = ROOT / "adapters" / "eu_dcc"
    relative = tmp_path / "mod.py"
    relative.write_text("from . import decode\nfrom .signers import kid_of\nfrom .. import qr\n")
    monkeypatch.setattr("test_layout.module_name", lambda path: "adapters.eu_dcc.mod")
    known = {"adapters.eu_dcc.decode", "adapters.qr", "adapters.eu_dcc.signers"}
    assert {t for t, _ in imported_modules(relative, known)} == {
        "adapters.eu_dcc.decode", "adapters.eu_dcc.signers", "adapters.qr"}
    assert package.is_dir()


def test_the_checker_sees_a_back_edge(tmp_path):
    """The rule above can fail: a lazy import of the gateway from the core is caught."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from gateway.services import Services\n    import adapters.qr\n")
    assert project_imports(module) == {("gateway", 2), ("adapters", 3)}


# About 450 lines: a module a maintainer reads in one sitting.  One that grows past this is split
# by what its parts guarantee (store/elasticsearch/ is the example), unless it is one cohesive
# public class — then it is named here with that class.
MODULE_LINES = 480
ONE_CLASS_MODULES: dict[str, str] = {}


def test_no_module_is_longer_than_a_maintainer_reads_at_once():
    long = [f"{path.relative_to(ROOT)}: {n} lines"
            for package in CHECKED for path in sorted((ROOT / package).rglob("*.py"))
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MODULE_LINES
            and str(path.relative_to(ROOT)) not in ONE_CLASS_MODULES]
    assert not long, "split these by what their parts guarantee:\n" + "\n".join(long)


def test_top_level_layout_of_the_design_card():
    for folder in PACKAGES:
        assert (ROOT / folder / "__init__.py").is_file(), f"{folder}/ must be an importable package"
    for name in ("tests", "config", "README.md", "docs/architecture.md"):
        assert (ROOT / name).exists(), name
    assert not (ROOT / "healthcode").exists(), "no umbrella package"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["healthcode"] == "gateway.cli:main"
    assert set(project["tool"]["setuptools"]["packages"]["find"]["include"]) == {f"{p}*" for p in PACKAGES}
    assert not (ROOT / "tools" / "__init__.py").read_text().count("gateway"), "tools/ is not installed"
    declared = " ".join(project["project"]["dependencies"]).lower()
    for required in ("flask", "qrcode", "pyjwt", "elasticsearch", "requests"):
        assert required in declared, required


# PyJWT has no SM2: standard/sm2.py is the one algorithm object the project writes (a PyJWT
# ``Algorithm`` registered on the project's PyJWS), so it converts DER ↔ r‖s itself, as
# PyJWT's ECAlgorithm does for ES256.
OWN_ALGORITHM_OBJECTS = {"standard/sm2.py": "class SM2SM3Algorithm(Algorithm):"}


def test_pyjwt_does_the_jose_work():
    """No hand-written JWS assembly, ECDSA signature conversion or JWK parsing is left, but in
    PyJWT algorithm objects for what PyJWT lacks."""
    offenders = []
    for path_name, declaration in OWN_ALGORITHM_OBJECTS.items():
        assert declaration in (ROOT / path_name).read_text(encoding="utf-8"), path_name
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if str(path.relative_to(ROOT)) in OWN_ALGORITHM_OBJECTS:
                continue
            text = path.read_text(encoding="utf-8")
            for pattern in (r"encode_dss_signature|decode_dss_signature", r"EllipticCurvePublicNumbers",
                            r"RSAPublicNumbers", r"from_public_bytes\(", r'f"\{header_b64\}\.\{payload_b64\}\.'):
                if re.search(pattern, text):
                    offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders
    jose = (ROOT / "standard" / "jose.py").read_text()
    assert "from jwt.algorithms import" in jose and "from jwt.api_jws import PyJWS" in jose
    assert "sm2.NAME: sm2.SM2SM3Algorithm()" in jose, "SM2SM3 is registered like the others"


def test_readme_layout_names_every_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for folder in (*PACKAGES, "tests", "config", "docs"):
        assert f"{folder}/" in section, folder
    assert "healthcode/" not in section


# A test module may import this one: it collects the shared store contract on Elasticsearch.
TEST_MODULES_IMPORTED_ON_PURPOSE = {"test_store_contract"}


def test_tests_take_helpers_from_support_never_from_conftest_or_each_other():
    """conftest.py holds fixtures (pytest finds them); helpers the tests share live in
    tests/support/ and the test residents in tests/residents.py.  No test, helper or benchmark
    imports conftest, and no test imports another test module's helpers."""
    offenders = []
    files = [*sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "bench").rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and not node.level:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                top = name.split(".")[0]
                if top == "conftest" or (top.startswith("test_") and top not in TEST_MODULES_IMPORTED_ON_PURPOSE):
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} imports {name}")
    assert not offenders, "import helpers from tests/support/ instead:\n" + "\n".join(offenders)



ID_NUMBER = re.compile(r"\d{17}[\dX]|\d{7}\(\d\)")


def test_test_people_are_defined_once_in_residents():
    """The people tests and benchmarks use are named in tests/residents.py; a module's own table
    (expected colours, who depends on whom) is built from those names, never from ID numbers."""
    offenders = []
    for path in [*sorted((ROOT / "tests").rglob("*.py")), *sorted((ROOT / "bench").rglob("*.py"))]:
        if path.name == "residents.py":
            continue
        for node in ast.parse(path.read_text(encoding="utf-8")).body:
            if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
                numbers = [c.value for c in ast.walk(node.value) if isinstance(c, ast.Constant)
                           and isinstance(c.value, str) and ID_NUMBER.fullmatch(c.value)]
                if numbers:
                    offenders.append(f"{path.relative_to(ROOT)}:{node.lineno} {numbers}")
    assert not offenders, "name these people in tests/residents.py:\n" + "\n".join(offenders)


def test_commands_that_serve_nothing_start_without_the_web_framework():
    """`healthcode verify-batch` and the other commands import Flask and werkzeug only when they
    make an app, requests only when they send a request over HTTP, the QR encoder only when they
    draw a code, Pillow and zxing-cpp only when they read an image: their start-up is part of what
    a batch costs.  prometheus_client only when something is counted: `serve --workers` chooses
    its metrics directory before that import (gateway/metrics.py)."""
    import subprocess
    import sys
    probe = ("import sys, gateway.cli, gateway.cli.verify_batch, gateway.services; "
             "print(sorted(m for m in ('flask', 'werkzeug', 'jinja2', 'reportlab', 'requests', 'qrcode', 'PIL', "
             "'zxingcpp', 'prometheus_client') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], cwd=ROOT, capture_output=True, text=True, check=True,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}).stdout.strip()
    assert out == "[]"
