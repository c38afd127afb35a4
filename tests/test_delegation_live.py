"""A city's delegation (docs/standard.md §7.1) end to end, on a real gateway: a Guangzhou code
verifies over HTTP (the fast path), in the CLI's offline verifier and in the checkpoint page's
browser verifier (real headless Chromium); withdrawn with ``healthcode delegations withdraw`` it
is refused by all three with ``delegation_withdrawn``; restored by the data manager over HTTP, it
verifies everywhere again.  Every change is in the audit log."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
import requests

from residents import GZ_RESIDENT, SZ_ELDER
from support.browser import chromium, wait_for
from support.cli import add_credential, run_cli
from support.delegations import CITY, FORGERIES, OTHER_CITY, relisted
from support.live import LiveServer


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = LiveServer(tmp_path_factory.mktemp("delegation"))
    yield srv
    srv.stop()


def issue(data: Path, region: str, resident) -> str:
    return run_cli("issue", "--region", region, "--id-number", resident.id_number, "--name", resident.name,
                   "--status", "green", "--kind", "offline", data_dir=data, check=True).stdout.strip()


def http_errors(server, text) -> list[str]:
    verdict = requests.post(server.url + "/v1/verify", json={"payload": text}, timeout=10).json()
    return [e["code"] for e in verdict["errors"]]


class OfflineCli:
    """``healthcode verify --trust-list`` with a list exported now, one verifier state throughout."""

    def __init__(self, data: Path, folder: Path):
        self.data, self.folder = data, folder
        self.state = folder / "verifier-state.json"
        self.exports = 0

    def export(self) -> Path:
        self.exports += 1
        out = self.folder / f"list-{self.exports}.jws"
        run_cli("trust-list", "--out", str(out), "--national-keys", str(self.folder / "national.json"),
                data_dir=self.data, check=True)
        return out

    def verify(self, text: str, trust_list: Path | None = None):
        result = run_cli("verify", text, "--trust-list", str(trust_list or self.export()),
                         "--national-keys", str(self.folder / "national.json"), "--state", str(self.state),
                         data_dir=self.data)
        return result.returncode, json.loads(result.stdout) if result.stdout.strip() else result.stderr


def browser_verdict(driver, server, text) -> dict:
    """The checkpoint page loaded afresh (so it holds the newest trust list), then the code
    verified by the page's own offline verifier (gateway/static/offline.js) in the browser."""
    driver.get(server.url + "/checkpoint")
    wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
    return driver.execute_async_script(
        "const done = arguments[arguments.length - 1];"
        "HCOffline.verify(arguments[0], trust, tables, Math.floor(Date.now() / 1000)).then(done)", text)


def codes_of(verdict: dict) -> list[str]:
    return [e["code"] for e in verdict["errors"]]


def test_a_withdrawn_city_is_refused_everywhere_and_accepted_again_once_restored(server, tmp_path):
    guangzhou = issue(server.data, CITY, GZ_RESIDENT)
    shenzhen = issue(server.data, OTHER_CITY, SZ_ELDER)
    offline = OfflineCli(server.data, tmp_path)
    driver = chromium()
    try:
        # delegated: valid in all three
        assert http_errors(server, guangzhou) == [] and http_errors(server, shenzhen) == []
        rc, verdict = offline.verify(guangzhou)
        assert rc == 0 and verdict["valid"] and verdict["region"] == CITY, verdict
        before = offline.export()
        page = browser_verdict(driver, server, guangzhou)
        assert page["valid"] and page["region"] == CITY and page["offline"] is True, page

        # withdrawn by the CLI: the gateway refuses at once, offline verifiers from the next list
        out = run_cli("delegations", "withdraw", "--city", CITY, "--reason", "issuer under review",
                      data_dir=server.data, check=True)
        assert json.loads(out.stdout)["status"] == "withdrawn"
        assert http_errors(server, guangzhou) == ["delegation_withdrawn"]
        assert http_errors(server, shenzhen) == []                         # only Guangzhou's
        rc, verdict = offline.verify(guangzhou)
        assert rc == 1 and codes_of(verdict) == ["delegation_withdrawn"], verdict
        rc, replayed = offline.verify(guangzhou, before)                   # the older list: never again
        assert rc == 2 and "trust_list_invalid" in replayed, replayed
        page = browser_verdict(driver, server, guangzhou)
        assert page["valid"] is False and codes_of(page) == ["delegation_withdrawn"], page
        assert browser_verdict(driver, server, shenzhen)["valid"] is True
        listed = json.loads(run_cli("delegations", "list", data_dir=server.data, check=True).stdout)
        assert [(d["city"], d["status"]) for d in listed] == [(CITY, "withdrawn"), (OTHER_CITY, "active")]

        # restored by the data manager over HTTP: valid everywhere again
        token = add_credential("data_manager", "dm-delegations", data_dir=server.data)
        r = requests.post(f"{server.url}/v1/admin/delegations/{CITY}/restore",
                          headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert r.status_code == 200 and r.json()["status"] == "active", r.text
        assert http_errors(server, guangzhou) == []
        rc, verdict = offline.verify(guangzhou)
        assert rc == 0 and verdict["valid"], verdict
        page = browser_verdict(driver, server, guangzhou)
        assert page["valid"] is True, page
    finally:
        driver.quit()

    shown = run_cli("audit", "show", "--limit", "1000", data_dir=server.data, check=True).stdout.splitlines()
    changes = [json.loads(line) for line in shown if '"delegation_' in line]
    assert [(e["action"], e["actor"]["id"], e["detail"]["city"]) for e in changes] == [
        ("delegation_withdraw", "cli", CITY), ("delegation_restore", "dm-delegations", CITY)]
    assert changes[0]["detail"]["reason"] == "issuer under review" and all(isinstance(e["at"], int) for e in changes)


@pytest.mark.parametrize("args, code", [
    (("withdraw", "--city", "4401"), "bad_request"),
    (("withdraw", "--city", "440000"), "bad_request"),
    (("withdraw", "--city", "广州"), "bad_request"),
    (("restore", "--city", "310100"), "region_unknown"),
])
def test_the_cli_refuses_what_is_not_a_configured_city_in_one_line(tmp_path, args, code):
    result = run_cli("delegations", *args, data_dir=tmp_path)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.startswith(f"error: {code}: ") and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert not (tmp_path / "delegations.json").exists()


def test_the_page_refuses_every_forged_delegation_as_the_gateway_does(server):
    """Each forgery of tests/support/delegations.py, in a list signed by the server's real national
    key: the browser's verifier and the Python one both say delegation_invalid."""
    from adapters.verifier import Verifier
    from config.settings import load_settings
    from issuers.keys import KeyStore
    from standard import jose, trustlist
    import time
    code = issue(server.data, CITY, GZ_RESIDENT)
    keystore = KeyStore(server.data)
    real = requests.get(server.url + "/v1/trust-list", timeout=10).json()["jws"]
    payload = json.loads(jose.b64url_decode(real.split(".")[1]))
    national = {"keys": keystore.public_jwks("national")}
    settings = load_settings(data_dir=server.data)
    verifier = Verifier(settings.formats(), options=settings.format_options)
    driver = chromium()
    try:
        driver.get(server.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        for name, forgery in FORGERIES.items():
            now = int(time.time())
            token = relisted(payload, forgery(keystore, now), keystore.signer("national"))
            python = verifier.verify(code, trustlist.parse(token, national, now), now).as_dict()
            page = driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "HCOffline.loadTrustList(arguments[0], NATIONAL_KEYS, arguments[2])"
                ".then((t) => HCOffline.verify(arguments[1], t, tables, arguments[2])).then(done)"
                ".catch((e) => done({errors: [{code: 'load:' + e.code}]}))", token, code, now)
            assert codes_of(python) == codes_of(page) == ["delegation_invalid"], (name, python, page)
        untouched = relisted(payload, lambda entry, whole: None, keystore.signer("national"))
        assert driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "HCOffline.loadTrustList(arguments[0], NATIONAL_KEYS, arguments[2])"
            ".then((t) => HCOffline.verify(arguments[1], t, tables, arguments[2])).then(done)",
            untouched, code, int(time.time()))["valid"] is True
    finally:
        driver.quit()


def test_a_withdrawn_city_issues_nothing_and_its_province_answers_its_kiosks(tmp_path):
    """On a real gateway: while Guangzhou's delegation is withdrawn, its issuer is refused up front
    (HTTP 403 and the CLI's one line, ``delegation_withdrawn``, nothing issued), and a kiosk finds a
    Guangzhou resident at Guangdong's issuer when Guangdong holds a record of them — a Shenzhen
    resident Guangdong has none of, once Shenzhen is withdrawn too, is ``identity_not_matched``
    (404), never a 500.  Restored, both cities issue and answer their kiosks again."""
    (tmp_path / "data").mkdir()
    srv = LiveServer(tmp_path / "data")
    try:
        tokens = json.loads(run_cli("tokens", data_dir=srv.data, check=True).stdout)
        kiosk = add_credential("kiosk", "kiosk-gd", "--kiosk-id", "kiosk-gd", data_dir=srv.data)

        def issue_http(region, resident):
            return requests.post(f"{srv.url}/v1/issuers/{region}/codes", timeout=10,
                                 headers={"Authorization": f"Bearer {tokens[region]}"},
                                 json={"id_number": resident.id_number, "name": resident.name, "status": "green"})

        def kiosk_lookup(resident):
            return requests.post(f"{srv.url}/v1/kiosk/lookup", timeout=15, headers={"Authorization": f"Bearer {kiosk}"},
                                 json={"id_number": resident.id_number, "kiosk_id": "kiosk-gd"})

        assert issue_http(OTHER_CITY, SZ_ELDER).status_code == 201
        for city in (CITY, OTHER_CITY):
            run_cli("delegations", "withdraw", "--city", city, data_dir=srv.data, check=True)
        r = issue_http(CITY, GZ_RESIDENT)
        assert r.status_code == 403 and r.json()["error"]["code"] == "delegation_withdrawn", r.text
        refused = run_cli("issue", "--region", CITY, "--id-number", GZ_RESIDENT.id_number, "--name", GZ_RESIDENT.name,
                          "--status", "green", data_dir=srv.data)
        assert refused.returncode == 2 and refused.stdout == "", refused
        assert len(refused.stderr.strip().splitlines()) == 1 and "delegation_withdrawn" in refused.stderr
        assert GZ_RESIDENT.id_number not in refused.stderr + r.text

        # the province answers for its people from its own records
        province_code = issue(srv.data, "440000", GZ_RESIDENT)
        found = kiosk_lookup(GZ_RESIDENT)
        assert found.status_code == 200, found.text
        assert (found.json()["region"], found.json()["format"]) == ("440000", "yuekang")
        assert http_errors(srv, province_code) == []
        missing = kiosk_lookup(SZ_ELDER)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "identity_not_matched", missing.text
        assert "440300's delegation is withdrawn" in missing.json()["error"]["message"]

        for city in (CITY, OTHER_CITY):
            run_cli("delegations", "restore", "--city", city, data_dir=srv.data, check=True)
        again = issue_http(CITY, GZ_RESIDENT)
        assert again.status_code == 201 and http_errors(srv, again.json()["qr_text"]) == []
        assert (kiosk_lookup(GZ_RESIDENT).json()["region"], kiosk_lookup(SZ_ELDER).json()["region"]) == (CITY, OTHER_CITY)
    finally:
        srv.stop()

    shown = run_cli("audit", "show", "--limit", "1000", data_dir=srv.data, check=True).stdout.splitlines()
    refusals = [json.loads(line) for line in shown if '"delegation_withdrawn"' in line]
    assert [(e["action"], e["detail"]["region"]) for e in refusals] == [("issue", CITY), ("issue", CITY)]
