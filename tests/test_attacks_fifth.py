"""The fifth round: attacks on what was newest — city issuers under delegation, the batch
endpoint, the data manager's delegation interface — each run as it was found, refused since.

* a city key signed a green code for a holder of any area (another city's resident, another
  province's) by adding a ``prov`` claim, which it writes itself: the delegation's area rule was
  skipped for "transcoded" codes, so the area a province delegated bounded nothing.  Writing the
  resident's masked number without its area (``*``), or calling a resident's masked number a
  passport's, skipped it too.  Every verifier (gateway, CLI offline, checkpoint page) now checks
  the holder's area on every code of a city, and a transcode into a city is refused up front for
  holders outside its area (their code is the province's);
* a delegation dated ahead (``iat`` ten years from now, ``exp`` 50 days after it) lived ten years
  although the standard caps a delegation at 90 days from its ``iat``: a province key's one
  signature made a city's authority permanent; a delegation's ``iat`` after now is refused;
* a city whose delegation its province had withdrawn still withdrew every code of anyone in the
  country (``POST /v1/issuers/440300/revocations`` for a Guangzhou resident withdrew Guangzhou's
  and Guangdong's codes): a stopped city now withdraws nothing (``delegation_withdrawn``, audited);
* a data manager's credential made auditor credentials over HTTP (reading who looked up whom),
  and replaced or withdrew the auditor's own (``POST`` a helper under the auditor's id, or
  ``DELETE`` it): the one role that watches the data manager was the data manager's to blind.
  Auditors are now enrolled and withdrawn only on the host (``healthcode credentials``);
* a credential could be made with the id ``cli`` (or ``healthcode``): its every request was
  audited exactly as the host's command line (or the gateway itself) — an actor nobody could tell
  apart; those ids are reserved;
* a refused issuance or transcode — no token, another region's token, a bad ID number, a bad
  colour, a source code that does not verify — left no audit entry: who tried to issue a code
  for whom went unrecorded; each is now one entry, with no ID number in it;
* on a full trust list, restoring a city's delegation (a fresh delegation JWS joins the list) or
  rotating a region's key (a new key joins it) was not checked against the list's limit: the list
  grew past what every verifier accepts: every verification, the gateway's own included, failed
  with ``trust_list_invalid`` from then on; both are refused with
  ``trust_list_full`` before anything changes;
* a data manager's withdrawal reason holding a holder's ID number was kept as typed in
  ``delegations.json`` and served by ``GET /v1/admin/delegations`` (the audit entry masked it);
* one long line on ``verify-batch``'s stdin was held whole and re-copied at every 64 KB read:
  32 MB took 15 s and three times its size in memory (a gigabyte without a newline: hours and
  gigabytes); a line over 8 MB (one HTTP body) is now answered ``payload_too_large`` and skipped
  unread;
* ``NaN``, ``Infinity`` and ``1e999`` (not JSON, but Python's parser takes them) were accepted in
  request bodies and JSON Lines, and echoed as a batch item's ``id`` they made an answer no JSON
  parser reads.
"""
from __future__ import annotations

import json
import os
import secrets
import subprocess
import sys
import time

import pytest
import requests

import adapters
from issuers import Person
from residents import BJ_RESIDENT, GD_RESIDENT, GZ_RESIDENT
from support.cli import run_cli
from standard import jose
from support.delegations import CITY, PROVINCE
from support.marks import needs
from support.paths import BIN

DM = {"role": "data_manager", "id": "dm-fifth"}


def _person(resident) -> Person:
    return Person(resident.id_type, resident.id_number, resident.name)


def _errors(verdict: dict) -> list[str]:
    return [e["code"] for e in verdict["errors"]]


# --- a city key signing beyond its areas --------------------------------------------------------------
def _masked(number: str) -> str:
    return number[:4] + "*" * 10 + number[-4:]


# name → changes to a genuine Guangzhou code's claims, made and signed by Guangzhou's own key
ROGUE_CITY_CODES = {
    "a Foshan resident, claiming a transcoding": lambda now: {
        "id_masked": _masked(GD_RESIDENT.id_number),
        "prov": {"region": "110000", "jti": secrets.token_urlsafe(12), "format": "jiankangbao"}},
    "a Beijing resident, claiming a transcoding": lambda now: {
        "id_masked": _masked(BJ_RESIDENT.id_number),
        "prov": {"region": "110000", "jti": secrets.token_urlsafe(12), "format": "jiankangbao",
                 "origin_region": "110000", "origin_jti": secrets.token_urlsafe(12)}},
    "a resident whose masked number names no area": lambda now: {"id_masked": "**************6429"},
    "a resident whose masked number is a lone star": lambda now: {"id_masked": "*"},
    "a Foshan resident's number called a passport": lambda now: {
        "id_type": "passport", "id_masked": _masked(GD_RESIDENT.id_number)},
}


def _rogue_codes(keystore, settings, genuine_claims: dict, now: int) -> dict[str, str]:
    fmt = adapters.get(settings.region(CITY).format)
    signer = keystore.signer(CITY)
    return {name: fmt.encode({**genuine_claims, "jti": secrets.token_urlsafe(12), **change(now)}, signer)
            for name, change in ROGUE_CITY_CODES.items()}


def test_a_city_key_signs_for_no_holder_outside_its_areas_whatever_it_claims(service):
    svc = service
    genuine = svc.issuing.issue(CITY, _person(GZ_RESIDENT), status="green", kind="offline")
    now = int(svc.now())
    for name, text in _rogue_codes(svc.keystore, svc.settings, genuine.claims, now).items():
        verdict = svc.verification.verify(text).as_dict()
        assert _errors(verdict) == ["delegation_invalid"], (name, verdict)
        assert "area" in verdict["errors"][0]["message"]
    # what a city may carry still verifies: its own resident, transcoded (prov) or not, and a passport
    fmt = adapters.get(svc.settings.region(CITY).format)
    signer = svc.keystore.signer(CITY)
    own = {**genuine.claims, "jti": secrets.token_urlsafe(12),
           "prov": {"region": PROVINCE, "jti": secrets.token_urlsafe(12), "format": "yuekang"}}
    passport = {**genuine.claims, "jti": secrets.token_urlsafe(12), "id_type": "passport", "id_masked": "E1*****78"}
    for claims in (own, passport):
        assert svc.verification.verify(fmt.encode(claims, signer)).valid


def test_a_transcode_into_a_city_of_a_holder_outside_its_area_is_refused_and_audited(service, http):
    svc = service
    beijing = svc.issuing.issue("110000", _person(BJ_RESIDENT), status="green", kind="offline").qr_text
    token = svc.administration.issuer_tokens()[CITY]
    before = svc.store.count_outstanding(svc.issuing.subject(_person(BJ_RESIDENT)), svc.now())
    r = http.post("/v1/transcode", json={"payload": beijing, "target_region": CITY},
                  headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "delegation_invalid", r.get_data(as_text=True)
    assert "440000" in r.get_json()["error"]["message"] and "qr_text" not in r.get_json()
    assert svc.store.count_outstanding(svc.issuing.subject(_person(BJ_RESIDENT)), svc.now()) == before
    last = svc.audit.entries()[-1]
    assert (last["action"], last["result"], last["detail"]["target_region"]) == ("transcode", "delegation_invalid", CITY)
    assert BJ_RESIDENT.id_number not in json.dumps(svc.audit.entries(), ensure_ascii=False)
    # the province carries it
    r = http.post("/v1/transcode", json={"payload": beijing, "target_region": PROVINCE},
                  headers={"Authorization": f"Bearer {svc.administration.issuer_tokens()[PROVINCE]}"})
    assert r.status_code == 201 and svc.verification.verify(r.get_json()["qr_text"]).valid


def test_the_checkpoint_page_and_the_offline_cli_refuse_the_same_rogue_city_codes(live_server, live_data, tmp_path):
    """The browser's verifier (gateway/static/offline.js, real Chromium) and ``healthcode verify
    --trust-list`` refuse each rogue code as the gateway does."""
    from config.settings import load_settings
    from issuers.keys import KeyStore
    from support.browser import chromium, wait_for
    genuine = run_cli("issue", "--region", CITY, "--id-number", GZ_RESIDENT.id_number, "--name", GZ_RESIDENT.name,
                      "--status", "green", "--kind", "offline", data_dir=live_data, check=True).stdout.strip()
    settings = load_settings(data_dir=live_data)
    fmt = adapters.get(settings.region(CITY).format)
    claims = fmt.from_native(json.loads(jose.b64url_decode(genuine[len(fmt.prefix):].split(".")[1])))
    rogue = _rogue_codes(KeyStore(live_data), settings, claims, int(time.time()))
    run_cli("trust-list", "--out", str(tmp_path / "list.jws"), "--national-keys", str(tmp_path / "national.json"),
            data_dir=live_data, check=True)
    driver = chromium()
    try:
        driver.get(live_server.url + "/checkpoint")
        wait_for(driver, lambda d: d.execute_script("return document.body.dataset.trust") == "ready")
        for name, text in {"genuine": genuine, **rogue}.items():
            online = requests.post(live_server.url + "/v1/verify", json={"payload": text}, timeout=10).json()
            page = driver.execute_async_script(
                "const done = arguments[arguments.length - 1];"
                "HCOffline.verify(arguments[0], trust, tables, Math.floor(Date.now() / 1000)).then(done)", text)
            result = run_cli("verify", text, "--trust-list", str(tmp_path / "list.jws"),
                             "--national-keys", str(tmp_path / "national.json"), data_dir=live_data)
            offline = json.loads(result.stdout)
            expected = [] if name == "genuine" else ["delegation_invalid"]
            assert _errors(online) == _errors(page) == _errors(offline) == expected, (name, online, page, offline)
    finally:
        driver.quit()


def test_a_city_refuses_up_front_a_document_masked_like_another_areas_resident(service, http):
    """A foreign permit numbered like a Foshan resident's ID is masked ``4406**********6429``: every
    verifier holds a Guangzhou code of it to the area rule, so Guangzhou refuses to issue it
    (nothing stored, audited) rather than sign a code every verifier refuses."""
    from standard.errors import DelegationInvalid
    svc = service
    permit = Person("foreign_permit", GD_RESIDENT.id_number, GD_RESIDENT.name)
    with pytest.raises(DelegationInvalid, match="issue this code in 440000"):
        svc.issuing.issue(CITY, permit, status="green")
    assert svc.store.get_resident(svc.issuing.subject(permit), CITY) is None
    assert (svc.audit.entries()[-1]["action"], svc.audit.entries()[-1]["result"]) == ("issue", "delegation_invalid")
    # a permit of another shape names no area: the city may issue it, and it verifies
    other = Person("foreign_permit", "AB1234567", GD_RESIDENT.name)
    assert svc.verification.verify(svc.issuing.issue(CITY, other, status="green").qr_text).valid


# --- a delegation that outlives its 90 days ------------------------------------------------------------
def test_a_delegation_dated_ahead_does_not_outlive_its_90_days(service):
    """Signed by the province's real key, valid from yesterday, ``iat`` ten years ahead and ``exp``
    50 days after that: within "exp at most 90 days after iat", yet valid for ten years."""
    from standard import trustlist
    from support.delegations import FORGERIES, relisted
    svc = service
    code = svc.issuing.issue(CITY, _person(GZ_RESIDENT), status="green", kind="offline").qr_text
    now = int(svc.now())
    change = FORGERIES["dated ahead to live past 90 days"](svc.keystore, now)
    token = relisted(svc.trust.trust_list().payload, change, svc.keystore.signer("national"))
    trust = trustlist.parse(token, svc.trust.national_jwks(), now)
    verdict = svc.verification.verifier.verify(code, trust, now).as_dict()
    assert _errors(verdict) == ["delegation_invalid"] and "iat" in verdict["errors"][0]["message"], verdict
    # the gateway's own delegation, dated now, still covers the code
    assert svc.verification.verify(code).valid


# --- a withdrawn city acting on people -----------------------------------------------------------------
def test_a_withdrawn_city_withdraws_nobodys_codes(service, http):
    svc = service
    OTHER = "440300"
    mine = svc.issuing.issue(CITY, _person(GZ_RESIDENT), status="green", kind="offline").qr_text
    province = svc.issuing.issue(PROVINCE, _person(GZ_RESIDENT), status="green", kind="offline").qr_text
    svc.trust.withdraw_delegation(OTHER, DM)
    shenzhen = {"Authorization": f"Bearer {svc.administration.issuer_tokens()[OTHER]}"}
    r = http.post(f"/v1/issuers/{OTHER}/revocations", json={"id_number": GZ_RESIDENT.id_number, "reason": "x"},
                  headers=shenzhen)
    assert r.status_code == 403 and r.get_json()["error"]["code"] == "delegation_withdrawn", r.get_data(as_text=True)
    assert svc.verification.verify(mine).valid and svc.verification.verify(province).valid
    last = svc.audit.entries()[-1]
    assert (last["action"], last["result"], last["detail"]["region"]) == ("revoke", "delegation_withdrawn", OTHER)
    # restored, it may again (§9: any region's issuer withdraws a person's codes)
    svc.trust.restore_delegation(OTHER, DM)
    r = http.post(f"/v1/issuers/{OTHER}/revocations", json={"id_number": GZ_RESIDENT.id_number}, headers=shenzhen)
    assert r.status_code == 200 and r.get_json()["revoked"] == 2
    assert _errors(svc.verification.verify(mine).as_dict()) == ["code_revoked"]


# --- the data manager and the auditor ----------------------------------------------------------------
def test_a_data_manager_can_neither_make_nor_blind_an_auditor(service, http, data_dir):
    svc = service
    host = {"role": "data_manager", "id": "cli"}
    auditor = svc.administration.add_credential("auditor", "aud-5", host)          # on the host: fine
    dm = {"Authorization": "Bearer " + svc.administration.add_credential("data_manager", "dm-5", host)}
    watching = {"Authorization": f"Bearer {auditor}"}
    assert http.get("/v1/audit", headers=watching).status_code == 200
    attempts = [("POST", "/v1/admin/credentials", {"role": "auditor", "id": "dm-5-reads"}),
                ("POST", "/v1/admin/credentials", {"role": "helper", "id": "aud-5"}),       # replaces aud-5
                ("POST", "/v1/admin/credentials", {"role": "auditor", "id": "aud-5"}),
                ("DELETE", "/v1/admin/credentials/aud-5", None)]
    audited = len(svc.audit.entries())
    for method, path, body in attempts:
        r = http.open(path, method=method, json=body, headers=dm)
        assert r.status_code == 403 and r.get_json()["error"]["code"] == "forbidden", (method, body, r.get_data())
        assert "token" not in r.get_json()
    assert http.get("/v1/audit", headers=watching).status_code == 200               # the auditor still sees
    assert {c["id"]: c["role"] for c in svc.credentials.list()}.get("dm-5-reads") is None
    refused = [(e["action"], e["result"]) for e in svc.audit.entries()[audited:] if e["action"] != "audit_read"]
    assert refused == [("credential_add", "forbidden")] * 3 + [("credential_revoke", "forbidden")], refused
    # the data manager still manages staff; the host still enrols and withdraws auditors
    r = http.post("/v1/admin/credentials", json={"role": "helper", "id": "helper-5"}, headers=dm)
    assert r.status_code == 201 and http.delete("/v1/admin/credentials/helper-5", headers=dm).status_code == 200
    run_cli("credentials", "revoke", "aud-5", data_dir=data_dir, check=True)
    assert http.get("/v1/audit", headers=watching).status_code == 401


@pytest.mark.parametrize("principal", ["cli", "CLI", "healthcode"])
def test_no_credential_is_audited_as_the_hosts_command_line(service, http, data_dir, principal):
    svc = service
    dm = {"Authorization": "Bearer " + svc.administration.add_credential("data_manager", "dm-5", DM)}
    for role in ("operator", "data_manager", "helper"):
        r = http.post("/v1/admin/credentials", json={"role": role, "id": principal}, headers=dm)
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", r.get_data(as_text=True)
    result = run_cli("credentials", "add", "--role", "operator", "--id", principal, data_dir=data_dir)
    assert result.returncode == 2 and result.stderr.startswith("error: bad_request: "), result.stderr
    assert all(c["id"].lower() != principal.lower() for c in svc.credentials.list())


# --- refused issuances and transcodes ---------------------------------------------------------------
REFUSED_ISSUES = [  # (token of, region, body, HTTP status, error code)
    (None, PROVINCE, {"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name}, 401, "unauthorized"),
    ("440300", PROVINCE, {"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name}, 403, "forbidden"),
    (PROVINCE, PROVINCE, {"id_number": GD_RESIDENT.id_number[:-1] + "0", "name": GD_RESIDENT.name}, 400,
     "id_number_invalid"),
    (PROVINCE, PROVINCE, {"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name, "status": "blue"}, 400,
     "bad_request"),
    (PROVINCE, PROVINCE, {"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name, "format": "nope"}, 400,
     "bad_request"),
]


@pytest.mark.parametrize("token_of, region, body, status, code", REFUSED_ISSUES)
def test_a_refused_issuance_is_audited_once_without_the_number(service, http, token_of, region, body, status, code):
    svc = service
    headers = {"Authorization": f"Bearer {svc.administration.issuer_tokens()[token_of]}"} if token_of else {}
    before = len(svc.audit.entries())
    r = http.post(f"/v1/issuers/{region}/codes", json=body, headers=headers)
    assert (r.status_code, r.get_json()["error"]["code"]) == (status, code), r.get_data(as_text=True)
    written = svc.audit.entries()[before:]
    assert [(e["action"], e["result"]) for e in written] == [("issue", code)], written
    assert GD_RESIDENT.id_number[:17] not in json.dumps(written, ensure_ascii=False)


def test_a_refused_transcode_is_audited_once(service, http):
    svc = service
    code = svc.issuing.issue(PROVINCE, _person(GD_RESIDENT), status="green").qr_text
    macau = {"Authorization": f"Bearer {svc.administration.issuer_tokens()['820000']}"}
    cases = [({"payload": code, "target_region": "820000"}, {}, 401, "unauthorized"),
             ({"payload": code, "target_region": "820000"},
              {"Authorization": f"Bearer {svc.administration.issuer_tokens()[PROVINCE]}"}, 403, "forbidden"),
             ({"payload": code, "target_region": "820000", "format": "nope"}, macau, 400, "bad_request"),
             ({"payload": code[:-4] + "AAAA", "target_region": "820000"}, macau, 422, "transcode_refused")]
    for body, headers, status, error in cases:
        before = len(svc.audit.entries())
        r = http.post("/v1/transcode", json=body, headers=headers)
        assert (r.status_code, r.get_json()["error"]["code"]) == (status, error), r.get_data(as_text=True)
        written = [(e["action"], e["result"]) for e in svc.audit.entries()[before:] if e["action"] != "scan"]
        assert written == [("transcode", error)], (body, written)


# --- a full trust list ----------------------------------------------------------------------------
def _fill_to_the_brim(monkeypatch, svc) -> None:
    """Make the limit the signed list's own length (and a little): full, still valid."""
    from standard import trustlist
    monkeypatch.setattr(trustlist, "MAX_TRUST_LIST_CHARS", len(svc.trust.trust_list_jws()) + 100)
    svc.trust.invalidate()


def _list_parses(svc) -> bool:
    """Would an offline verifier (CLI, checkpoint page) accept the list the gateway signs now?"""
    from standard import trustlist
    svc.trust.invalidate()
    return trustlist.parse(svc.trust.trust_list_jws(), svc.trust.national_jwks(), svc.now()) is not None


def test_on_a_full_list_a_restore_or_a_rotation_is_refused_and_the_list_stays_valid(service, http, monkeypatch):
    from standard.errors import TrustListFull
    svc = service
    code = svc.issuing.issue(PROVINCE, _person(GD_RESIDENT), status="green").qr_text
    svc.trust.withdraw_delegation(CITY, DM)
    _fill_to_the_brim(monkeypatch, svc)
    assert _list_parses(svc) and svc.verification.verify(code).valid
    dm = {"Authorization": "Bearer " + svc.administration.add_credential("data_manager", "dm-5", DM)}
    r = http.post(f"/v1/admin/delegations/{CITY}/restore", headers=dm)
    assert r.status_code == 413 and r.get_json()["error"]["code"] == "trust_list_full", r.get_data(as_text=True)
    assert svc.trust.delegation_withdrawn(CITY)                     # nothing changed
    last = svc.audit.entries()[-1]
    assert (last["action"], last["result"]) == ("delegation_restore", "trust_list_full")
    keys = len(svc.keystore.records(PROVINCE))
    with pytest.raises(TrustListFull):
        svc.trust.rotate_key(PROVINCE, DM)
    assert len(svc.keystore.records(PROVINCE)) == keys
    assert _list_parses(svc) and svc.verification.verify(code).valid     # still a list every verifier takes


# --- a withdrawal reason holding an ID number ----------------------------------------------------------
def test_a_delegation_withdrawal_reason_keeps_no_plain_id_number(service, http, data_dir):
    svc = service
    dm = {"Authorization": "Bearer " + svc.administration.add_credential("data_manager", "dm-5", DM)}
    number = GZ_RESIDENT.id_number
    reason = f"holder {number} and {number[:6]} {number[6:14]} {number[14:]} complained"
    r = http.post(f"/v1/admin/delegations/{CITY}/withdraw", json={"reason": reason}, headers=dm)
    assert r.status_code == 200, r.get_data(as_text=True)
    listed = http.get("/v1/admin/delegations", headers=dm).get_data(as_text=True)
    stored = (data_dir / "delegations.json").read_text(encoding="utf-8")
    audit = json.dumps(svc.audit.entries(), ensure_ascii=False)
    for where in (listed, stored, audit):
        assert number not in where and number[4:14] not in where, where
        assert _masked(number) in where                          # the reason is kept, masked
    # the CLI's withdrawal is kept masked too
    result = run_cli("delegations", "withdraw", "--city", "440300", "--reason", f"for {number}", data_dir=data_dir)
    assert result.returncode == 0, result.stderr
    assert number not in (data_dir / "delegations.json").read_text(encoding="utf-8")
    assert number not in run_cli("delegations", "list", data_dir=data_dir, check=True).stdout


# --- NaN and Infinity --------------------------------------------------------------------------------
@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity", "1e999", "-1E400"])
def test_numbers_json_does_not_have_are_a_bad_request_never_echoed(service, http, token):
    code = service.issuing.issue(CITY, _person(GZ_RESIDENT), status="green").qr_text
    item = '{"id":%s,"payload":%s}' % (token, json.dumps(code))
    for items in (1, 70):               # in-process, and in the batch pool
        body = '{"items":[' + ",".join([item] * items) + "]}"
        r = http.post("/v1/verify/batch", data=body, content_type="application/json")
        assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request", r.get_data(as_text=True)[:300]
    r = http.post("/v1/verify", data='{"payload":%s,"place":%s}' % (json.dumps(code), token),
                  content_type="application/json")
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "bad_request"


def test_verify_batch_answers_a_nan_line_with_an_error_line_that_is_json(service, data_dir):
    code = service.issuing.issue(CITY, _person(GZ_RESIDENT), status="green").qr_text
    good = json.dumps({"id": 1, "payload": code})
    lines = [good, '{"id":NaN,"payload":%s}' % json.dumps(code), '{"id":Infinity,"payload":%s}' % json.dumps(code)]
    result = run_cli("verify-batch", data_dir=data_dir, stdin="\n".join(lines * 30) + "\n")
    out = result.stdout.splitlines()
    assert len(out) == 90, result.stderr
    answers = [json.loads(line, parse_constant=lambda c: pytest.fail(f"{c} in an answer")) for line in out]
    assert [a["valid"] for a in answers[:3]] == [True, False, False]
    assert _errors(answers[1]) == _errors(answers[2]) == ["bad_request"]


# --- verify-batch: one huge line --------------------------------------------------------------------
_PEAK_MEMORY = """
import resource, subprocess, sys
with open(sys.argv[1], "rb") as stdin:
    out = subprocess.run(sys.argv[2:], stdin=stdin, capture_output=True, check=True).stdout
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss // 1024)
sys.stderr.buffer.write(out)
"""


@needs("slow")
def _verify_batch_peak(data_dir, stdin_path) -> tuple[int, list[dict]]:
    """``healthcode verify-batch`` on a file: (the peak memory of it and its pool, in MB; its answers)."""
    result = subprocess.run([sys.executable, "-c", _PEAK_MEMORY, str(stdin_path), str(BIN / "healthcode"),
                             "verify-batch"], capture_output=True, env={**os.environ, "HEALTHCODE_DATA": str(data_dir)},
                            timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return int(result.stdout), [json.loads(line) for line in result.stderr.decode().splitlines()]


def test_verify_batch_skips_a_line_longer_than_a_request_unread(service, data_dir, tmp_path):
    code = service.issuing.issue(CITY, _person(GZ_RESIDENT), status="green").qr_text
    small, huge = tmp_path / "small.jsonl", tmp_path / "huge.jsonl"
    small.write_text(json.dumps({"id": 1, "payload": code}) + "\n", encoding="utf-8")
    with open(huge, "wb") as fh:            # a valid code padded past 8 MB, then 48 MB with no newline
        fh.write(json.dumps({"id": 1, "payload": code, "pad": "x" * 9_000_000}).encode() + b"\n")
        fh.write(json.dumps({"id": 2, "payload": code}).encode() + b"\n")
        fh.write(b'{"id": 3, "payload": "' + b"a" * (48 << 20))
    base, answers = _verify_batch_peak(data_dir, small)
    assert [a["valid"] for a in answers] == [True]
    peak, answers = _verify_batch_peak(data_dir, huge)
    assert [(a["id"], _errors(a)) for a in answers] == [(None, ["payload_too_large"]), (2, []),
                                                        (None, ["payload_too_large"])], answers
    assert peak - base < 40, (base, peak)       # the 48 MB line was never held
