"""A foreign certificate's holder, the same everywhere: what EU and SMART verifier apps show a
checker (the certificate's name and year of birth), masked in the verdict's ``holder`` — no
name of asterisks, no made-up ID number — and the verdict schema and the standard's text say
the same."""
from __future__ import annotations

import re

import pytest

import standard
from adapters import foreign_rules
from adapters.verifier import Verifier
from support.paths import ROOT
from standard.trustlist import TrustList
from support.dcc import NOW as DCC_NOW, dcc_test, issue, signer
from support.shc import NOW as SHC_NOW, DAY, card_payload, immunization, issuer, sign  # noqa: F401 - fixture


def verdict_json(fmt: str, text: str, anchor: dict, now: int) -> dict:
    return Verifier([fmt]).verify(text, TrustList({}, (anchor,)), now).as_dict()


def check_holder(verdict: dict) -> None:
    assert verdict["valid"], verdict
    assert standard.openapi_validator("Verdict").is_valid(verdict)
    holder, shown = verdict["holder"], verdict["details"]["holder"]
    assert set(holder) == {"name_masked", "birth_date_masked"}               # no id_masked at all
    assert "*" not in holder["name_masked"] and holder["birth_date_masked"] == shown["birth_date_masked"]
    family, _, given = shown["name_transliterated"].partition(", ")           # the same person
    assert holder["name_masked"] == foreign_rules.masked_name(family, given)


def test_an_eu_certificate_shows_its_name_and_year_of_birth_and_no_id():
    key, der, anchor = signer()
    verdict = verdict_json("eu_dcc", issue(key, der, dcc_test(DCC_NOW - 3600)), anchor, DCC_NOW)
    check_holder(verdict)
    assert verdict["holder"] == {"name_masked": "MUELLER, A.", "birth_date_masked": "1980-**-**"}
    assert verdict["details"]["holder"]["name_transliterated"] == "MUELLER, ANNA"


def test_a_smart_health_card_shows_its_name_and_year_of_birth_and_no_id(issuer):  # noqa: F811
    token = sign(issuer, card_payload([immunization(SHC_NOW - 60 * DAY), immunization(SHC_NOW - 30 * DAY)]))
    verdict = verdict_json("shc", token, {"type": "jwk", "jwk": issuer[1]}, SHC_NOW)
    check_holder(verdict)
    assert verdict["holder"] == {"name_masked": "Anyperson, J. B.", "birth_date_masked": "1951-**-**"}
    assert verdict["details"]["holder"]["name_transliterated"] == "Anyperson, John B."


@pytest.mark.parametrize("family, given, masked", [
    ("MUSTERMANN", "ERIKA DOERTE", "MUSTERMANN, E. D."), ("Dupont", "Jean-Luc", "Dupont, J. L."),
    ("", "MADONNA", "M."), ("SUKARNO", "", "SUKARNO"), ("", "", "无姓名 no name"),
    ("X" * 100, "Y", "X" * 48 + ", Y."),
])
def test_masked_foreign_names(family, given, masked):
    assert foreign_rules.masked_name(family, given) == masked
    assert 1 <= len(masked) <= 64                                             # the claims schema's bounds


def test_the_schema_and_the_standard_say_the_same():
    schema = standard.load_schema("openapi.json")["components"]["schemas"]
    foreign = schema["ForeignHolder"]
    assert set(foreign["required"]) == set(foreign["properties"]) == {"name_masked", "birth_date_masked"}
    assert foreign["additionalProperties"] is False
    holder = schema["Verdict"]["properties"]["holder"]["oneOf"]
    assert {"$ref": "#/components/schemas/ForeignHolder"} in holder
    text = (ROOT / "docs" / "standard.md").read_text(encoding="utf-8")
    section = text[text.index("A verdict: "):text.index("| code | meaning |")]
    assert "`name_masked`" in section and "`birth_date_masked`" in section and "no `id_masked`" in section
    version = standard.load_schema("openapi.json")["info"]["version"]
    assert re.search(rf"^\| {re.escape(version)} \| ", text, re.M)             # the current version has its row
    assert re.search(r"^\| 1\.5\.0 \| .*ForeignHolder", text, re.M)           # and the one that brought it names it
    # A made-up ID next to a foreign holder is no verdict the schema allows.
    bad = {"valid": True, "status": "green", "region": "DE", "format": "eu_dcc", "expires_at": None, "errors": [],
           "holder": {"name_masked": "MUELLER, A.", "birth_date_masked": "1980-**-**", "id_masked": "*"}}
    assert not standard.openapi_validator("Verdict").is_valid(bad)
