"""The standard's machine-readable files: the fast claims validator agrees with the reference
2020-12 validator, masking rules, and the OpenAPI file is internally consistent."""
from __future__ import annotations

import copy

import jsonschema
import pytest

import standard
from config.settings import load_settings
from residents import GD_RESIDENT
from standard.errors import SchemaInvalid

GOOD = {"ver": "1.0", "region": "440000", "sub": "abcdefghijklmnopqrstuvwx", "jti": "AbCdEfGh12345678",
        "iat": 1_800_000_000, "exp": 1_800_000_300, "kind": "dynamic", "status": "yellow",
        "reasons": ["close_contact"], "name_masked": "张*丰", "id_masked": "4401**********123X",
        "id_type": "resident"}

MUTATIONS = [
    ("valid as is", lambda c: None),
    ("foreign region", lambda c: c.update(region="DE", id_type="unspecified", id_masked="*")),
    ("provenance", lambda c: c.update(prov={"region": "820000", "jti": "x", "format": "macau"})),
    ("dependant", lambda c: c.update(dep={"holder_sub": "h", "relation": "child", "holder_name_masked": "李*"})),
    ("plain ID number", lambda c: c.update(id_masked=GD_RESIDENT.id_number)),
    ("unknown status", lambda c: c.update(status="blue")),
    ("unknown reason", lambda c: c.update(reasons=["bad_luck"])),
    ("repeated reason", lambda c: c.update(reasons=["symptoms", "symptoms"])),
    ("extra claim", lambda c: c.update(phone="13800000000")),
    ("missing exp", lambda c: c.pop("exp")),
    ("string time", lambda c: c.update(iat="1800000000")),
    ("bad region", lambda c: c.update(region="44")),
    ("bad version", lambda c: c.update(ver="2.0")),
    ("bad kind", lambda c: c.update(kind="paper")),
    ("bad relation", lambda c: c.update(dep={"holder_sub": "h", "relation": "boss", "holder_name_masked": "李*"})),
    ("provenance extra", lambda c: c.update(prov={"region": "1", "jti": "x", "format": "y", "note": "n"})),
    ("short sub", lambda c: c.update(sub="abc")),
]


@pytest.mark.parametrize("name,mutate", MUTATIONS, ids=[m[0] for m in MUTATIONS])
def test_fast_validator_agrees_with_reference(name, mutate):
    claims = copy.deepcopy(GOOD)
    mutate(claims)
    reference_ok = standard.reference_claims_validator().is_valid(claims)
    try:
        standard.validate_claims(claims)
        fast_ok = True
    except SchemaInvalid:
        fast_ok = False
    assert fast_ok == reference_ok
    assert reference_ok == (name in ("valid as is", "foreign region", "provenance", "dependant"))


@pytest.mark.parametrize("name,masked", [("张三丰", "张*丰"), ("张三", "张*"), ("欧阳小明", "欧**明"),
                                         ("王", "*"), ("  Li   Ming ", "L*****g")])
def test_mask_name(name, masked):
    assert standard.mask_name(name) == masked


def test_openapi_refs_resolve_and_examples_validate():
    root = standard.load_schema("openapi.json")
    for name in root["components"]["schemas"]:
        jsonschema.Draft202012Validator.check_schema(root["components"]["schemas"][name])
        standard.openapi_validator(name).is_valid({})        # every $ref resolves
    assert standard.openapi_validator("Verdict").is_valid(
        {"valid": False, "status": None, "region": None, "format": None, "holder": None,
         "expires_at": None, "errors": [{"code": "malformed", "message": "x"}]})
    assert not standard.openapi_validator("Verdict").is_valid(
        {"valid": True, "status": None, "region": None, "format": None, "holder": None,
         "expires_at": None, "errors": []})


REGIONAL_FORMATS = sorted({r.format for r in load_settings().regions} | {"national"})
VOCABULARY = {"status": standard.STATUSES, "kind": standard.KINDS, "reasons": standard.reasons_vocabulary(),
              "id_type": tuple(standard.load_schema("code-claims.schema.json")["$defs"]["id_type"]["enum"])}


@pytest.mark.parametrize("name", REGIONAL_FORMATS)
def test_every_format_can_write_the_whole_vocabulary(name):
    """A transcoded foreign certificate (id_type unspecified, reason vaccinated) must be writable
    in every region's native format, and read back unchanged: no value may be missing from a table."""
    import adapters
    fmt = adapters.get(name)
    for claim, vocabulary in VOCABULARY.items():
        table = fmt.values.get(claim)
        if table is None:
            continue
        assert set(vocabulary) <= set(table), f"{name}.{claim} lacks {set(vocabulary) - set(table)}"
        assert len(set(table.values())) == len(table), f"{name}.{claim} maps two values to one"
    claims = dict(GOOD, id_type="unspecified", id_masked="*", reasons=list(standard.reasons_vocabulary())[:16])
    assert fmt.from_native(fmt.to_native(claims)) == claims
