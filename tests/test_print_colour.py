"""Who may set a colour on a printed card (issue 19, item 2), against a running gateway.

Before: an operator's ``POST /v1/print`` with ``"status": "green"`` for a close-contact resident
printed a green card with no reason, rewrote the resident's stored colour (the next kiosk lookup
was green too) and printed green cards for invented people in any region; an ordinary printed
red card verified with ``issuer_override`` instead of ``close_contact``.  Now a card shows what
the person's issuer decided, with the same reasons as the phone code; only the region's own
issuer may override, with a reason that is audited, and the stored colour never changes."""
from __future__ import annotations

import json

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer, config_with_limits
from support.codes import pdf_qr_texts
from residents import GD_ELDER, GD_RESIDENT, SC_RESIDENT

GD = GD_ELDER.id_and_name                       # a Guangdong close contact: red under its rules
SC = SC_RESIDENT.id_and_name                    # a Sichuan resident
NOBODY = (GD_RESIDENT.id_number, "陈美玲")      # valid ID number, never recorded by any issuer


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("print-colour")
    config = config_with_limits(data, prints_per_credential_per_minute=6)
    env = {"HEALTHCODE_CONFIG": str(config)}
    server = LiveServer(data, env)
    server.env = env
    cred = {}
    for role, principal_id in (("operator", "op-print"), ("operator", "op-flood"), ("kiosk", "kiosk-p"),
                               ("auditor", "aud-p")):
        out = run_cli("credentials", "add", "--role", role, "--id", principal_id, data_dir=data, check=True, env=env)
        cred[principal_id] = json.loads(out.stdout)["token"]
    cred.update(json.loads(run_cli("tokens", data_dir=data, check=True, env=env).stdout))
    run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], "--facts",
            '{"close_contact": true}', data_dir=data, check=True, env=env)
    run_cli("issue", "--region", "510000", "--id-number", SC[0], "--name", SC[1], data_dir=data, check=True, env=env)
    server.cred = cred
    yield server
    server.stop()


def post(world, path, who, body):
    return requests.post(world.url + path, json=body, timeout=30,
                         headers={"Authorization": f"Bearer {world.cred[who]}"})


def printed(world, who, people, tmp_path, **extra) -> list[dict]:
    """Print, read the PDF back as an image, and verify each card's QR at the gateway."""
    r = post(world, "/v1/print", who, {"people": people, **extra})
    assert r.status_code == 200, r.text
    pdf = tmp_path / "cards.pdf"
    pdf.write_bytes(r.content)
    texts = [t for page in pdf_qr_texts(pdf, tmp_path) for t in page]
    return [requests.post(world.url + "/v1/verify", json={"payload": t}, timeout=10).json() for t in texts]


def kiosk_colour(world, id_number) -> tuple[str, list]:
    r = post(world, "/v1/kiosk/lookup", "kiosk-p", {"id_number": id_number})
    assert r.status_code == 200, r.text
    return r.json()["status"], r.json()["reasons"]


def audit(world) -> list[dict]:
    return requests.get(world.url + "/v1/audit?limit=1000", timeout=10,
                        headers={"Authorization": f"Bearer {world.cred['aud-p']}"}).json()["entries"]


def test_a_printed_red_card_carries_the_phone_codes_reasons(world, tmp_path):
    (verdict,) = printed(world, "op-print", [{"region": "440000", "id_number": GD[0], "name": GD[1]}], tmp_path)
    assert verdict["valid"] and verdict["kind"] == "offline"
    assert verdict["status"] == "red" and verdict["reasons"] == ["close_contact"]     # not issuer_override
    assert kiosk_colour(world, GD[0]) == ("red", ["close_contact"])


def test_an_operator_cannot_choose_a_colour(world):
    r = post(world, "/v1/print", "op-print",
             {"people": [{"region": "440000", "id_number": GD[0], "name": GD[1], "status": "green"}]})
    assert r.status_code == 403 and r.json()["error"]["code"] == "status_override_refused"
    assert GD[0] not in r.text and GD[1] not in r.text
    assert kiosk_colour(world, GD[0])[0] == "red"                                # stored colour untouched
    refused = [e for e in audit(world) if e["action"] == "print" and e["result"] == "status_override_refused"]
    assert refused and refused[-1]["actor"]["id"] == "op-print"


def test_nobody_is_printed_with_an_invented_colour(world):
    before = len(audit(world))
    nobody = {"region": "440000", "id_number": NOBODY[0], "name": NOBODY[1]}
    for who, extra in (("op-print", {}), ("440000", {}), ("440000", {"status": "green"})):    # not even an override
        r = post(world, "/v1/print", who, {"people": [{**nobody, **extra}], "override_reason": "walk-in"})
        assert r.status_code == 404 and r.json()["error"]["code"] == "identity_not_matched", r.text
        assert NOBODY[0] not in r.text and NOBODY[1] not in r.text
    # a wrong name for a known resident is the same refusal; a care-home list with one such row prints nothing
    r = post(world, "/v1/print", "op-print", {"people": [{"region": "510000", "id_number": SC[0], "name": SC[1]},
                                                         {"region": "440000", "id_number": GD[0], "name": "陈秀"}]})
    assert r.status_code == 404 and "person 2" in r.json()["error"]["message"]
    entries = audit(world)[before:]
    assert not [e for e in entries if e["action"] in ("print", "issue", "reissue") and e["result"] == "ok"]


def test_only_the_regions_own_issuer_overrides_with_a_reason_and_the_rules_decision_stays(world, tmp_path):
    person = {"region": "440000", "id_number": GD[0], "name": GD[1], "status": "green"}
    no_reason = post(world, "/v1/print", "440000", {"people": [person]})
    assert no_reason.status_code == 400 and "override_reason" in no_reason.json()["error"]["message"]
    for body in ({"people": [person], "override_reason": "x"}, {"people": [{**person, "status": None}]}):
        body["people"] = [{k: v for k, v in p.items() if v is not None} for p in body["people"]]
        other_region = post(world, "/v1/print", "510000", body)       # another region's issuer: not even its colour
        assert other_region.status_code == 403 and other_region.json()["error"]["code"] == "forbidden"
    (verdict,) = printed(world, "440000", [person], tmp_path, override_reason="quarantine ended early, ref Q-17")
    assert verdict["valid"] and verdict["status"] == "green"
    assert kiosk_colour(world, GD[0]) == ("red", ["close_contact"])              # the rules' decision stays
    (override,) = [e for e in audit(world) if e["action"] == "print_override"]
    assert override["detail"]["override_reason"] == "quarantine ended early, ref Q-17"
    assert override["detail"]["decided_status"] == "red" and override["detail"]["status"] == "green"
    assert override["actor"] == {"role": "issuer", "id": "issuer-440000", "region": "440000"}
    # the issuer may print its own residents in the decided colour too
    (plain,) = printed(world, "440000", [{k: v for k, v in person.items() if k != "status"}], tmp_path)
    assert plain["status"] == "red" and plain["reasons"] == ["close_contact"]


def test_printing_is_limited_per_credential(world):
    body = {"people": [{"region": "510000", "id_number": SC[0], "name": SC[1]}]}
    codes = [post(world, "/v1/print", "op-flood", body).status_code for _ in range(8)]
    assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]
    assert post(world, "/v1/print", "op-print", body).status_code == 200          # another credential is not


def test_the_cli_prints_the_decided_colour_and_overrides_only_with_a_reason(world, tmp_path):
    base = ("print", "--region", "440000", "--id-number", GD[0], "--name", GD[1])
    no_reason = run_cli(*base, "--status", "green", "--out", str(tmp_path / "a.pdf"), data_dir=world.data, env=world.env)
    assert no_reason.returncode == 2 and "override_reason" in no_reason.stderr and not (tmp_path / "a.pdf").exists()
    batch = tmp_path / "list.csv"
    batch.write_text(f"region,id_number,name,status\n440000,{GD[0]},{GD[1]},green\n", encoding="utf-8")
    operator = run_cli("print", "--batch", str(batch), "--out", str(tmp_path / "b.pdf"), data_dir=world.data,
                       env=world.env)
    assert operator.returncode == 2 and "status_override_refused" in operator.stderr
    nobody = run_cli("print", "--region", "440000", "--id-number", NOBODY[0], "--name", NOBODY[1],
                     "--out", str(tmp_path / "c.pdf"), data_dir=world.data, env=world.env)
    assert nobody.returncode == 2 and "identity_not_matched" in nobody.stderr
    run_cli(*base, "--out", str(tmp_path / "d.pdf"), data_dir=world.data, env=world.env, check=True)
    ((text,),) = pdf_qr_texts(tmp_path / "d.pdf", tmp_path)
    verdict = json.loads(run_cli("verify", text, data_dir=world.data, env=world.env).stdout)
    assert verdict["status"] == "red" and verdict["reasons"] == ["close_contact"]
    assert kiosk_colour(world, GD[0])[0] == "red"
