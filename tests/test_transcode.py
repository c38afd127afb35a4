"""Transcoding: 粤↔澳 over HTTP with provenance, and between any two regions in-process."""
from __future__ import annotations

import itertools
import json

import pytest
import requests

from standard import jose
from standard.errors import DelegationInvalid
import standard
from issuers import make_person
from support.cli import run_cli
from residents import GD_YOUNG, GZ_RESIDENT, MO_RESIDENT, RESIDENTS

GD = tuple(GD_YOUNG)
MO = tuple(MO_RESIDENT)


def person(spec):
    return make_person(spec[0], spec[1], spec[2])


def test_macau_native_format(service):
    issued = service.issuing.issue("820000", person(MO), status="yellow")
    assert issued.qr_text.startswith("MOHC1:")
    native = json.loads(jose.parse(issued.qr_text[6:]).payload)
    assert native["estado"] == "amarelo" and native["tipo_documento"] == "bir" and native["documento"] == "12****78"
    verdict = service.verification.verify(issued.qr_text)
    assert verdict.valid and verdict.holder == {"name_masked": "陳*文", "id_masked": "12****78"}


@pytest.mark.parametrize("raw", ["1234567(8)", "12345678", "１２３４５６７（８）", " 1234567 (8) "])
def test_macau_id_numbers_normalize(raw):
    assert make_person(raw, "陳大文", "macau_id").id_number == "12345678"


@pytest.mark.parametrize("raw", ["2234567(8)", "123456(7)", "A234567(8)"])
def test_bad_macau_id_numbers(raw):
    from standard.errors import InvalidIdNumber
    with pytest.raises(InvalidIdNumber):
        make_person(raw, "陳大文", "macau_id")


def test_gd_to_mo_to_gd_keeps_provenance(live_server, live_data):
    tokens = json.loads(run_cli("tokens", data_dir=live_data, check=True).stdout)
    operator = json.loads(run_cli("credentials", "add", "--role", "operator", "--id", "border-desk",
                                  data_dir=live_data, check=True).stdout)["token"]
    url = live_server.url
    original = requests.post(f"{url}/v1/issuers/440000/codes",
                             json={"id_number": GD[0], "name": GD[1], "facts": {"close_contact": True}},
                             headers={"Authorization": f"Bearer {tokens['440000']}"}, timeout=10).json()
    to_mo = requests.post(f"{url}/v1/transcode", json={"payload": original["qr_text"], "target_region": "820000"},
                          headers={"Authorization": f"Bearer {tokens['820000']}"}, timeout=10)
    assert to_mo.status_code == 201, to_mo.text
    mo = to_mo.json()
    assert mo["qr_text"].startswith("MOHC1:") and mo["status"] == "red"
    assert mo["reasons"] == ["close_contact", "transcoded"]
    assert mo["provenance"] == {"region": "440000", "jti": original["code_id"], "format": "yuekang",
                                "origin_region": "440000", "origin_jti": original["code_id"]}
    back = requests.post(f"{url}/v1/transcode", json={"payload": mo["qr_text"], "target_region": "440000"},
                         headers={"Authorization": f"Bearer {operator}"}, timeout=10).json()
    assert back["qr_text"].startswith("YKM1:") and back["status"] == "red"
    assert back["provenance"] == {"region": "820000", "jti": mo["code_id"], "format": "macau",
                                  "origin_region": "440000", "origin_jti": original["code_id"]}
    assert back["holder"] == original["holder"] == mo["holder"]
    verdict = requests.post(f"{url}/v1/verify", json={"payload": back["qr_text"]}, timeout=10).json()
    assert verdict["valid"] and verdict["details"]["transcoded_from"]["origin_jti"] == original["code_id"]
    assert standard.parse_rfc3339(back["expires_at"]) <= standard.parse_rfc3339(original["expires_at"])
    # the audit log links every hop
    auditor = json.loads(run_cli("credentials", "add", "--role", "auditor", "--id", "aud", data_dir=live_data,
                                 check=True).stdout)["token"]
    entries = requests.get(f"{url}/v1/audit?limit=1000", headers={"Authorization": f"Bearer {auditor}"},
                           timeout=10).json()["entries"]
    hops = [(e["detail"]["source_jti"], e["detail"]["jti"]) for e in entries if e["action"] == "transcode"]
    assert (original["code_id"], mo["code_id"]) in hops and (mo["code_id"], back["code_id"]) in hops


def test_transcode_permissions_and_refusals(live_server, live_data):
    tokens = json.loads(run_cli("tokens", data_dir=live_data, check=True).stdout)
    code = requests.post(f"{live_server.url}/v1/issuers/440000/codes", json={"id_number": GD[0], "name": GD[1]},
                         headers={"Authorization": f"Bearer {tokens['440000']}"}, timeout=10).json()["qr_text"]
    r = requests.post(f"{live_server.url}/v1/transcode", json={"payload": code, "target_region": "820000"},
                      headers={"Authorization": f"Bearer {tokens['440000']}"}, timeout=10)
    assert r.status_code == 403            # Guangdong may not sign Macau codes
    r = requests.post(f"{live_server.url}/v1/transcode", json={"payload": code[:-4] + "AAAA", "target_region": "820000"},
                      headers={"Authorization": f"Bearer {tokens['820000']}"}, timeout=10)
    assert r.status_code == 422 and r.json()["error"]["code"] == "transcode_refused"
    assert "signature_invalid" in r.json()["error"]["message"]
    r = requests.post(f"{live_server.url}/v1/transcode", json={"payload": code, "target_region": "999999"},
                      headers={"Authorization": f"Bearer {tokens['820000']}"}, timeout=10)
    assert r.status_code == 404


REGIONS = sorted(RESIDENTS)


@pytest.mark.parametrize("source,target", [p for p in itertools.permutations(REGIONS, 2)])
def test_any_two_regions(service, source, target):
    # the source region's own resident: a city issues only for its own areas (docs/standard.md §7.1)
    issued = service.issuing.issue(source, person(tuple(RESIDENTS[source])), facts={"close_contact": True})
    city = service.settings.region(target)
    resident = RESIDENTS[source]
    if city.parent and resident.id_type == "resident" and not resident.id_number.startswith(city.area_prefix):
        # and it carries only its own area's residents, transcoded codes too: theirs is the province's
        with pytest.raises(DelegationInvalid, match=f"transcode this code into {city.parent}"):
            service.issuing.transcode(issued.qr_text, target)
        return
    new, _ = service.issuing.transcode(issued.qr_text, target)
    verdict = service.verification.verify(new.qr_text)
    assert verdict.valid and verdict.region == target
    assert verdict.format == service.settings.region(target).format
    expected = service.settings.region(target).rules["close_contact"]
    assert verdict.status == expected           # re-decided under the target's rules
    assert verdict.details["transcoded_from"]["jti"] == issued.claims["jti"]


def test_suikang_to_tianfu_and_back_names_the_city_of_origin(service):
    """穗康码 → 天府健康通 → 穗康码: each hop re-decided by the target's rules (close contact:
    yellow in Sichuan, red in Guangzhou), and the provenance still names Guangzhou's first code."""
    issued = service.issuing.issue("440100", person(GZ_RESIDENT), facts={"close_contact": True})
    assert issued.qr_text.startswith("SKM1:")
    sichuan, _ = service.issuing.transcode(issued.qr_text, "510000")
    there = service.verification.verify(sichuan.qr_text)
    assert (there.format, there.status, there.details["transcoded_from"]["format"]) == ("tianfu", "yellow", "suikang")
    back, _ = service.issuing.transcode(sichuan.qr_text, "440100")
    assert back.qr_text.startswith("SKM1:")
    home = service.verification.verify(back.qr_text)
    assert (home.region, home.status, home.issuer["parent"]) == ("440100", "red", "440000")
    assert home.details["transcoded_from"]["origin_region"] == "440100"
    assert home.details["transcoded_from"]["origin_jti"] == issued.claims["jti"]


def test_manual_red_is_never_laundered(service):
    issued = service.issuing.issue("440000", person(GD), status="red")           # issuer_override
    new, _ = service.issuing.transcode(issued.qr_text, "510000")
    assert service.verification.verify(new.qr_text).status == "red"


def test_target_rules_can_relax_a_colour(service):
    """Close contact: red in Guangdong, yellow in Sichuan — the target's rules decide."""
    issued = service.issuing.issue("440000", person(GD), facts={"close_contact": True})
    new, _ = service.issuing.transcode(issued.qr_text, "510000")
    verdict = service.verification.verify(new.qr_text)
    assert (verdict.status, verdict.reasons) == ("yellow", ["close_contact", "transcoded"])


@pytest.mark.slow
def test_cli_transcode(tmp_path):
    data = tmp_path / "d"
    text = run_cli("issue", "--region", "820000", "--id-number", MO[0], "--name", MO[1], "--id-type", "macau_id",
                   data_dir=data, check=True).stdout.strip()
    out = run_cli("transcode", text, "--to", "440000", data_dir=data, check=True).stdout.strip()
    assert out.startswith("YKM1:")
    assert run_cli("transcode", "YKM1:broken", "--to", "440000", data_dir=data).returncode == 1
