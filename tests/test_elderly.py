"""People without phones: kiosk and assisted lookups through real HTTP between the gateway and
a separate issuer process, printed offline cards read back from rendered PDFs, dependents,
revocation online and offline, audit and role separation."""
from __future__ import annotations

import csv
import json
import shutil
import sqlite3
import time

import pytest
import requests

from standard import trustlist
from adapters.verifier import Verifier
from residents import BJ_ELDER, GD_ELDER, SC_CHILD, SH_ELDER, ZJ_ADULT
from support.cli import run_cli
from support.codes import pdf_qr_texts
from support.live import LiveServer, config_with_limits, free_port

ELDERS = {  # region: (id number, name, status) — the people a kiosk and a helper serve here
    "440000": (*GD_ELDER.id_and_name, "green"),
    "310000": (*SH_ELDER.id_and_name, "yellow"),
    "510000": (*SC_CHILD.id_and_name, "red"),
    "110000": (*BJ_ELDER.id_and_name, "green"),
    "330000": (*ZJ_ADULT.id_and_name, "yellow"),
}


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """An issuer process and a gateway process that calls it over HTTP."""
    data = tmp_path_factory.mktemp("elderly-data")
    config = config_with_limits(data, assisted_per_helper_per_hour=6, assisted_per_helper_per_minute=100)
    env = {"HEALTHCODE_CONFIG": str(config)}
    issuer = LiveServer(data, env)
    gateway = LiveServer(data, {**env, "HEALTHCODE_ISSUER_URL": issuer.url})
    cred = {}
    for role in ("kiosk", "helper", "operator", "auditor", "data_manager"):
        device = ["--kiosk-id", "kiosk-gz-001"] if role == "kiosk" else []
        out = run_cli("credentials", "add", "--role", role, "--id", f"{role}-1", *device, data_dir=data, check=True)
        cred[role] = json.loads(out.stdout)["token"]
    helper2 = run_cli("credentials", "add", "--role", "helper", "--id", "helper-2", data_dir=data, check=True)
    cred["helper2"] = json.loads(helper2.stdout)["token"]
    tokens = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)
    for region, (id_number, name, status) in ELDERS.items():
        r = requests.post(f"{issuer.url}/v1/issuers/{region}/codes",
                          json={"id_number": id_number, "name": name, "status": status},
                          headers=auth(tokens[region]), timeout=10)
        assert r.status_code == 201, r.text
    yield {"data": data, "issuer": issuer, "gateway": gateway, "cred": cred, "tokens": tokens, "env": env}
    gateway.stop()
    issuer.stop()


def auth(token):
    return {"Authorization": f"Bearer {token}"}


def post(world, path, body, role, server="gateway"):
    return requests.post(world[server].url + path, json=body, headers=auth(world["cred"][role]), timeout=15)


@pytest.mark.parametrize("region", sorted(ELDERS))
def test_kiosk_lookup_for_each_region(world, region):
    id_number, name, status = ELDERS[region]
    card_read = " ".join([id_number[:6], id_number[6:14], id_number[14:]]).lower()   # as typed by a reader
    t0 = time.perf_counter()
    r = post(world, "/v1/kiosk/lookup", {"id_number": card_read, "kiosk_id": "kiosk-gz-001"}, "kiosk")
    elapsed = time.perf_counter() - t0
    assert r.status_code == 200, r.text
    body = r.json()
    assert (body["valid"], body["status"], body["region"]) == (True, status, region)
    assert body["holder"]["id_masked"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert elapsed < 2.0                       # the card reader's budget (measured properly in bench/)
    again = requests.post(world["gateway"].url + "/v1/verify", json={"payload": body["qr_text"]}, timeout=5)
    assert again.json()["code_id"] == body["code_id"]


def test_kiosk_rejects_invalid_id_numbers_clearly(world):
    r = post(world, "/v1/kiosk/lookup", {"id_number": "440305193606300644"}, "kiosk")
    assert r.status_code == 400 and r.json()["error"]["code"] == "id_number_invalid"
    r = post(world, "/v1/kiosk/lookup", {"id_number": "320106201408119291"}, "kiosk")    # Jiangsu: not served
    assert r.status_code == 404 and r.json()["error"]["code"] == "region_unknown"


def test_a_kiosk_miss_speaks_only_of_the_number_it_read(world):
    """The kiosk sends the card's number alone: its refusal names no name (the assisted lookup,
    which sends one, says both)."""
    kiosk = post(world, "/v1/kiosk/lookup", {"id_number": "440604199901056855"}, "kiosk")
    assisted = post(world, "/v1/assist/lookup", {"id_number": "440604199901056855", "name": "李明"}, "helper2")
    assert kiosk.status_code == assisted.status_code == 404
    assert kiosk.json()["error"] == {"code": "identity_not_matched", "message": "no record matches this ID number"}
    assert assisted.json()["error"]["message"] == "no record matches this ID number and name"


def test_assisted_lookup_needs_the_right_name(world):
    id_number, name, _ = ELDERS["440000"]
    ok = post(world, "/v1/assist/lookup", {"id_number": id_number, "name": name}, "helper2")
    assert ok.status_code == 200 and ok.json()["valid"]
    wrong = post(world, "/v1/assist/lookup", {"id_number": id_number, "name": "陈秀兰"}, "helper2")
    unknown = post(world, "/v1/assist/lookup", {"id_number": "440106199901056850", "name": "李明"}, "helper2")
    for r in (wrong, unknown):
        assert r.status_code == 404
        assert r.json()["error"]["code"] == "identity_not_matched"
    assert wrong.json() == unknown.json()           # a wrong name reveals nothing
    missing = post(world, "/v1/assist/lookup", {"id_number": id_number}, "helper2")
    assert missing.status_code == 400


def test_helper_rate_limit_stops_enumeration(world):
    id_number, name, _ = ELDERS["110000"]
    codes = [post(world, "/v1/assist/lookup", {"id_number": id_number, "name": f"猜{i}"}, "helper").status_code
             for i in range(8)]
    assert codes[:6] == [404] * 6 and codes[6:] == [429, 429]
    blocked = post(world, "/v1/assist/lookup", {"id_number": id_number, "name": name}, "helper")
    assert blocked.json()["error"]["code"] == "rate_limited"


def test_issuer_down_gives_clear_error_not_a_colour(world):
    dead = f"http://127.0.0.1:{free_port()}"
    gateway = LiveServer(world["data"], {**world["env"], "HEALTHCODE_ISSUER_URL": dead})
    try:
        t0 = time.perf_counter()
        r = requests.post(gateway.url + "/v1/kiosk/lookup", json={"id_number": ELDERS["440000"][0]},
                          headers=auth(world["cred"]["kiosk"]), timeout=15)
        assert r.status_code == 503 and r.json()["error"]["code"] == "issuer_unavailable"
        assert "status" not in r.json()
        assert time.perf_counter() - t0 < 5
    finally:
        gateway.stop()


def test_roles_are_separated(world):
    lookup = {"id_number": ELDERS["440000"][0], "name": ELDERS["440000"][1]}
    assert post(world, "/v1/assist/lookup", lookup, "auditor").status_code == 403
    assert post(world, "/v1/assist/lookup", lookup, "data_manager").status_code == 403
    for role in ("kiosk", "helper", "operator", "data_manager"):
        r = requests.get(world["gateway"].url + "/v1/audit", headers=auth(world["cred"][role]), timeout=5)
        assert r.status_code == 403 and r.json()["error"]["code"] == "forbidden"
    assert post(world, "/v1/admin/purge", {}, "auditor").status_code == 403
    assert post(world, "/v1/admin/purge", {}, "operator").status_code == 403
    assert requests.post(world["gateway"].url + "/v1/kiosk/lookup", json=lookup, timeout=5).status_code == 401
    r = requests.post(world["gateway"].url + "/v1/issuers/440000/codes", json=lookup,
                      headers=auth(world["cred"]["operator"]), timeout=5)
    assert r.status_code == 403


def test_lookups_are_audited_without_plain_ids(world):
    r = requests.get(world["gateway"].url + "/v1/audit?limit=1000", headers=auth(world["cred"]["auditor"]), timeout=5)
    entries = r.json()["entries"]
    lookups = [e for e in entries if e["action"] in ("kiosk_lookup", "assisted_lookup")]
    assert lookups and all(e["actor"]["role"] in ("kiosk", "helper", "auditor", "data_manager", "unauthenticated")
                           for e in lookups)
    # a lookup that reached the service names its pseudonymous subject; one refused before
    # (a bad check digit, a wrong role, no token) is audited without one
    assert all(e["subject"] for e in lookups if e["result"] in ("ok", "identity_not_matched"))
    assert any(e["result"] == "id_number_invalid" and e["subject"] is None for e in lookups)
    assert any(e["result"] == "forbidden" for e in lookups)
    assert any(e["result"] == "identity_not_matched" for e in lookups)
    assert any(e["result"] == "rate_limited" for e in lookups)
    dump = json.dumps(entries, ensure_ascii=False)
    for id_number, name, _ in ELDERS.values():
        assert id_number not in dump and name not in dump
    verify = requests.get(world["gateway"].url + "/v1/audit/verify", headers=auth(world["cred"]["auditor"]), timeout=5)
    assert verify.json()["intact"] is True


def test_revocation_online_at_once_and_offline_after_refresh(world, tmp_path):
    id_number, name = "440106199901056850", "李明"
    region = "440000"
    issued = requests.post(f"{world['issuer'].url}/v1/issuers/{region}/codes",
                           json={"id_number": id_number, "name": name, "kind": "offline", "status": "green"},
                           headers=auth(world["tokens"][region]), timeout=10).json()
    keys = requests.get(world["gateway"].url + "/v1/trust-list/national-keys", timeout=5).json()
    cached = requests.get(world["issuer"].url + "/v1/trust-list", timeout=5).json()["jws"]
    offline = Verifier(["national", "yuekang"])
    assert offline.verify(issued["qr_text"], trustlist.parse(cached, keys)).valid
    r = requests.post(f"{world['issuer'].url}/v1/issuers/{region}/revocations", json={"id_number": id_number},
                      headers=auth(world["tokens"][region]), timeout=10)
    assert r.json()["revoked"] >= 1
    online = requests.post(world["gateway"].url + "/v1/verify", json={"payload": issued["qr_text"]}, timeout=5).json()
    assert online["valid"] is False and online["errors"][0]["code"] == "code_revoked"
    # the stale cached list still says valid — that is the documented staleness window
    assert offline.verify(issued["qr_text"], trustlist.parse(cached, keys)).valid
    refreshed = requests.get(world["issuer"].url + "/v1/trust-list", timeout=5).json()
    assert issued["code_id"] in refreshed["trust_list"]["revoked_jti"]
    verdict = offline.verify(issued["qr_text"], trustlist.parse(refreshed["jws"], keys))
    assert verdict.errors[0]["code"] == "code_revoked"


def test_turning_red_withdraws_earlier_codes(world):
    id_number, name, region = "310115200805135105", "王小红", "310000"
    headers = auth(world["tokens"][region])
    url = f"{world['issuer'].url}/v1/issuers/{region}/codes"
    green = requests.post(url, json={"id_number": id_number, "name": name, "status": "green"}, headers=headers, timeout=5).json()
    red = requests.post(url, json={"id_number": id_number, "name": name, "facts": {"close_contact": True}},
                        headers=headers, timeout=5).json()
    assert red["status"] == "red"
    check = lambda text: requests.post(world["gateway"].url + "/v1/verify", json={"payload": text}, timeout=5).json()  # noqa: E731
    assert check(green["qr_text"])["errors"][0]["code"] == "code_revoked"
    assert check(red["qr_text"])["status"] == "red"


def test_dependents_show_whose_code_it_is(world):
    holder = {"id_number": "440605198001010028", "name": "陈美玲"}             # Foshan: Guangdong's own
    requests.post(f"{world['issuer'].url}/v1/issuers/440000/codes", json={**holder, "status": "green"},
                  headers=auth(world["tokens"]["440000"]), timeout=5)
    child = {"id_number": ELDERS["510000"][0], "name": ELDERS["510000"][1]}
    mother = {"id_number": ELDERS["440000"][0], "name": ELDERS["440000"][1]}
    for dep, relation in ((child, "child"), (mother, "parent")):
        r = post(world, "/v1/dependents", {"holder": holder, "dependent": dep, "relation": relation,
                                           "consent": {"method": "signed_form", "reference": "F-2026-11"}}, "operator")
        assert r.status_code == 201, r.text
    bad = post(world, "/v1/dependents", {"holder": holder, "dependent": child, "relation": "child", "consent": {}}, "operator")
    assert bad.status_code == 400
    r = post(world, "/v1/dependents/codes", {"holder": holder}, "operator")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["holder"]["valid"] and body["holder"]["holder"]["name_masked"] == "陈*玲"
    deps = {d["relation"]: d for d in body["dependents"]}
    assert deps["child"]["status"] == "red" and deps["child"]["region"] == "510000"
    assert deps["child"]["details"]["dependent_of"] == {"holder_name_masked": "陈*玲", "relation": "child"}
    assert deps["parent"]["holder"]["name_masked"] == "陈*英"
    # a checkpoint scanning the dependent's code sees the same
    scanned = requests.post(world["gateway"].url + "/v1/verify", json={"payload": deps["child"]["qr_text"]}, timeout=5).json()
    assert scanned["details"]["dependent_of"]["relation"] == "child"
    # each dependent's code handed out is one audited lookup of that person
    r = requests.get(world["gateway"].url + "/v1/audit?limit=1000", headers=auth(world["cred"]["auditor"]), timeout=5)
    looked_up = [e for e in r.json()["entries"] if e["action"] == "dependent_lookup" and e["result"] == "ok"]
    assert len(looked_up) == 2 and all(e["subject"] for e in looked_up)




def test_printed_card_verifies_offline(world, tmp_path):
    out = tmp_path / "card.pdf"
    id_number, name, _ = ELDERS["510000"]
    run_cli("print", "--region", "510000", "--id-number", id_number, "--name", name, "--out", str(out),
            data_dir=world["data"], check=True)
    (texts,) = pdf_qr_texts(out, tmp_path)
    assert len(texts) == 1 and texts[0].startswith("TFJKT:")
    keys = requests.get(world["gateway"].url + "/v1/trust-list/national-keys", timeout=5).json()
    cached = requests.get(world["issuer"].url + "/v1/trust-list", timeout=5).json()["jws"]
    verdict = Verifier(["tianfu"]).verify(texts[0], trustlist.parse(cached, keys), int(time.time()) + 6 * 86400)
    assert verdict.valid and verdict.kind == "offline" and verdict.status == "red"
    assert verdict.expires_at > verdict.issued_at


def test_care_home_batch_prints_four_per_sheet(world, tmp_path):
    batch = tmp_path / "care-home.csv"
    with batch.open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["region", "id_number", "name"])
        for region, (id_number, name, _) in ELDERS.items():
            writer.writerow([region, id_number, name])
        writer.writerow(["440000", "440106197209116424", "陈美玲"])
    run_cli("issue", "--region", "440000", "--id-number", "440106197209116424", "--name", "陈美玲",
            data_dir=world["data"], env=world["env"], check=True)
    out = tmp_path / "sheet.pdf"
    run_cli("print", "--batch", str(batch), "--out", str(out), data_dir=world["data"], check=True)
    pages = pdf_qr_texts(out, tmp_path)
    rows = len(ELDERS) + 1
    assert [len(p) for p in pages] == [4] * (rows // 4) + ([rows % 4] if rows % 4 else [])
    statuses = [requests.post(world["gateway"].url + "/v1/verify", json={"payload": t}, timeout=5).json()["status"]
                for page in pages for t in page]
    assert sorted(statuses) == sorted([s for _, _, s in ELDERS.values()] + ["green"])


def test_batch_with_one_bad_row_prints_nothing(world, tmp_path):
    batch = tmp_path / "bad.csv"
    batch.write_text("region,id_number,name\n440000,440305193606300643,陈秀英\n440000,123,坏\n", encoding="utf-8")
    out = tmp_path / "bad.pdf"
    before = sqlite3.connect(world["data"] / "healthcode.sqlite3").execute("SELECT count(*) FROM issued_codes").fetchone()[0]
    result = run_cli("print", "--batch", str(batch), "--out", str(out), data_dir=world["data"])
    assert result.returncode == 2 and "row 3" in result.stderr and "id_number_invalid" in result.stderr
    assert not out.exists()
    after = sqlite3.connect(world["data"] / "healthcode.sqlite3").execute("SELECT count(*) FROM issued_codes").fetchone()[0]
    assert before == after


def test_print_over_http_returns_pdf(world):
    people = [{"region": "110000", "id_number": ELDERS["110000"][0], "name": ELDERS["110000"][1]}]
    r = post(world, "/v1/print", {"people": people}, "operator")
    assert r.status_code == 200 and r.headers["Content-Type"] == "application/pdf" and r.content[:5] == b"%PDF-"
    assert post(world, "/v1/print", {"people": people}, "kiosk").status_code == 403


def test_audit_tamper_is_detected(world, tmp_path):
    copy = tmp_path / "copy"
    shutil.copytree(world["data"], copy)
    assert run_cli("audit", "verify", data_dir=copy).returncode == 0
    with sqlite3.connect(copy / "healthcode.sqlite3") as conn:
        seq, entry = conn.execute("SELECT seq, entry FROM audit_log ORDER BY seq LIMIT 1 OFFSET 3").fetchone()
        doctored = json.loads(entry)
        doctored["result"] = "ok" if doctored["result"] != "ok" else "denied"
        conn.execute("UPDATE audit_log SET entry = ? WHERE seq = ?", (json.dumps(doctored), seq))
    result = run_cli("audit", "verify", data_dir=copy)
    assert result.returncode == 1
    assert json.loads(result.stdout) == {"intact": False, "entries": 3, "broken_at": 4, "problem": "entry altered"}
