"""standard.compiled_validator asks jsonschema_rs first and lets fastjsonschema judge whatever the
Rust validator does not call valid.  The verdict can only change if the Rust validator accepts a
document fastjsonschema refuses; these tests look for one on every EU DCC conformance vector (each
under the schema version it declares) and on the national claims of real verdicts, and on
mutations of both: every member removed, every leaf replaced by values of other types, bounds,
patterns' edge cases (a trailing newline, non-ASCII digits), big integers and lone surrogates."""
from __future__ import annotations

import copy
import json

import fastjsonschema
import pytest

import standard
from support.paths import vectors_dir
from adapters import eu_dcc
from adapters.eu_dcc import schema as dcc_schema
from adapters.eu_dcc.certificate import read_cwt
from standard.errors import HealthCodeError

ODD_VALUES = (None, True, False, 0, 1, -1, 1.0, 1.5, 2**64, -(2**70), 1e300, "", "a", "1", "\n",
              "AB\n", "١٢٣", "\ud800", "x" * 100, [], [1], ["a"], {}, {"a": 1})


def _dcc_documents() -> list[dict]:
    docs = []
    for path in sorted(vectors_dir().joinpath("dcc").rglob("*.json")):
        try:
            case = json.loads(path.read_text(encoding="utf-8"))
            text = case.get("PREFIX") if isinstance(case, dict) else None
            if not isinstance(text, str):
                continue
            cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(eu_dcc.unprefix(text))))
            docs.append(read_cwt(cose.payload).dcc)
        except (HealthCodeError, ValueError, UnicodeDecodeError):
            continue
    return docs


def _paths(node, prefix=()):
    """Every (path, value) inside a JSON document."""
    yield prefix, node
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, prefix + (key,))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from _paths(value, prefix + (index,))


def _mutations(doc: dict):
    yield doc
    for path, _ in list(_paths(doc)):
        if not path:
            continue
        parent_path, last = path[:-1], path[-1]
        for value in ODD_VALUES + ("delete",):
            mutated = copy.deepcopy(doc)
            parent = mutated
            for step in parent_path:
                parent = parent[step]
            if value == "delete":
                del parent[last]
            else:
                parent[last] = value
            yield mutated
    for extra in ODD_VALUES:
        yield {**doc, "zz": extra}


def _agree(check, doc) -> bool:
    """False only when the Rust gate accepts what fastjsonschema refuses."""
    try:
        if not check.gate(doc):
            return True
    except Exception:       # noqa: BLE001 — the gate cannot read it: fastjsonschema decides
        return True
    try:
        check.fast(doc)
    except fastjsonschema.JsonSchemaException:
        return False
    return True


def test_the_dcc_vectors_are_read():
    assert len(_dcc_documents()) >= 50


def test_rust_gate_accepts_no_dcc_that_fastjsonschema_refuses():
    checked = 0
    gate_refused = 0
    for doc in _dcc_documents():
        version = dcc_schema.schema_version(doc.get("ver"))
        check = dcc_schema._validator(version)
        for mutated in _mutations(doc):
            assert _agree(check, mutated), (version, mutated)
            checked += 1
            try:
                gate_refused += not check.gate(mutated)
            except Exception:       # noqa: BLE001
                gate_refused += 1
    assert checked > 10_000 and gate_refused > 1_000     # the mutations do reach refusals


def test_every_dcc_schema_version_is_gated_the_same_way():
    """A vector under every shipped version, not only its own."""
    docs = _dcc_documents()[:40]
    for version in dcc_schema.shipped_versions():
        check = dcc_schema._validator(version)
        for doc in docs:
            for ver in (version, doc.get("ver")):
                assert _agree(check, {**doc, "ver": ver})


def _claims_samples() -> list[dict]:
    base = {"ver": "1.0", "region": "440000", "sub": "A" * 24, "jti": "B" * 22, "iat": 1_750_000_000,
            "exp": 1_750_086_400, "kind": "offline", "status": "green", "reasons": ["vaccinated"],
            "name_masked": "MUSTERMANN, E.", "id_masked": "*", "id_type": "unspecified"}
    samples = [base, {**base, "region": "DE", "reasons": ["negative_test", "vaccinated"]},
               {**base, "kind": "dynamic", "status": "red", "reasons": []}]
    return samples


@pytest.mark.parametrize("sample", range(3))
def test_rust_gate_accepts_no_claims_that_fastjsonschema_refuses(sample):
    check = standard._fast_claims_validator()
    doc = _claims_samples()[sample]
    check(doc)                                          # a valid sample to start from
    refused = 0
    for mutated in _mutations(doc):
        assert _agree(check, mutated), mutated
        try:
            check(mutated)
        except fastjsonschema.JsonSchemaException:
            refused += 1
    assert refused > 100


def test_a_refusal_keeps_fastjsonschema_message():
    check = standard._fast_claims_validator()
    doc = {**_claims_samples()[0], "status": "blue"}
    with pytest.raises(fastjsonschema.JsonSchemaException) as gated:
        check(doc)
    with pytest.raises(fastjsonschema.JsonSchemaException) as plain:
        check.fast(doc)
    assert str(gated.value) == str(plain.value)
