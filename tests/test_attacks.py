"""Attacks on a running gateway, each as an attacker ran it, each refused.

Every test here reproduces a finding against `healthcode serve` over HTTP (or the CLI) and
failed before its fix: dependents bound under any name, kiosk limits dodged by rotating a body
field, keys that could not be revoked, inputs that produced a 500, junk stored row by row,
refused lookups missing from the audit log, personal data echoed in errors, a replayed trust
list, metrics open to anyone, credentials that could not be withdrawn.
"""
from __future__ import annotations

import json
import sqlite3
import time

import pytest
import requests

import residents
from support.waiting import wait_until
from support.cli import add_credential, run_cli
from support.live import LiveServer, call, config_with_limits

GD = residents.GD_ELDER.id_and_name             # a Guangdong resident
SC_CHILD = residents.SC_CHILD.id_and_name       # a Sichuan child
MO = residents.MO_RESIDENT.id_and_name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A gateway serving its own issuers, with small limits so the attacks reach them quickly."""
    data = tmp_path_factory.mktemp("attacks")
    config = config_with_limits(data, kiosk_lookups_per_minute=8, dependents_per_holder=2,
                                dependent_binds_per_hour=6, anonymous_verifications_per_minute=60)
    env = {"HEALTHCODE_CONFIG": str(config)}
    server = LiveServer(data, env)
    server.env = env

    def token(role, principal, *extra):
        return add_credential(role, principal, *extra, data_dir=data, env=env)

    server.cred = {"kiosk": token("kiosk", "kiosk-a", "--kiosk-id", "gz-station-1"),
                   "helper": token("helper", "helper-a"), "operator": token("operator", "op-a"),
                   "dm": token("data_manager", "dm-a"), "auditor": token("auditor", "aud-a")}
    for region, (id_number, name), id_type in (("440000", GD, "resident"), ("510000", SC_CHILD, "resident"),
                                               ("820000", MO, "macau_id")):
        run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, "--id-type", id_type,
                data_dir=data, check=True, env=env)
    yield server
    server.stop()


def audit(world) -> list[dict]:
    return call(world, "GET", "/v1/audit?limit=1000", "auditor").json()["entries"]


def person(id_number, name, **extra):
    return {"id_number": id_number, "name": name, **extra}


# --- 1. dependents ---------------------------------------------------------------------------
def test_a_dependent_is_bound_only_with_the_right_name_and_consent(world):
    consent = {"method": "signed_form", "reference": "F-2026-0042"}
    wrong = call(world, "POST", "/v1/dependents", "helper", json={
        "holder": person(*GD), "dependent": person(SC_CHILD[0], "完全错"), "relation": "child", "consent": consent})
    assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "identity_not_matched"
    codes = call(world, "POST", "/v1/dependents/codes", "kiosk", json={"holder": person(*GD)}).json()
    assert codes["dependents"] == []                        # nothing was bound, nothing leaks
    no_reference = call(world, "POST", "/v1/dependents", "helper", json={
        "holder": person(*GD), "dependent": person(*SC_CHILD), "relation": "child",
        "consent": {"method": "signed_form"}})
    assert no_reference.status_code == 400
    ok = call(world, "POST", "/v1/dependents", "helper", json={
        "holder": person(*GD), "dependent": person(*SC_CHILD), "relation": "child", "consent": consent})
    assert ok.status_code == 201, ok.text
    entries = [e for e in audit(world) if e["action"] == "bind_dependent"]
    assert {e["result"] for e in entries} >= {"identity_not_matched", "bad_request", "ok"}
    assert any(e["detail"].get("consent_reference") == "F-2026-0042" for e in entries)


def test_a_holder_carries_a_capped_number_of_dependents(world):
    consent = {"method": "in_person", "reference": "desk-7"}
    results = [call(world, "POST", "/v1/dependents", "operator", json={
        "holder": person(*MO, id_type="macau_id"), "dependent": person(*dep), "relation": "other",
        "consent": consent}).status_code for dep in (GD, SC_CHILD)]
    assert results == [201, 201]
    run_cli("issue", "--region", "310000", "--id-number", "310115193302201761", "--name", "王桂兰",
            data_dir=world.data, check=True, env=world.env)
    third = call(world, "POST", "/v1/dependents", "operator", json={
        "holder": person(*MO, id_type="macau_id"), "dependent": person("310115193302201761", "王桂兰"),
        "relation": "other", "consent": consent})
    assert third.status_code == 400 and "at most 2" in third.json()["error"]["message"]


# --- 2. limits follow the credential ---------------------------------------------------------
def test_a_kiosk_cannot_rotate_its_kiosk_id(world):
    body = {"id_number": GD[0]}
    other = call(world, "POST", "/v1/kiosk/lookup", "kiosk", json={**body, "kiosk_id": "rotated-001"})
    assert other.status_code == 403 and other.json()["error"]["code"] == "forbidden"
    statuses = [call(world, "POST", "/v1/kiosk/lookup", "kiosk",
                     json={**body, "kiosk_id": "gz-station-1"} if i % 2 else body).status_code
                for i in range(10)]
    assert statuses[:8] == [200] * 8 and statuses[8:] == [429, 429]      # 8 a minute, however sent
    refused = call(world, "POST", "/v1/kiosk/lookup", "kiosk", json=body)
    assert refused.status_code == 429 and 0 < int(refused.headers["Retry-After"]) <= 60
    entries = [e for e in audit(world) if e["action"] == "kiosk_lookup"]
    assert all(e["actor"].get("kiosk") in (None, "gz-station-1") for e in entries)
    assert any(e["result"] == "forbidden" for e in entries)


# --- 3. key revocation ---------------------------------------------------------------------------
def test_a_revoked_key_verifies_nothing_online_or_offline(world, tmp_path):
    qr_text = run_cli("issue", "--region", "820000", "--id-number", MO[0], "--name", MO[1], "--id-type",
                      "macau_id", "--kind", "offline", data_dir=world.data, check=True, env=world.env).stdout.strip()
    assert call(world, "POST", "/v1/verify", json={"payload": qr_text}).json()["valid"]
    kid = json.loads(run_cli("keys", "list", data_dir=world.data, check=True, env=world.env).stdout)["820000"][-1]["kid"]
    assert call(world, "POST", f"/v1/admin/keys/820000/{kid}/revoke", "operator", json={}).status_code == 403
    revoked = call(world, "POST", f"/v1/admin/keys/820000/{kid}/revoke", "dm", json={"reason": "leaked"})
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    online = call(world, "POST", "/v1/verify", json={"payload": qr_text}).json()
    assert online["errors"][0]["code"] == "key_revoked"
    listed = tmp_path / "list.jws"
    keys = tmp_path / "keys.json"
    run_cli("trust-list", "--out", str(listed), "--national-keys", str(keys), data_dir=world.data, check=True,
            env=world.env)
    offline = run_cli("verify", qr_text, "--trust-list", str(listed), "--national-keys", str(keys),
                      "--state", str(tmp_path / "seen.json"), data_dir=world.data, env=world.env)
    assert offline.returncode == 1 and json.loads(offline.stdout)["errors"][0]["code"] == "key_revoked"
    fresh = run_cli("issue", "--region", "820000", "--id-number", MO[0], "--name", MO[1], "--id-type",
                    "macau_id", data_dir=world.data, check=True, env=world.env).stdout.strip()
    assert call(world, "POST", "/v1/verify", json={"payload": fresh}).json()["valid"]     # a new key
    assert any(e["action"] == "key_revoke" and e["detail"].get("kid") == kid for e in audit(world))


# --- 5. no input produces a 500 ---------------------------------------------------------------
DEEP = "[" * 1000 + "]" * 1000


@pytest.mark.parametrize("path", ["/v1/verify", "/v1/verify/batch", "/v1/transcode", "/v1/kiosk/lookup"])
def test_deeply_nested_json_is_a_clear_400(world, path):
    r = call(world, "POST", path, "operator", data=DEEP, headers={"Content-Type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    nested = '{"payload": ' + "[" * 100 + "]" * 100 + "}"
    r = call(world, "POST", path, "operator", data=nested, headers={"Content-Type": "application/json"})
    assert r.status_code == 400


@pytest.mark.parametrize("header", ["Bearer é中", "Bearer \u0000", "Bearer " + "x" * 10_000, "Basic é中"])
def test_odd_authorization_headers_are_401(world, header):
    r = requests.post(world.url + "/v1/kiosk/lookup", json={"id_number": GD[0]}, timeout=10,
                      headers={"Authorization": header.encode("utf-8")})
    assert r.status_code == 401 and r.json()["error"]["code"] == "unauthorized"


def test_gunicorn_workers_answer_hostile_input_without_500(world):
    server = LiveServer(world.data, extra_env=world.env, args=("--workers", "2"))
    try:
        url = server.url
        r = requests.post(url + "/v1/verify", data=DEEP, headers={"Content-Type": "application/json"}, timeout=10)
        assert r.status_code == 400
        r = requests.post(url + "/v1/kiosk/lookup", json={}, headers={"Authorization": "Bearer é中".encode()},
                          timeout=10)
        assert r.status_code == 401
    finally:
        server.stop()


# --- 6. anonymous junk ---------------------------------------------------------------------------
def scan_rows(world) -> int:
    with sqlite3.connect(world.data / "healthcode.sqlite3") as db:
        return db.execute("select count(*) from scan_events").fetchone()[0]


def test_junk_is_counted_not_stored_and_anonymous_verification_is_limited(world):
    before = scan_rows(world)
    batch = call(world, "POST", "/v1/verify/batch", json={"items": [{"payload": f"junk {i}"} for i in range(40)]})
    assert batch.status_code == 200 and len(batch.json()["results"]) == 40
    assert scan_rows(world) == before                              # 40 junk items, no rows
    statuses = [call(world, "POST", "/v1/verify", json={"payload": "junk"}).status_code for _ in range(25)]
    assert 429 in statuses and statuses.index(429) <= 21           # 60 a minute per client
    limited = call(world, "POST", "/v1/verify", json={"payload": "junk"})
    assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
    forwarded = call(world, "POST", "/v1/verify", json={"payload": "junk"},
                     headers={"X-Forwarded-For": "203.0.113.9"})
    assert forwarded.status_code == 429                            # a header cannot change who we are
    assert call(world, "POST", "/v1/verify", "operator", json={"payload": "junk"}).status_code == 200


# --- 7. and 8. every lookup audited, no personal data echoed ----------------------------------
def test_refused_lookups_are_audited(world):
    before = len(audit(world))
    call(world, "POST", "/v1/assist/lookup", "helper", json={"id_number": "440305193606300644", "name": "陈"})
    call(world, "POST", "/v1/assist/lookup", "helper", json={"id_number": GD[0], "name": "x" * 65})
    call(world, "POST", "/v1/assist/lookup", "auditor", json=person(*GD))
    call(world, "POST", "/v1/assist/lookup", json=person(*GD))
    new = [e for e in audit(world)[before:] if e["action"] == "assisted_lookup"]
    assert [e["result"] for e in new] == ["id_number_invalid", "bad_request", "forbidden", "unauthorized"]
    assert new[0]["actor"]["id"] == "helper-a" and new[2]["actor"]["role"] == "auditor"


@pytest.mark.parametrize("body", [
    {"id_number": int(GD[0]), "name": GD[1]},
    {"id_number": GD[0] * 4, "name": GD[1]},
    {"id_number": GD[0], "name": GD[1] * 30},
    {"id_number": GD[0], "name": GD[1], "id_type": GD[0]},
    {"id_number": GD[0], "name": GD[1], GD[1]: GD[0]},
])
def test_errors_never_echo_an_id_number_or_a_name(world, body):
    r = call(world, "POST", "/v1/assist/lookup", "helper", json=body)
    assert r.status_code in (200, 400)                 # an unknown member may be ignored
    assert GD[0] not in r.text and GD[1] not in r.text and GD[1][1] not in r.text
    log = world.log_path.read_text(errors="replace")
    assert GD[0] not in log and GD[1] not in log


# --- 10. a replayed trust list ------------------------------------------------------------------
def test_an_older_trust_list_is_refused_by_the_offline_verifier(world, tmp_path):
    older, newer, keys = tmp_path / "older.jws", tmp_path / "newer.jws", tmp_path / "keys.json"
    run_cli("trust-list", "--out", str(older), "--national-keys", str(keys), data_dir=world.data, check=True,
            env=world.env)
    rotated = call(world, "POST", "/v1/admin/keys/440000/rotate", "dm")       # a new list
    assert rotated.status_code == 200
    rotated_at = int(time.time())
    wait_until(lambda: int(time.time()) > rotated_at, timeout=2)             # seq is in seconds
    run_cli("trust-list", "--out", str(newer), data_dir=world.data, check=True, env=world.env)
    state = tmp_path / "verifier-state.json"
    code = run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=world.data,
                   check=True, env=world.env).stdout.strip()
    args = ["--national-keys", str(keys), "--state", str(state)]
    assert run_cli("verify", code, "--trust-list", str(newer), *args, data_dir=world.data, env=world.env).returncode == 0
    replay = run_cli("verify", code, "--trust-list", str(older), *args, data_dir=world.data, env=world.env)
    assert replay.returncode == 2 and "older than one this verifier already accepted" in replay.stderr
    assert run_cli("verify", code, "--trust-list", str(newer), *args, data_dir=world.data, env=world.env).returncode == 0


# --- 12. metrics ---------------------------------------------------------------------------------------
def test_metrics_need_an_operations_credential(world):
    assert call(world, "GET", "/metrics").status_code == 401
    assert call(world, "GET", "/metrics", "kiosk").status_code == 403
    r = call(world, "GET", "/metrics", "operator")
    assert r.status_code == 200 and "healthcode_verifications" in r.text


# --- 14. credentials can be listed, replaced and withdrawn ------------------------------------------------
def test_credentials_are_listed_replaced_and_revoked(world):
    made = call(world, "POST", "/v1/admin/credentials", "dm", json={"role": "helper", "id": "helper-tmp"})
    assert made.status_code == 201
    first = made.json()["token"]
    assert call(world, "POST", "/v1/admin/credentials", "operator", json={"role": "helper", "id": "x"}).status_code == 403
    listing = call(world, "GET", "/v1/admin/credentials", "dm").json()["credentials"]
    assert {"role": "helper", "id": "helper-tmp"}.items() <= next(c for c in listing if c["id"] == "helper-tmp").items()
    assert first not in json.dumps(listing) and "token" not in json.dumps(listing)
    probe = {"headers": {"Authorization": f"Bearer {first}"}, "json": person(*GD)}
    assert call(world, "POST", "/v1/assist/lookup", **probe).status_code == 200
    again = json.loads(run_cli("credentials", "add", "--role", "helper", "--id", "helper-tmp",
                               data_dir=world.data, check=True, env=world.env).stdout)["token"]
    assert call(world, "POST", "/v1/assist/lookup", **probe).status_code == 401        # replaced
    probe["headers"]["Authorization"] = f"Bearer {again}"
    assert call(world, "POST", "/v1/assist/lookup", **probe).status_code == 200
    assert call(world, "DELETE", "/v1/admin/credentials/helper-tmp", "dm").status_code == 200
    assert call(world, "POST", "/v1/assist/lookup", **probe).status_code == 401        # withdrawn
    cli = run_cli("credentials", "list", data_dir=world.data, check=True, env=world.env)
    assert "helper-tmp" not in cli.stdout and "helper-a" in cli.stdout
    actions = [e["action"] for e in audit(world)]
    assert "credential_add" in actions and "credential_revoke" in actions


def test_an_hc1_zip_bomb_is_refused_before_it_inflates(world):
    """4 MB of zeros compress to ~6 KB of Base45: the inflater stops at its 64 KB cap."""
    import zlib

    import base45
    bomb = "HC1:" + base45.b45encode(zlib.compress(b"\0" * 4_000_000, 9)).decode()
    assert len(bomb) < 8_000
    r = call(world, "POST", "/v1/verify", "operator", json={"payload": bomb})
    assert r.status_code == 200 and r.json()["errors"][0]["code"] == "compression_invalid"
    assert "inflates to more than" in r.json()["errors"][0]["message"]
    from adapters import eu_dcc
    with pytest.raises(Exception, match="inflates to more than"):
        eu_dcc.decompress(zlib.compress(b"\0" * 10_000_000, 9))


def test_the_high_s_twin_of_a_code_and_of_the_trust_list_is_refused(world, tmp_path):
    from standard import jose
    from support.codes import high_s_twin
    text = run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=world.data,
                   check=True, env=world.env).stdout.strip()
    prefix, token = text.split(":", 1)
    assert not jose.is_high_s(jose.b64url_decode(token.split(".")[2]))            # we sign low-S
    twin = call(world, "POST", "/v1/verify", "operator", json={"payload": f"{prefix}:{high_s_twin(token)}"})
    assert twin.json()["errors"][0]["code"] == "signature_invalid"
    listed, keys = tmp_path / "list.jws", tmp_path / "keys.json"
    run_cli("trust-list", "--out", str(listed), "--national-keys", str(keys), data_dir=world.data, check=True,
            env=world.env)
    listed.write_text(high_s_twin(listed.read_text().strip()))
    offline = run_cli("verify", text, "--trust-list", str(listed), "--national-keys", str(keys),
                      "--state", str(tmp_path / "s.json"), data_dir=world.data, env=world.env)
    assert offline.returncode == 2 and "trust_list_invalid" in offline.stderr
