"""Signing keys held in a PKCS#11 token (docs/security.md, "Key custody"), against a real SoftHSM2
token of each test's own (support.softhsm): keys generated inside the token and never readable
out of it, codes and trust lists signed there verifying through the ordinary verifier, rotation
and revocation in the token, and a token that cannot be used — wrong PIN, no token, no module —
stopping the gateway and the CLI with one clear line."""
from __future__ import annotations

import json
import subprocess

import pkcs11
import pytest
from pkcs11 import Attribute, KeyType, ObjectClass

from config.settings import TOKEN_ALGORITHMS, load_settings
from issuers import token_custody
from residents import RESIDENTS
from standard import jose, trustlist
from standard.errors import ConfigInvalid, KeyCustodyUnavailable, TrustListInvalid
from support.cli import run_cli
from support.live import free_port
from support.codes import error_code, issue
from support.softhsm import MODULE, PIN, PIN_ENV, soft_token

OPERATOR = {"role": "data_manager", "id": "test"}


@pytest.fixture
def token(tmp_path, monkeypatch):
    made = soft_token(tmp_path / "softhsm")
    made.load_in_this_process(monkeypatch)
    return made


def services(token, tmp_path, clock, **custody):
    from gateway.services import Services
    settings = load_settings(token.config(tmp_path, **custody), data_dir=tmp_path / "data")
    return Services(settings, clock=clock)


HELD = ["national", "440000", "510000"]       # ES256 and EdDSA; the other regions keep key files


@pytest.fixture
def held(token, tmp_path, clock):
    svc = services(token, tmp_path, clock, owners=HELD)
    yield svc
    svc.store.close()


def kid_of(qr_text: str) -> str:
    return jose.parse(qr_text.split(":", 1)[1]).kid


def session_of(token, rw: bool = False):
    """A session of the test's own (PKCS#11 logs a whole process in: the gateway's login counts)."""
    found = pkcs11.lib(MODULE).get_token(token_label=token.label)
    try:
        return found.open(rw=rw, user_pin=PIN)
    except pkcs11.exceptions.UserAlreadyLoggedIn:
        return found.open(rw=rw)


def token_objects(token, cls: ObjectClass) -> dict:
    """label → {attribute: value} of every object of ``cls`` in the token, read by a session of
    the test's own."""
    with session_of(token) as session:
        found = {}
        for obj in session.get_objects({Attribute.CLASS: cls}):
            found[obj[Attribute.LABEL]] = obj
            if cls != ObjectClass.PRIVATE_KEY:
                continue
            try:
                obj[Attribute.VALUE]
                found[obj[Attribute.LABEL]] = "READABLE"
            except pkcs11.exceptions.AttributeSensitive:
                found[obj[Attribute.LABEL]] = {a: obj[a] for a in (
                    Attribute.KEY_TYPE, Attribute.EXTRACTABLE, Attribute.SENSITIVE, Attribute.NEVER_EXTRACTABLE,
                    Attribute.ALWAYS_SENSITIVE, Attribute.LOCAL, Attribute.TOKEN, Attribute.ID)}
        return found


# --- keys made in the token, never out of it -----------------------------------------------------
def test_keys_are_generated_in_the_token_and_the_private_half_cannot_be_read(held, token, tmp_path):
    issue(held, "440000")
    issue(held, "510000")
    held.trust.trust_list_jws()
    kids = {owner: held.keystore.records(owner)[-1] for owner in ("national", "440000", "510000")}
    assert {r.custody for r in kids.values()} == {"pkcs11"}
    keys = tmp_path / "data" / "keys"
    assert not [p for owner in HELD for p in (keys / owner).glob("*")
                if p.name not in ("keys.json", "keys.json.lock")], "only the index is written for the token's owners"
    assert list((keys / "110000").glob("*.pem")), "owners not named keep key files"
    private = token_objects(token, ObjectClass.PRIVATE_KEY)
    for owner, record in kids.items():
        attrs = private[record.kid]
        assert attrs != "READABLE", f"{owner}'s private key value could be read out"
        assert attrs[Attribute.KEY_TYPE] == (KeyType.EC_EDWARDS if record.alg == "EdDSA" else KeyType.EC)
        assert attrs[Attribute.EXTRACTABLE] is False and attrs[Attribute.NEVER_EXTRACTABLE] is True
        assert attrs[Attribute.SENSITIVE] is True and attrs[Attribute.ALWAYS_SENSITIVE] is True
        assert attrs[Attribute.LOCAL] is True, "generated inside the token, not imported"
        assert attrs[Attribute.TOKEN] is True and attrs[Attribute.ID] == record.kid.encode()
    # the public halves are there too, labelled by the same kid, and are the keys the list publishes
    public = token_objects(token, ObjectClass.PUBLIC_KEY)
    assert {r.kid for r in kids.values()} <= set(public)
    assert [k["kid"] for k in held.keystore.public_jwks("510000")] == [kids["510000"].kid]


def test_reading_the_private_value_fails_with_the_pkcs11_error(held, token):
    kid = held.keystore.signer("440000").kid
    with session_of(token, rw=True) as session:
        key = session.get_key(object_class=ObjectClass.PRIVATE_KEY, label=kid)
        with pytest.raises(pkcs11.exceptions.AttributeSensitive):
            key[Attribute.VALUE]
        with pytest.raises(pkcs11.exceptions.AttributeReadOnly):
            key[Attribute.EXTRACTABLE] = True                   # and it cannot be made extractable


def test_the_token_offers_what_the_configuration_allows():
    assert token_custody.ALGORITHMS == TOKEN_ALGORITHMS == ("ES256", "EdDSA")


# --- signing in the token, verifying as ever ------------------------------------------------------
@pytest.mark.parametrize("region", ["440000", "510000"])
def test_a_code_signed_in_the_token_verifies_through_the_normal_verifier(held, region):
    issued = issue(held, region, kind="offline")
    verdict = held.verification.verify(issued.qr_text)
    assert verdict.valid, verdict.errors
    assert kid_of(issued.qr_text) == held.keystore.records(region)[-1].kid
    assert jose.parse(issued.qr_text.split(":", 1)[1]).alg == held.settings.region(region).algorithms[0]
    head, body, signature = issued.qr_text.split(".")
    other = issue(held, region, status="red", kind="offline").qr_text.split(".")[2]
    assert error_code(held.verification.verify(f"{head}.{body}.{other}")) == "signature_invalid"


def test_the_trust_list_signed_by_a_national_key_in_the_token_verifies(held, clock):
    signed = held.trust.trust_list_jws()
    assert jose.parse(signed).kid == held.keystore.records("national")[-1].kid
    parsed = trustlist.parse(signed, held.trust.national_jwks(), int(clock()))
    assert {i["region"] for i in parsed.payload["issuers"]} >= {"440000", "510000"}
    with pytest.raises(TrustListInvalid):            # pinned keys decide: a region's key is not one
        trustlist.parse(signed, {"keys": held.keystore.public_jwks("440000")}, int(clock()))


def test_es256_signatures_from_the_token_are_low_s(held):
    key = held.keystore.signer("440000").private_key
    assert isinstance(key, jose.HeldKey)
    raw = [key.sign_raw(b"message %d" % i) for i in range(24)]
    assert any(jose.is_high_s(s) for s in raw), "the token signs high-S about half the time"
    for i in range(24):
        signature = jose.sign("ES256", key, b"message %d" % i)
        assert not jose.is_high_s(signature)
        assert jose.verify("ES256", key.public_key(), b"message %d" % i, signature, low_s=True)


def test_a_forked_worker_signs_in_the_token(held):
    """gunicorn forks workers after `serve --demo` used the token: each opens its own session
    (and initialises the library again, which hardware tokens need and SoftHSM tolerates without)."""
    import os
    key = held.keystore.signer("440000").private_key
    assert jose.verify("ES256", key.public_key(), b"parent", jose.sign("ES256", key, b"parent"))
    pid = os.fork()
    if pid == 0:                                                   # the child: exit 0 only if it signed
        try:
            signature = jose.sign("ES256", key, b"child")
            os._exit(0 if jose.verify("ES256", key.public_key(), b"child", signature, low_s=True) else 3)
        except BaseException:                                      # noqa: BLE001 — any failure is the exit code
            os._exit(4)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert jose.verify("ES256", key.public_key(), b"again", jose.sign("ES256", key, b"again"))


# --- rotation, retirement, revocation in the token -------------------------------------------------
def test_rotation_keeps_the_retired_key_in_the_token_and_its_codes_valid(held, token, clock):
    old = issue(held, "440000", kind="offline").qr_text
    old_kid = kid_of(old)
    clock.advance(5)
    new_kid = held.trust.rotate_key("440000", OPERATOR)
    new = issue(held, "440000", kind="offline").qr_text
    assert kid_of(new) == new_kid != old_kid
    assert held.verification.verify(old).valid and held.verification.verify(new).valid
    assert {k["kid"]: k["status"] for k in held.keystore.public_jwks("440000")} == \
        {old_kid: "retired", new_kid: "active"}
    assert {old_kid, new_kid} <= set(token_objects(token, ObjectClass.PRIVATE_KEY))
    held.trust.revoke_key("440000", old_kid, OPERATOR, "test")
    assert error_code(held.verification.verify(old)) == "key_revoked"
    assert held.verification.verify(new).valid
    assert old_kid in token_objects(token, ObjectClass.PRIVATE_KEY), "kept for the history"


def test_rotating_the_national_key_in_the_token_re_signs_the_list(held, clock):
    first = held.trust.trust_list_jws()
    clock.advance(5)
    new_kid = held.trust.rotate_key("national", OPERATOR)
    second = held.trust.trust_list_jws()
    assert jose.parse(second).kid == new_kid != jose.parse(first).kid
    trustlist.parse(second, held.trust.national_jwks(), int(clock()))


def test_owners_name_which_keys_the_token_holds(token, tmp_path, clock):
    svc = services(token, tmp_path, clock, owners=["national"])
    try:
        issue(svc, "440000")
        svc.trust.trust_list_jws()
        assert svc.keystore.records("national")[-1].custody == "pkcs11"
        assert svc.keystore.records("440000")[-1].custody == "file"
        assert list((tmp_path / "data" / "keys" / "440000").glob("*.pem"))
        assert not list((tmp_path / "data" / "keys" / "national").glob("*.pem"))
    finally:
        svc.store.close()


def test_the_pin_may_come_from_a_file(token, tmp_path, clock, monkeypatch):
    monkeypatch.delenv(PIN_ENV)
    pin_file = tmp_path / "token-pin"
    pin_file.write_text(PIN + "\n")
    svc = services(token, tmp_path, clock, pin_file=pin_file)
    try:
        assert svc.verification.verify(issue(svc, "440000").qr_text).valid
    finally:
        svc.store.close()


# --- a token that cannot be used -------------------------------------------------------------------
def _unusable(case, token, tmp_path, monkeypatch) -> dict:
    if case == "wrong PIN":
        monkeypatch.setenv(PIN_ENV, "999999")
        return {}
    if case == "PIN not set":
        monkeypatch.delenv(PIN_ENV)
        return {}
    if case == "PIN file missing":
        return {"pin_file": tmp_path / "no-such-pin"}
    if case == "no such token":
        return {"label": "not-there"}
    if case == "no such module":
        return {"module": str(tmp_path / "libmissing.so")}
    if case == "not a module":
        (tmp_path / "junk.so").write_bytes(b"not a library")
        return {"module": str(tmp_path / "junk.so")}
    raise AssertionError(case)


CASES = ["wrong PIN", "PIN not set", "PIN file missing", "no such token", "no such module", "not a module"]
WORDS = {"wrong PIN": "wrong PIN", "PIN not set": PIN_ENV, "PIN file missing": "PIN file",
         "no such token": "no PKCS#11 token 'not-there'", "no such module": "does not exist",
         "not a module": "cannot be opened"}


@pytest.mark.parametrize("case", CASES)
def test_the_gateway_refuses_to_start_without_its_token(case, token, tmp_path, monkeypatch):
    from gateway import create_app
    settings = load_settings(token.config(tmp_path, **_unusable(case, token, tmp_path, monkeypatch)),
                             data_dir=tmp_path / "data")
    with pytest.raises(KeyCustodyUnavailable) as refused:
        create_app(settings=settings)
    error = refused.value
    assert error.code == "key_custody_unavailable" and error.http_status == 503
    assert WORDS[case] in error.message and "\n" not in error.message and PIN not in error.message
    assert not (tmp_path / "data" / "keys").exists() or not list((tmp_path / "data" / "keys").rglob("*"))


def test_a_refused_pin_is_not_offered_again(token, tmp_path, monkeypatch):
    """A token locks its PIN after a few wrong tries: one process offers a wrong PIN once."""
    monkeypatch.setenv(PIN_ENV, "999999")
    custody = token_custody.TokenCustody(MODULE, token.label, pin_env=PIN_ENV)
    with pytest.raises(KeyCustodyUnavailable, match="wrong PIN"):
        custody.check()
    with pytest.raises(KeyCustodyUnavailable, match="not offered again"):
        custody.check()
    monkeypatch.setenv(PIN_ENV, PIN)
    custody.check()                                                   # a new PIN is tried


@pytest.mark.parametrize("custody, words", [
    ('kind = "pkcs11"\nmodule = "/x.so"\ntoken_label = "t"\n', "exactly one of pin_env"),
    ('kind = "pkcs11"\nmodule = "/x.so"\ntoken_label = "t"\npin = "1234"\n', "unknown setting 'pin'"),
    ('kind = "pkcs11"\ntoken_label = "t"\npin_env = "P"\n', "needs module"),
    ('kind = "pkcs11"\nmodule = "/x.so"\ntoken_label = "t"\npin_env = "P"\nowners = ["999999"]\n', "'999999'"),
    ('kind = "hsm"\n', "kind must be one of file, pkcs11"),
])
def test_a_custody_table_that_cannot_work_is_a_config_error(tmp_path, custody, words):
    from support.paths import ROOT
    path = tmp_path / "regions.toml"
    path.write_text((ROOT / "config" / "regions.toml").read_text(encoding="utf-8") + "\n[custody]\n" + custody,
                    encoding="utf-8")
    with pytest.raises(ConfigInvalid, match=words):
        load_settings(path, data_dir=tmp_path)


def test_a_region_whose_algorithm_a_token_cannot_hold_is_refused_when_the_config_loads():
    """SM2 (issue 20.2) and RSA-PSS keys stay in files: naming such a region's keys for the token
    is a configuration error, not a failure at its first issuance."""
    from dataclasses import replace

    from config.settings import _custody
    regions = load_settings().regions
    sm2 = tuple(replace(r, algorithms=("SM2SM3",)) if r.code == "440000" else r for r in regions)
    table = {"kind": "pkcs11", "module": MODULE, "token_label": "t", "pin_env": PIN_ENV}
    with pytest.raises(ConfigInvalid, match="region 440000: .* holds ES256, EdDSA keys, not SM2SM3"):
        _custody({**table, "owners": ["national", "440000"]}, sm2)
    assert _custody({**table, "owners": ["national", "510000"]}, sm2).owners == ("national", "510000")
    # owners unset: the national key and every region a token can hold; the SM2 regions keep files
    held = _custody(table, sm2).owners
    assert "national" in held and "510000" in held and "440000" not in held
    assert all(r.algorithms[0] in ("ES256", "EdDSA") for r in sm2 if r.code in held)
    assert any(r.algorithms[0] == "SM2SM3" for r in regions)          # the demo config has one (330000)


def test_a_token_lost_after_start_stops_signing_but_not_verifying(held, token, clock):
    code = issue(held, "440000", kind="offline").qr_text
    for _ in range(2):                                # the first list made every key: it is signed again
        assert held.verification.verify(code).valid
    subprocess.run(["softhsm2-util", "--delete-token", "--token", token.label], check=True, capture_output=True,
                   env={"SOFTHSM2_CONF": str(token.conf), "PATH": "/usr/bin:/bin"})
    pkcs11.lib(MODULE).reinitialize()                 # the library sees the token gone, as when pulled out
    clock.advance(120)                                # past the list's re-signing interval
    assert held.verification.verify(code).valid       # the list signed before is kept: nothing changed
    with pytest.raises(KeyCustodyUnavailable, match="no PKCS#11 token"):
        issue(held, "440000")
    from gateway import create_app
    http = create_app(held).test_client()
    assert http.get("/v1/trust-list").status_code == 200
    id_number, name, _ = RESIDENTS["440000"]
    refused = http.post("/v1/issuers/440000/codes", json={"id_number": id_number, "name": name},
                        headers={"Authorization": f"Bearer {held.credentials.issuer_tokens()['440000']}"})
    assert refused.status_code == 503
    assert refused.get_json()["error"]["code"] == "key_custody_unavailable"
    assert held.verification.verify(issue(held, "110000").qr_text).valid, "a region with key files still issues"
    # a change that must reach the list is never hidden behind the old one
    held.trust.revoke_key("440000", kid_of(code), OPERATOR, "token lost")
    with pytest.raises(KeyCustodyUnavailable):
        held.verification.verify(code)


# --- the command line ---------------------------------------------------------------------------------
def test_healthcode_keys_work_in_the_token_and_codes_verify_offline(tmp_path):
    token = soft_token(tmp_path / "softhsm")
    env = {**token.env, "HEALTHCODE_CONFIG": str(token.config(tmp_path))}
    data = tmp_path / "data"
    id_number, name, _ = RESIDENTS["510000"]
    qr_text = run_cli("issue", "--region", "510000", "--id-number", id_number, "--name", name, "--kind", "offline",
                      data_dir=data, env=env, check=True).stdout.strip()
    run_cli("trust-list", "--out", str(tmp_path / "first.jws"), data_dir=data, env=env, check=True)
    old = json.loads(run_cli("keys", "list", data_dir=data, env=env, check=True).stdout)["national"][0]["kid"]
    new = json.loads(run_cli("keys", "rotate", "national", data_dir=data, env=env, check=True).stdout)["kid"]
    listed = json.loads(run_cli("keys", "list", data_dir=data, env=env, check=True).stdout)
    assert [(k["kid"], k["status"]) for k in listed["national"]] == [(old, "retired"), (new, "active")]
    sm2_regions = {r.code for r in load_settings().regions if r.algorithms[0] == "SM2SM3"}
    files = {p.parent.name for p in data.rglob("*.pem")}
    assert files <= sm2_regions, f"only SM2 regions keep key files, not {files - sm2_regions}"
    run_cli("trust-list", "--out", str(tmp_path / "tl.jws"), "--national-keys", str(tmp_path / "nk.json"),
            data_dir=data, env=env, check=True)
    assert jose.parse((tmp_path / "tl.jws").read_text().strip()).kid == new
    offline = run_cli("verify", "--trust-list", str(tmp_path / "tl.jws"), "--national-keys", str(tmp_path / "nk.json"),
                      qr_text, data_dir=tmp_path / "elsewhere", check=True)
    assert json.loads(offline.stdout)["valid"] is True


def test_the_cli_says_what_is_wrong_with_the_token_in_one_line(tmp_path):
    token = soft_token(tmp_path / "softhsm")
    env = {**token.env, "HEALTHCODE_CONFIG": str(token.config(tmp_path)), PIN_ENV: "999999"}
    for args in (("keys", "list"), ("keys", "rotate", "national"), ("trust-list",)):
        result = run_cli(*args, data_dir=tmp_path / "data", env=env)
        assert result.returncode == 2, result.stderr
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: key_custody_unavailable: the PKCS#11 token 'healthcode' refused")
    for workers in ("0", "2"):                          # the gateway does not start, nor do its workers
        served = run_cli("serve", "--port", str(free_port()), "--workers", workers, data_dir=tmp_path / "data", env=env)
        assert served.returncode == 2 and served.stderr.count("\n") == 1 and "Traceback" not in served.stderr
        assert served.stderr.startswith("error: key_custody_unavailable: the PKCS#11 token 'healthcode' refused")
    missing = run_cli("keys", "list", data_dir=tmp_path / "data",
                      env={**env, "HEALTHCODE_CONFIG": str(token.config(tmp_path, module="/nowhere/lib.so"))})
    assert missing.returncode == 2
    assert missing.stderr == "error: key_custody_unavailable: the PKCS#11 module /nowhere/lib.so does not exist\n"
