"""The design card's layout, and imports that run one way.

gateway → issuers, adapters → standard, store.  Issuers and adapters are siblings (the gateway
wires them together); the shared core imports nothing above it.  Every ``import`` statement
counts, including those inside functions, so a lazy import cannot hide a back-edge.
"""
from __future__ import annotations

import ast
import re
import tomllib

import pytest

from conftest import ROOT

PACKAGES = ("standard", "store", "adapters", "issuers", "gateway")
ALLOWED = {
    "standard": {"standard"},
    "store": {"store", "standard"},
    "adapters": {"adapters", "standard"},
    "issuers": {"issuers", "standard", "store"},
    "gateway": set(PACKAGES),
}


def project_imports(path) -> set[tuple[str, int]]:
    """(top-level project package, line) of every import in one file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        else:
            continue
        found |= {(name.split(".")[0], node.lineno) for name in names if name.split(".")[0] in PACKAGES}
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_imports_run_one_way(package):
    files = sorted((ROOT / package).rglob("*.py"))
    assert files, f"{package}/ has no modules"
    back_edges = [f"{path.relative_to(ROOT)}:{line} imports {target}"
                  for path in files for target, line in project_imports(path)
                  if target not in ALLOWED[package]]
    assert not back_edges, "imports that run back up:\n" + "\n".join(back_edges)


def test_the_checker_sees_a_back_edge(tmp_path):
    """The rule above can fail: a lazy import of the gateway from the core is caught."""
    module = tmp_path / "bad.py"
    module.write_text("def f():\n    from gateway.service import Service\n    import adapters.qr\n")
    assert project_imports(module) == {("gateway", 2), ("adapters", 3)}


def test_top_level_layout_of_the_design_card():
    for folder in PACKAGES:
        assert (ROOT / folder / "__init__.py").is_file(), f"{folder}/ must be an importable package"
    for name in ("tests", "config", "README.md", "docs/architecture.md"):
        assert (ROOT / name).exists(), name
    assert not (ROOT / "healthcode").exists(), "no umbrella package"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    assert project["project"]["scripts"]["healthcode"] == "gateway.cli:main"
    assert set(project["tool"]["setuptools"]["packages"]["find"]["include"]) == {f"{p}*" for p in PACKAGES}
    declared = " ".join(project["project"]["dependencies"]).lower()
    for required in ("flask", "qrcode", "pyjwt", "elasticsearch", "requests"):
        assert required in declared, required


def test_pyjwt_does_the_jose_work():
    """No hand-written JWS assembly, ECDSA signature conversion or JWK parsing is left."""
    offenders = []
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            for pattern in (r"encode_dss_signature|decode_dss_signature", r"EllipticCurvePublicNumbers",
                            r"RSAPublicNumbers", r"from_public_bytes\(", r'f"\{header_b64\}\.\{payload_b64\}\.'):
                if re.search(pattern, text):
                    offenders.append(f"{path.relative_to(ROOT)}: {pattern}")
    assert not offenders, offenders
    jose = (ROOT / "standard" / "jose.py").read_text()
    assert "from jwt.algorithms import" in jose and "from jwt.api_jws import PyJWS" in jose


def test_readme_layout_names_every_package():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Layout", 1)[1].split("\n## ", 1)[0]
    for folder in (*PACKAGES, "tests", "config", "docs"):
        assert f"{folder}/" in section, folder
    assert "healthcode/" not in section
