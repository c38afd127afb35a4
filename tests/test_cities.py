"""Cities issuing under their province (issue 20): Guangzhou (穗康码) and Shenzhen (深i您) under
Guangdong — the configuration that admits them, their formats, routing people to them by the
ID number's area code, and their codes verifying everywhere."""
from __future__ import annotations

import json

import pytest
import requests

from config.settings import load_settings
from issuers import make_person
from residents import GD_ELDER, GZ_RESIDENT, SZ_CHILD, SZ_ELDER
from standard import jose
from standard.errors import ConfigInvalid
from support.cli import add_credential, run_cli
from support.live import LiveServer
from support.paths import ROOT

GUANGZHOU = '''[[region]]
code = "440100"
name = "广州"
name_en = "Guangzhou"
parent = "440000"
format = "suikang"
algorithms = ["ES256"]
renew_at = "社区居委会或街道政务服务中心"
renew_at_en = "your residents' committee or a street service centre"
[region.rules]                # Guangdong's, with medium-risk travel counted for 14 days
medium_risk_travel = { status = "yellow", days = 14 }
'''


def shipped() -> str:
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    assert GUANGZHOU in text
    return text


def with_guangzhou(tmp_path, replacement: str):
    config = tmp_path / "regions.toml"
    config.write_text(shipped().replace(GUANGZHOU, replacement, 1), encoding="utf-8")
    return config


# --- configuration ------------------------------------------------------------------------------
def test_the_shipped_cities_issue_under_guangdong_by_its_rules_or_stricter(tmp_path):
    settings = load_settings(data_dir=tmp_path)
    guangdong, guangzhou, shenzhen = (settings.region(c) for c in ("440000", "440100", "440300"))
    assert (guangdong.parent, guangzhou.parent, shenzhen.parent) == ("", "440000", "440000")
    assert (guangdong.area_prefix, guangzhou.area_prefix, shenzhen.area_prefix) == ("44", "4401", "4403")
    assert (guangzhou.format, shenzhen.format) == ("suikang", "shenainin")
    # what a city does not set it takes from its province; what it sets is stricter
    assert guangzhou.dynamic_ttl == guangdong.dynamic_ttl and shenzhen.dynamic_ttl < guangdong.dynamic_ttl
    assert guangzhou.rules == {**guangdong.rules, "medium_risk_travel": {"status": "yellow", "days": 14}}
    assert shenzhen.rules["high_risk_travel"] == {"status": "red", "days": 14}
    assert [settings.region_for_division(d) for d in ("440106", "440305", "440604", "310115")] == \
        ["440100", "440300", "440000", "310000"]


MEDIUM = 'medium_risk_travel = { status = "yellow", days = 14 }\n'
LOOSER = {      # what: (in Guangzhou's entry, replaced by, and in the whole file, replaced by)
    "a greener colour": (MEDIUM, 'close_contact = "yellow"\n', "", ""),
    "fewer travel days": (MEDIUM, 'high_risk_travel = { status = "yellow", days = 7 }\n', "", ""),
    "a milder travel colour": (MEDIUM, 'medium_risk_travel = { status = "green", days = 14 }\n', "", ""),
    "travel not counted at all": (MEDIUM, 'medium_risk_travel = "yellow"\n', "", ""),
    "a longer phone code": ("algorithms", "dynamic_ttl = 240\nalgorithms", "", ""),
    "a longer printed card": ("algorithms", "offline_ttl = 604800\nalgorithms",     # Guangdong's: 3 days
                              "dynamic_ttl = 180\n", "dynamic_ttl = 180\noffline_ttl = 259200\n"),
}


@pytest.mark.parametrize("what", sorted(LOOSER))
def test_a_city_looser_than_its_province_does_not_load(tmp_path, what):
    old, new, old_file, new_file = LOOSER[what]
    config = with_guangzhou(tmp_path, GUANGZHOU.replace(old, new, 1))
    if old_file:
        config.write_text(config.read_text(encoding="utf-8").replace(old_file, new_file, 1), encoding="utf-8")
    with pytest.raises(ConfigInvalid, match="440100: a city's rules may be stricter than its province's"):
        load_settings(config, tmp_path)


def test_a_city_that_drops_its_provinces_test_requirement_does_not_load(tmp_path):
    config = tmp_path / "regions.toml"
    text = shipped().replace("test_required_days = 0        # 0 = no routine-test requirement",
                             "test_required_days = 3", 1)
    for own, ok in (("test_required_days = 0\n", False), ("test_required_days = 5\n", False),
                    ("test_required_days = 2\n", True), ("", True)):
        config.write_text(text.replace(GUANGZHOU, GUANGZHOU + own, 1), encoding="utf-8")
        if ok:
            assert load_settings(config, tmp_path).region("440100").rules["test_required_days"] in (2, 3)
        else:
            with pytest.raises(ConfigInvalid, match="test_required_days"):
                load_settings(config, tmp_path)


@pytest.mark.parametrize("change,message", [
    (('parent = "440000"', 'parent = "450000"'), "must be a province-level region configured here"),
    (('parent = "440000"', 'parent = "440300"'), "must be a province-level region configured here"),
    (('code = "440100"', 'code = "450100"'), "inside its province 440000"),
    (('code = "440100"', 'code = "440000"'), "region 440000 is configured twice"),
    (('code = "440100"', 'code = "440101"'), "inside its province 440000"),
])
def test_a_city_must_sit_inside_a_configured_province(tmp_path, change, message):
    config = with_guangzhou(tmp_path, GUANGZHOU.replace(*change))
    with pytest.raises(ConfigInvalid, match=message):
        load_settings(config, tmp_path)


def test_a_looser_city_stops_the_cli_and_the_server(tmp_path, monkeypatch):
    config = with_guangzhou(tmp_path, GUANGZHOU.replace('medium_risk_travel = { status = "yellow", days = 14 }',
                                                        'close_contact = "green"'))
    result = run_cli("regions", data_dir=tmp_path / "data", env={"HEALTHCODE_CONFIG": str(config)})
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith("error: config_invalid: region 440100: a city's rules may be stricter")
    assert len(result.stderr.strip().splitlines()) == 1
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    monkeypatch.setenv("HEALTHCODE_DATA", str(tmp_path / "data"))
    from gateway import create_app
    with pytest.raises(ConfigInvalid, match="close_contact gives 'green' where the province gives 'red'"):
        create_app()


# --- a city's codes end to end: an issuer process, a gateway that asks it over HTTP ---------------
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("cities")
    issuer = LiveServer(data)
    gateway = LiveServer(data, {"HEALTHCODE_ISSUER_URL": issuer.url})
    try:
        cred = {role: add_credential(role, f"{role}-1", *(["--kiosk-id", "kiosk-sz-1"] if role == "kiosk" else []),
                                     data_dir=data) for role in ("kiosk", "helper", "operator", "auditor")}
        tokens = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)
        codes = {}
        for region, who, facts in (("440100", GZ_RESIDENT, {"close_contact": True}), ("440300", SZ_ELDER, {}),
                                   ("440300", SZ_CHILD, {}), ("440000", GD_ELDER, {})):
            r = requests.post(f"{issuer.url}/v1/issuers/{region}/codes", headers=auth(tokens[region]), timeout=10,
                              json={"id_number": who.id_number, "name": who.name, "facts": facts})
            assert r.status_code == 201, r.text
            codes[who] = r.json()
        yield {"data": data, "issuer": issuer, "gateway": gateway, "cred": cred, "tokens": tokens, "codes": codes}
    finally:
        gateway.stop()
        issuer.stop()


def auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def post(world, path: str, body: dict, role: str) -> requests.Response:
    return requests.post(world["gateway"].url + path, json=body, headers=auth(world["cred"][role]), timeout=15)


def test_city_codes_are_issued_in_their_own_formats_under_their_own_keys_and_verify(world):
    gz, sz = world["codes"][GZ_RESIDENT], world["codes"][SZ_ELDER]
    assert gz["qr_text"].startswith("SKM1:") and gz["format"] == "suikang" and gz["status"] == "red"
    assert sz["qr_text"].startswith("SZIN1:") and sz["format"] == "shenainin" and sz["status"] == "green"
    listed = requests.get(world["gateway"].url + "/v1/trust-list", timeout=5).json()["trust_list"]["issuers"]
    entries = {e["region"]: e for e in listed}
    assert entries["440100"]["parent"] == entries["440300"]["parent"] == "440000" and "parent" not in entries["440000"]
    kids = {region: {k["kid"] for k in entries[region]["keys"]} for region in ("440000", "440100", "440300")}
    assert not kids["440000"] & kids["440100"] and not kids["440000"] & kids["440300"]     # each its own keys
    for code, region, name in ((gz, "440100", "广州"), (sz, "440300", "深圳")):
        assert jose.parse(code["qr_text"].split(":", 1)[1]).header["kid"] in kids[region]
        verdict = requests.post(world["gateway"].url + "/v1/verify", json={"payload": code["qr_text"]}, timeout=5).json()
        assert verdict["valid"] and verdict["region"] == region, verdict
        assert verdict["issuer"] == {"region": region, "name": name, "parent": "440000", "parent_name": "广东"}
    province = requests.post(world["gateway"].url + "/v1/verify", timeout=5,
                             json={"payload": world["codes"][GD_ELDER]["qr_text"]}).json()
    assert province["valid"] and province["region"] == "440000" and "issuer" not in province


def test_city_codes_verify_offline_on_the_command_line(world, tmp_path):
    (tmp_path / "trust.json").write_text(requests.get(world["issuer"].url + "/v1/trust-list", timeout=5).text)
    (tmp_path / "keys.json").write_text(requests.get(world["issuer"].url + "/v1/trust-list/national-keys",
                                                     timeout=5).text)
    for who, region in ((GZ_RESIDENT, "440100"), (SZ_ELDER, "440300")):
        run = run_cli("verify", world["codes"][who]["qr_text"], "--trust-list", str(tmp_path / "trust.json"),
                      "--national-keys", str(tmp_path / "keys.json"), data_dir=tmp_path / "elsewhere")
        assert run.returncode == 0, run.stdout + run.stderr
        verdict = json.loads(run.stdout)
        assert verdict["region"] == region and verdict["issuer"]["parent"] == "440000"
        assert verdict["issuer"]["parent_name"] == "广东"


def test_a_kiosk_finds_people_at_their_citys_issuer_and_others_at_the_province(world):
    found = {}
    for who in (GZ_RESIDENT, SZ_ELDER, GD_ELDER):
        r = post(world, "/v1/kiosk/lookup", {"id_number": who.id_number, "kiosk_id": "kiosk-sz-1"}, "kiosk")
        assert r.status_code == 200, r.text
        found[who] = (r.json()["region"], r.json()["format"], r.json()["status"])
    assert found == {GZ_RESIDENT: ("440100", "suikang", "red"), SZ_ELDER: ("440300", "shenainin", "green"),
                     GD_ELDER: ("440000", "yuekang", "green")}                     # Foshan: no city of its own
    # the city's issuer answered, under its own credential: the lookups it served are in the audit log
    entries = requests.get(world["gateway"].url + "/v1/audit?limit=500", headers=auth(world["cred"]["auditor"]),
                           timeout=5).json()["entries"]
    served = {(e["actor"]["id"], e["detail"].get("region")) for e in entries if e["action"] == "reissue"}
    assert {("issuer-440100", "440100"), ("issuer-440300", "440300"), ("issuer-440000", "440000")} <= served


def test_a_guangzhou_number_known_only_to_the_province_is_not_found_by_area_code(world):
    """Routing follows the ID number, never where some record happens to be."""
    stray = GZ_RESIDENT._replace(name="黄嘉怡")
    r = requests.post(f"{world['issuer'].url}/v1/issuers/440000/codes", headers=auth(world["tokens"]["440000"]),
                      json={"id_number": stray.id_number, "name": stray.name, "status": "green"}, timeout=10)
    assert r.status_code == 201
    r = post(world, "/v1/assist/lookup", {"id_number": stray.id_number, "name": stray.name}, "helper")
    assert r.status_code == 404 and r.json()["error"]["code"] == "identity_not_matched"
    named = post(world, "/v1/assist/lookup", {"id_number": stray.id_number, "name": stray.name,
                                              "region": "440000"}, "helper")
    assert named.status_code == 200 and named.json()["region"] == "440000"


def test_shenzhen_serves_assisted_lookup_for_an_elder_and_her_grandchild(world):
    """深i您: a helper finds an elder by ID number and name, binds a child to her, and the child's
    code comes from Shenzhen's issuer too, marked whose family member it is."""
    elder = {"id_number": SZ_ELDER.id_number, "name": SZ_ELDER.name}
    child = {"id_number": SZ_CHILD.id_number, "name": SZ_CHILD.name}
    own = post(world, "/v1/assist/lookup", elder, "helper")
    assert own.status_code == 200 and own.json()["region"] == "440300" and own.json()["qr_text"].startswith("SZIN1:")
    bound = post(world, "/v1/dependents", {"holder": elder, "dependent": child, "relation": "child",
                                           "consent": {"method": "signed_form", "reference": "SZ-2026-1"}}, "operator")
    assert bound.status_code == 201 and bound.json()["region"] == "440300", bound.text
    codes = post(world, "/v1/dependents/codes", {"holder": elder}, "helper").json()
    assert codes["holder"]["region"] == "440300"
    (dep,) = codes["dependents"]
    assert dep["valid"] and dep["region"] == "440300" and dep["format"] == "shenainin"
    assert dep["details"]["dependent_of"] == {"holder_name_masked": "林*华", "relation": "child"}
    assert dep["issuer"]["parent"] == "440000"


def test_while_shenzhen_is_withdrawn_guangdongs_issuer_answers_for_its_people(world):
    """The gateway asks issuers over HTTP: while Shenzhen's delegation is withdrawn, an assisted
    lookup of a Shenzhen elder goes to Guangdong's issuer, which answers from its own records —
    identity_not_matched (404, never a 500) until it has one, then Guangdong's code (region
    440000); her bound grandchild, of whom Guangdong has no record, is listed as not found.
    Shenzhen's issuer itself refuses to answer (delegation_withdrawn, 403).  Restored, Shenzhen
    answers again."""
    elder = {"id_number": SZ_ELDER.id_number, "name": SZ_ELDER.name}
    helper = auth(add_credential("helper", "helper-withdrawn", data_dir=world["data"]))    # its own limits

    def assist(path, body):
        return requests.post(world["gateway"].url + path, json=body, headers=helper, timeout=15)

    run_cli("delegations", "withdraw", "--city", "440300", data_dir=world["data"], check=True)
    try:
        missing = assist("/v1/assist/lookup", elder)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "identity_not_matched", missing.text
        assert "440300's delegation is withdrawn" in missing.json()["error"]["message"]
        direct = requests.post(f"{world['issuer'].url}/v1/issuers/440300/lookup", json=elder, timeout=10,
                               headers=auth(world["tokens"]["440300"]))
        assert direct.status_code == 403 and direct.json()["error"]["code"] == "delegation_withdrawn", direct.text
        r = requests.post(f"{world['issuer'].url}/v1/issuers/440000/codes", headers=auth(world["tokens"]["440000"]),
                          json={**elder, "status": "green"}, timeout=10)
        assert r.status_code == 201, r.text
        found = assist("/v1/assist/lookup", elder)
        assert found.status_code == 200 and found.json()["region"] == "440000", found.text
        assert found.json()["format"] == "yuekang" and "issuer" not in found.json()
        family = assist("/v1/dependents/codes", {"holder": elder}).json()
        assert family["holder"]["region"] == "440000"
        assert [d["errors"][0]["code"] for d in family["dependents"]] == ["identity_not_matched"], family
    finally:
        run_cli("delegations", "restore", "--city", "440300", data_dir=world["data"], check=True)
    back = assist("/v1/assist/lookup", elder)
    assert back.status_code == 200 and back.json()["region"] == "440300"


def test_regions_list_cities_with_their_parent(world):
    over_http = requests.get(world["gateway"].url + "/v1/regions", timeout=5).json()
    on_the_command_line = json.loads(run_cli("regions", data_dir=world["data"], check=True).stdout)
    for listed in (over_http, on_the_command_line):
        regions = {r["code"]: r for r in listed}
        assert regions["440100"] == {"code": "440100", "name": "广州", "name_en": "Guangzhou", "format": "suikang",
                                     "parent": "440000"}
        assert regions["440300"]["parent"] == "440000" and "parent" not in regions["440000"]


def test_a_city_rotates_its_own_key_and_leaves_the_provinces_alone(service):
    person = make_person(*GZ_RESIDENT.id_and_name)
    province_kid = service.keystore.signer("440000").kid
    before = service.issuing.issue("440100", person, status="green")
    rotated = service.trust.rotate_key("440100")
    after = service.issuing.issue("440100", person, status="green")
    old_kid, new_kid = (jose.parse(code.qr_text.split(":", 1)[1]).header["kid"] for code in (before, after))
    assert new_kid == rotated != old_kid and province_kid not in (old_kid, new_kid)
    assert service.keystore.signer("440000").kid == province_kid
    for code in (before, after):                    # the retired key still verifies what it signed
        verdict = service.verification.verify(code.qr_text)
        assert verdict.valid and verdict.region == "440100" and verdict.issuer["parent"] == "440000"
