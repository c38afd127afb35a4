"""A lost printed card: the region's issuer staff list the person's codes that still verify and
withdraw that one card — over HTTP and with the CLI — while the person's phone code keeps
working.  Audited, masked, refused for anyone but that region's issuer."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gateway import create_app
from issuers import make_person
from residents import RESIDENTS

REGION = "440000"
ID_NUMBER, NAME, _ = RESIDENTS[REGION]
HEALTHCODE = Path(sys.executable).parent / "healthcode"


@pytest.fixture
def app_client(service):
    return create_app(service).test_client()


def _auth(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _phone_and_card(service):
    person = make_person(ID_NUMBER, NAME)
    phone = service.issuing.issue(REGION, person, status="yellow")
    card = service.issuing.issue(REGION, person, status="yellow", kind="offline")
    return phone, card


def test_issuer_lists_and_withdraws_one_lost_card_over_http(service, app_client):
    phone, card = _phone_and_card(service)
    token = service.administration.issuer_tokens()[REGION]
    listed = app_client.post(f"/v1/issuers/{REGION}/codes/outstanding", headers=_auth(token),
                             json={"id_number": ID_NUMBER})
    assert listed.status_code == 200, listed.get_json()
    codes = listed.get_json()["codes"]
    assert [c["code_id"] for c in codes] == [card.claims["jti"], phone.claims["jti"]]      # newest first
    assert {c["kind"] for c in codes} == {"offline", "dynamic"} and all(c["status"] == "yellow" for c in codes)
    assert ID_NUMBER not in listed.get_data(as_text=True) and NAME not in listed.get_data(as_text=True)

    gone = app_client.post(f"/v1/issuers/{REGION}/codes/{card.claims['jti']}/withdraw", headers=_auth(token),
                           json={"id_number": ID_NUMBER, "reason": "card lost"})
    assert gone.status_code == 200 and gone.get_json()["withdrawn"] == card.claims["jti"]
    assert gone.get_json()["kind"] == "offline"

    assert service.verification.verify(card.qr_text).errors[0]["code"] == "code_revoked"
    assert service.verification.verify(phone.qr_text).valid                  # the phone code keeps working
    assert card.claims["jti"] in service.trust.trust_list().payload["revoked_jti"]     # offline verifiers too
    after = app_client.post(f"/v1/issuers/{REGION}/codes/outstanding", headers=_auth(token),
                            json={"id_number": ID_NUMBER}).get_json()["codes"]
    assert [c["code_id"] for c in after] == [phone.claims["jti"]]
    actions = [(e["action"], e["result"], e["detail"].get("jti")) for e in service.audit.entries(0, 1000)]
    assert ("codes_list", "ok", None) in actions
    assert ("code_withdraw", "ok", card.claims["jti"]) in actions
    assert ID_NUMBER not in json.dumps(service.audit.entries(0, 1000), ensure_ascii=False)


def test_only_the_regions_own_issuer_may_list_or_withdraw(service, app_client):
    _, card = _phone_and_card(service)
    other = service.administration.issuer_tokens()["310000"]
    operator = service.administration.add_credential("operator", "desk-1", {"role": "system", "id": "t"})
    for token in (other, operator):
        for path, body in ((f"/v1/issuers/{REGION}/codes/outstanding", {"id_number": ID_NUMBER}),
                           (f"/v1/issuers/{REGION}/codes/{card.claims['jti']}/withdraw", {"id_number": ID_NUMBER})):
            r = app_client.post(path, headers=_auth(token), json=body)
            assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden", r.get_json()
    assert app_client.post(f"/v1/issuers/{REGION}/codes/outstanding", json={"id_number": ID_NUMBER}).status_code == 401
    assert service.verification.verify(card.qr_text).valid                    # nothing was withdrawn
    refused = [e for e in service.audit.entries(0, 1000) if e["action"] in ("codes_list", "code_withdraw")]
    assert len(refused) == 5 and all(e["result"] in ("forbidden", "unauthorized") for e in refused)


def test_a_code_that_is_not_this_persons_is_not_found(service, app_client):
    _, card = _phone_and_card(service)
    someone_else = make_person("440106198001010019", "李雷")
    theirs = service.issuing.issue(REGION, someone_else, kind="offline")
    token = service.administration.issuer_tokens()[REGION]
    for code_id in (theirs.claims["jti"], "A" * 16, "bad id!"):
        r = app_client.post(f"/v1/issuers/{REGION}/codes/{code_id}/withdraw", headers=_auth(token),
                            json={"id_number": ID_NUMBER})
        assert r.status_code == 404 and r.get_json()["error"]["code"] == "not_found", (code_id, r.get_json())
    assert service.verification.verify(theirs.qr_text).valid and service.verification.verify(card.qr_text).valid
    r = app_client.post(f"/v1/issuers/{REGION}/codes/outstanding", headers=_auth(token),
                        json={"id_number": "440106198001010018"})                         # bad check digit
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "id_number_invalid", r.get_json()
    results = [e["result"] for e in service.audit.entries(0, 1000) if e["action"] in ("codes_list", "code_withdraw")]
    assert results.count("not_found") == 3 and "id_number_invalid" in results


def _cli(data_dir, *args):
    env = {**os.environ, "HEALTHCODE_DATA": str(data_dir)}
    return subprocess.run([str(HEALTHCODE), *args], capture_output=True, text=True, env=env, timeout=120)


def test_cli_lists_and_withdraws_a_card(service, data_dir):
    phone, card = _phone_and_card(service)
    person = ("--region", REGION, "--id-number", ID_NUMBER)
    listed = _cli(data_dir, "codes", "list", *person)
    assert listed.returncode == 0, listed.stderr
    assert [c["code_id"] for c in json.loads(listed.stdout)] == [card.claims["jti"], phone.claims["jti"]]
    gone = _cli(data_dir, "codes", "withdraw", *person, "--code-id", card.claims["jti"], "--reason", "lost")
    assert gone.returncode == 0 and json.loads(gone.stdout)["withdrawn"] == card.claims["jti"], gone.stderr
    assert service.verification.verify(card.qr_text).errors[0]["code"] == "code_revoked"
    again = _cli(data_dir, "codes", "withdraw", *person, "--code-id", card.claims["jti"])
    assert again.returncode == 2 and again.stderr.strip().splitlines() == [
        "error: not_found: this person has no outstanding code with this id in this region"]
    bad = _cli(data_dir, "codes", "list", "--region", REGION, "--id-number", "440106198001010018")
    assert bad.returncode == 2 and len(bad.stderr.strip().splitlines()) == 1 and bad.stderr.startswith("error: id_number_invalid")
