"""An SM2 region end to end (Zhejiang signs SM2SM3 in the demo configuration): its trust-list
entry, HTTP verification (the fast path and the framework's), the CLI offline, and the
checkpoint page offline in a real headless Chromium with the vendored sm-crypto — which is also
cross-checked against Tongsuo both ways."""
from __future__ import annotations

import hashlib
import json
import re

import pytest
import requests

import standard
from issuers.keys import KeyStore
from residents import ZJ_RESIDENT
from standard import jose, sm2
from support import sm2 as gm
from support.browser import chromium, wait_for
from support.cli import run_cli
from support.live import LiveServer
from support.paths import ROOT

STATIC = ROOT / "gateway" / "static"


def issue(data, *args) -> str:
    return run_cli("issue", *args, data_dir=data, check=True).stdout.strip()


def zhejiang_code(data, *extra) -> str:
    id_number, name = ZJ_RESIDENT.id_and_name
    return issue(data, "--region", "330000", "--id-number", id_number, "--name", name, "--status", "yellow", *extra)


def resigned(data, text: str, signer_id: bytes) -> str:
    """``text`` signed again by Zhejiang's own key, by gmssl, under ``signer_id``."""
    key = KeyStore(data).signer("330000").private_key
    numbers = key.public_key().public_numbers()
    prefix, token = text.split(":", 1)
    signing_input = token.rsplit(".", 1)[0]
    sig = gm.gmssl_sign(key.private_numbers().private_value, numbers.x, numbers.y,
                        signing_input.encode("ascii"), signer_id=signer_id)
    return f"{prefix}:{signing_input}.{jose.b64url_encode(sig)}"


def bent(text: str) -> str:
    return text[:-4] + ("AAAA" if not text.endswith("AAAA") else "BBBB")


def test_vendored_sm_crypto_is_the_pinned_release():
    readme = (STATIC / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `sm2.js`"))
    pinned = re.search(r"`dist/sm2.js` unchanged \(sha256 `([0-9a-f]{64})`\)", row).group(1)
    assert hashlib.sha256((STATIC / "sm2.js").read_bytes()).hexdigest() == pinned
    assert "sm-crypto 0.5.8" in row and "Permission is hereby granted" in (STATIC / "sm-crypto.LICENSE").read_text()


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("sm2"))
    yield srv
    srv.stop()


def test_the_trust_list_carries_zhejiangs_sm2_key(server):
    answer = requests.get(server.url + "/v1/trust-list", timeout=5).json()
    standard.openapi_validator("TrustListResponse").validate(answer)          # the standard's own shape
    zheli = next(i for i in json.loads(jose.b64url_decode(answer["jws"].split(".")[1]))["issuers"]
                 if i["region"] == "330000")
    assert zheli["algorithms"] == [sm2.NAME]
    key = zheli["keys"][-1]
    assert (key["kty"], key["crv"], key["alg"]) == ("EC", "SM2", sm2.NAME) and "d" not in key


def test_http_verifies_sm2_codes_and_refuses_bent_ones(server):
    code = zhejiang_code(server.data)
    assert code.startswith("ZJHC1:") and jose.parse(code.split(":", 1)[1]).alg == sm2.NAME
    verify = lambda text, **extra: requests.post(server.url + "/v1/verify", timeout=5,  # noqa: E731
                                                 json={"payload": text, **extra}).json()
    verdict = verify(code)
    assert verdict["valid"] and verdict["region"] == "330000" and verdict["status"] == "yellow"
    # through the framework's path too: a chunked body is one the fast path hands on (gateway/fastpath.py)
    slow = requests.post(server.url + "/v1/verify", data=iter([json.dumps({"payload": code}).encode()]),
                         timeout=5, headers={"Content-Type": "application/json"})
    assert slow.request.headers.get("Transfer-Encoding") == "chunked"
    assert slow.json() == verdict
    for forged in (bent(code), resigned(server.data, code, b"ALICE123@YAHOO.COM")):
        refused = verify(forged)
        assert not refused["valid"] and [e["code"] for e in refused["errors"]] == ["signature_invalid"]
    assert verify(resigned(server.data, code, sm2.SIGNER_ID))["valid"]     # gmssl's own signature passes


def test_cli_offline_verifies_sm2_codes(server, tmp_path):
    before = zhejiang_code(server.data, "--kind", "offline")
    rotated = json.loads(run_cli("keys", "rotate", "330000", data_dir=server.data, check=True).stdout)["kid"]
    listed = json.loads(run_cli("keys", "list", data_dir=server.data, check=True).stdout)["330000"]
    assert {(k["kid"], k["alg"], k["crv"]) for k in listed if k["status"] == "active"} == {(rotated, sm2.NAME, "SM2")}
    code = zhejiang_code(server.data, "--kind", "offline")
    assert jose.parse(code.split(":", 1)[1]).kid == rotated != jose.parse(before.split(":", 1)[1]).kid
    tl, keys = tmp_path / "trust.jws", tmp_path / "national.json"
    run_cli("trust-list", "--out", str(tl), "--national-keys", str(keys), data_dir=server.data, check=True)
    empty = tmp_path / "no-data-here"
    ok = run_cli("verify", code, "--trust-list", str(tl), "--national-keys", str(keys), data_dir=empty)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    assert json.loads(ok.stdout)["region"] == "330000" and json.loads(ok.stdout)["kind"] == "offline"
    older = run_cli("verify", before, "--trust-list", str(tl), "--national-keys", str(keys), data_dir=empty)
    assert older.returncode == 0, older.stdout + older.stderr           # the retired SM2 key still verifies it
    bad = run_cli("verify", resigned(server.data, code, b"1234567812345679"), "--trust-list", str(tl),
                  "--national-keys", str(keys), data_dir=empty)
    assert bad.returncode == 1 and "signature_invalid" in bad.stdout


def offline_verdict(driver, text):
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "HCOffline.verify(arguments[0], trust, tables, Math.floor(Date.now() / 1000)).then(done)", text)


def test_the_page_verifies_sm2_codes_offline(tmp_path_factory):
    """The gateway stops; the page checks the Zhejiang code with sm2.js and says so in the UI."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    data = tmp_path_factory.mktemp("sm2-offline")
    srv = LiveServer(data)
    code = zhejiang_code(data, "--kind", "offline")
    other_id = resigned(data, code, b"ALICE123@YAHOO.COM")
    driver = chromium()
    try:
        driver.get(srv.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        srv.stop()
        with pytest.raises(requests.ConnectionError):
            requests.get(srv.url + "/healthz", timeout=2)
        box = driver.find_element(By.ID, "payload")
        box.send_keys(code + Keys.ENTER)
        wait_for(driver, lambda d: d.find_element(By.ID, "result").get_attribute("data-status") == "yellow")
        result = driver.find_element(By.ID, "result")
        assert (result.get_attribute("data-valid"), result.get_attribute("data-offline")) == ("true", "true")
        assert driver.find_element(By.ID, "holder").text.startswith(ZJ_RESIDENT.name[0] + "*")
        driver.execute_script("ready()")
        box.send_keys(bent(code) + Keys.ENTER)
        wait_for(driver, lambda d: d.find_element(By.ID, "result").get_attribute("data-valid") == "false")
        assert driver.find_element(By.ID, "detail").text == "签名无效：伪造或被篡改 forged or altered"
        for forged in (other_id, resigned(data, code, b"")):
            assert [e["code"] for e in offline_verdict(driver, forged)["errors"]] == ["signature_invalid"]
        assert offline_verdict(driver, resigned(data, code, sm2.SIGNER_ID))["valid"] is True
    finally:
        driver.quit()
        srv.stop()


def test_sm_crypto_and_tongsuo_agree_both_ways(server):
    """In the page: what Tongsuo signs sm-crypto verifies (and not under another id); what
    sm-crypto signs Tongsuo verifies."""
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return typeof sm2") == "object")
        for message in (b"message digest", "浙江 ZJHC1 ✓".encode(), bytes(range(256))):
            key = jose.generate_private_key(sm2.NAME)
            n = key.public_key().public_numbers()
            public_hex = f"04{n.x:064x}{n.y:064x}"
            sig = jose.sign(sm2.NAME, key, message)
            verify_js = ("return sm2.doVerifySignature(arguments[0], arguments[1], arguments[2],"
                         " {hash: true, der: false, userId: arguments[3]})")
            assert driver.execute_script(verify_js, list(message), sig.hex(), public_hex, "1234567812345678") is True
            assert driver.execute_script(verify_js, list(message), sig.hex(), public_hex, "ALICE123@YAHOO.COM") is False
            keypair = driver.execute_script("return sm2.generateKeyPairHex()")
            theirs = driver.execute_script(
                "return sm2.doSignature(arguments[0], arguments[1], {hash: true, der: false,"
                " publicKey: arguments[2], userId: '1234567812345678'})",
                list(message), keypair["privateKey"], keypair["publicKey"])
            x, y = int(keypair["publicKey"][2:66], 16), int(keypair["publicKey"][66:], 16)
            public = jose.public_key_from_jwk({"kty": "EC", "crv": "SM2", "x": jose.b64url_encode(x.to_bytes(32, "big")),
                                               "y": jose.b64url_encode(y.to_bytes(32, "big"))})
            assert jose.verify(sm2.NAME, public, message, bytes.fromhex(theirs))
            assert not jose.verify(sm2.NAME, public, message + b".", bytes.fromhex(theirs))
        # the standard's published example, in the browser
        example = gm.EXAMPLE_R.to_bytes(32, "big").hex() + gm.EXAMPLE_S.to_bytes(32, "big").hex()
        assert driver.execute_script(
            "return sm2.doVerifySignature(arguments[0], arguments[1], arguments[2], {hash: true, der: false})",
            list(gm.EXAMPLE_MESSAGE), example, f"04{gm.EXAMPLE_X:064x}{gm.EXAMPLE_Y:064x}") is True
    finally:
        driver.quit()
