"""Foreign trust anchors over the real HTTP server: the data manager adds an EU DCC signer
certificate and a SMART Health Card issuer key, and from then on the gateway — and an offline
verifier holding only the exported trust list — accepts their certificates, PNGs included."""
from __future__ import annotations

import base64
import json
import time

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer
from support.paths import load_vector_json, vectors_dir
from gateway import anchors
from adapters import qr
from standard.errors import BadRequest, NotFound
from support.dcc import dcc_test, issue, signer

SHC_DIR = vectors_dir() / "shc"
SHC_ISS = "https://spec.smarthealth.cards/examples/issuer"


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("anchors")
    server = LiveServer(data)

    def token(role):
        out = run_cli("credentials", "add", "--role", role, "--id", f"{role}-1", data_dir=data, check=True)
        return {"Authorization": "Bearer " + json.loads(out.stdout)["token"]}

    yield {"server": server, "data": data, "manager": token("data_manager"),
           "operator": token("operator"), "auditor": token("auditor")}
    server.stop()


def post_verify(world, **body):
    r = requests.post(world["server"].url + "/v1/verify", json=body, timeout=10)
    assert r.status_code == 200, r.text
    return r.json()


def test_dcc_is_trusted_only_after_the_data_manager_adds_its_signer(world):
    now = int(time.time())
    key, der, anchor = signer(at=now)
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    assert post_verify(world, payload=text)["errors"][0]["code"] == "key_unknown"

    url = world["server"].url + "/v1/admin/anchors"
    refused = requests.post(url, json={"anchors": [anchor["der_b64"]]}, headers=world["operator"], timeout=10)
    assert refused.status_code == 403 and refused.json()["error"]["code"] == "forbidden"
    added = requests.post(url, json={"anchors": [anchor["der_b64"]]}, headers=world["manager"], timeout=10)
    assert added.status_code == 201, added.text
    (anchor_id,) = added.json()["added"]
    again = requests.post(url, json={"anchors": [anchor["der_b64"]]}, headers=world["manager"], timeout=10)
    assert again.status_code == 200 and again.json()["added"] == []

    verdict = post_verify(world, payload=text, place="Zhuhai-Hengqin", device="gate-1")
    assert verdict["valid"] and verdict["format"] == "eu_dcc" and verdict["status"] == "green"
    assert verdict["region"] == "DE" and verdict["reasons"] == ["negative_test"]
    from_png = post_verify(world, image_b64=base64.b64encode(qr.render_png(text)).decode())
    assert from_png["valid"] and from_png["code_id"] == verdict["code_id"]

    listed = requests.get(url, headers=world["manager"], timeout=10).json()["anchors"]
    assert [a["id"] for a in listed] == [anchor_id] and "DSC test" in listed[0]["subject"]

    removed = requests.delete(f"{url}/{anchor_id}", headers=world["manager"], timeout=10)
    assert removed.status_code == 200
    assert post_verify(world, payload=text)["errors"][0]["code"] == "key_unknown"
    gone = requests.delete(f"{url}/{anchor_id}", headers=world["manager"], timeout=10)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "not_found"

    log = requests.get(world["server"].url + "/v1/audit?limit=1000", headers=world["auditor"], timeout=10).json()
    actions = [e["action"] for e in log["entries"]]
    assert actions.count("anchor_add") == 2 and actions.count("anchor_remove") == 1


def test_shc_issuer_key_for_its_issuer_only(world):
    jwks = load_vector_json("shc", "issuer-jwks.json")
    card = (SHC_DIR / "example-00-d-jws.txt").read_text().strip()
    assert post_verify(world, payload=card)["errors"][0]["code"] == "key_unknown"
    url = world["server"].url + "/v1/admin/anchors"
    r = requests.post(url, json={"anchors": jwks["keys"], "iss": "https://other.example/issuer"},
                      headers=world["manager"], timeout=10)
    assert r.status_code == 201
    assert post_verify(world, payload=card)["errors"][0]["code"] == "key_unknown"   # wrong issuer
    for anchor_id in r.json()["added"]:
        requests.delete(f"{url}/{anchor_id}", headers=world["manager"], timeout=10)
    r = requests.post(url, json={"anchors": jwks["keys"], "iss": SHC_ISS}, headers=world["manager"], timeout=10)
    assert r.status_code == 201
    verdict = post_verify(world, payload=card)
    assert verdict["valid"] and verdict["format"] == "shc" and verdict["details"]["issuer"] == SHC_ISS


@pytest.mark.parametrize("body", [
    {"anchors": ["not base64!"]}, {"anchors": [base64.b64encode(b"not a certificate").decode()]},
    {"anchors": [{"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}]},   # private key
    {"anchors": []}, {"anchors": "x"}, {"iss": "x"},
])
def test_bad_anchors_are_refused_whole(world, body):
    url = world["server"].url + "/v1/admin/anchors"
    before = requests.get(url, headers=world["manager"], timeout=10).json()["anchors"]
    r = requests.post(url, json=body, headers=world["manager"], timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
    assert requests.get(url, headers=world["manager"], timeout=10).json()["anchors"] == before


@pytest.mark.slow
def test_offline_verifier_trusts_what_the_trust_list_carries(tmp_path):
    """CLI only: anchors add → trust-list export → verify offline in an empty data directory."""
    data, empty = tmp_path / "gw", tmp_path / "offline"
    now = int(time.time())
    key, der, anchor = signer(at=now)
    cert = tmp_path / "dsc.der"
    cert.write_bytes(der)
    assert json.loads(run_cli("anchors", "add", str(cert), data_dir=data, check=True).stdout)["added"]
    run_cli("trust-list", "--out", str(tmp_path / "tl.jws"), "--national-keys", str(tmp_path / "keys.json"),
            data_dir=data, check=True)
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    result = run_cli("verify", text, "--trust-list", str(tmp_path / "tl.jws"), "--national-keys",
                     str(tmp_path / "keys.json"), data_dir=empty)
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads(result.stdout)["format"] == "eu_dcc"
    assert json.loads(run_cli("anchors", "list", data_dir=data, check=True).stdout)[0]["type"] == "x509"


def test_anchor_parsing_and_file(tmp_path):
    _, der, anchor = signer()
    parsed = anchors.parse_anchor(anchor["der_b64"])
    assert parsed["id"].startswith("x509:") and anchors.parse_anchor(anchor) == parsed
    pem = b"-----BEGIN CERTIFICATE-----\n" + base64.encodebytes(der) + b"-----END CERTIFICATE-----\n"
    assert anchors.anchors_from_bytes(pem * 2) == [parsed, parsed]
    store = anchors.AnchorFile(tmp_path)
    assert store.add([parsed, parsed]) == [parsed["id"]] and store.add([parsed]) == []
    with pytest.raises(NotFound):
        store.remove("x509:nothing")
    with pytest.raises(BadRequest):
        anchors.anchors_from_bytes(b"{not json")


def test_eu_certificate_transcodes_into_a_regional_code(service):
    """An EU traveller's negative test → 粤康码 under Guangdong's rules, provenance naming the DCC;
    Shanghai, which wants a test within 3 days, agrees (the test is an hour old)."""
    now = service.now()
    key, der, anchor = signer(at=now)
    service.trust.add_anchors([anchor["der_b64"]], {"role": "data_manager", "id": "t"})
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    source = service.verification.verify(text)
    for region in ("440000", "310000"):
        issued, _ = service.issuing.transcode(text, region)
        verdict = service.verification.verify(issued.qr_text)
        assert verdict.valid and verdict.region == region and verdict.status == "green", verdict
        prov = verdict.claims["prov"]
        assert prov["region"] == "DE" and prov["format"] == "eu_dcc" and prov["jti"] == source.code_id
        assert verdict.claims["exp"] <= source.claims["exp"]


def test_auditor_verifies_against_a_checkpoint_over_http(world):
    url = world["server"].url + "/v1/audit/verify"
    first = requests.get(url, headers=world["auditor"], timeout=10).json()
    assert first["intact"] and first["checkpoint"].startswith(f"{first['entries']}:")
    again = requests.get(url, params={"checkpoint": first["checkpoint"]}, headers=world["auditor"], timeout=10)
    assert again.status_code == 200 and again.json()["intact"] is True
    forged = "1:" + "0" * 64
    assert requests.get(url, params={"checkpoint": forged}, headers=world["auditor"], timeout=10).json()["intact"] is False
    bad = requests.get(url, params={"checkpoint": "x"}, headers=world["auditor"], timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    assert requests.get(url, headers=world["manager"], timeout=10).status_code == 403


def test_data_manager_revokes_an_eu_certificate_by_uvci(world, tmp_path):
    """Online at once; offline once the verifier has the refreshed trust list; nobody else may."""
    now = int(time.time())
    key, der, anchor = signer(at=now)
    url = world["server"].url
    requests.post(url + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]}, headers=world["manager"],
                  timeout=10).raise_for_status()
    certificate = dcc_test(now - 3600)
    certificate["t"][0]["ci"] = "URN:UVCI:01:DE:FRAUD42#Q"
    text = issue(key, der, certificate, iat=now - 3600, exp=now + 86400)
    before = post_verify(world, payload=text)
    assert before["valid"]
    keys = requests.get(url + "/v1/trust-list/national-keys", timeout=10).json()
    (tmp_path / "keys.json").write_text(json.dumps(keys))

    body = {"format": "eu_dcc", "certificate_ids": ["URN:UVCI:01:DE:FRAUD42#Q"], "reason": "EU revocation list"}
    assert requests.post(url + "/v1/admin/revocations", json=body, headers=world["operator"], timeout=10).status_code == 403
    r = requests.post(url + "/v1/admin/revocations", json=body, headers=world["manager"], timeout=10)
    assert r.status_code == 200 and r.json()["revoked"] == [before["code_id"]]
    assert post_verify(world, payload=text)["errors"][0]["code"] == "code_revoked"

    trust = requests.get(url + "/v1/trust-list", timeout=10).json()
    assert before["code_id"] in trust["trust_list"]["revoked_jti"]
    (tmp_path / "tl.jws").write_text(trust["jws"])
    offline = run_cli("verify", text, "--trust-list", str(tmp_path / "tl.jws"), "--national-keys",
                      str(tmp_path / "keys.json"), data_dir=tmp_path / "empty")
    assert offline.returncode == 1 and json.loads(offline.stdout)["errors"][0]["code"] == "code_revoked"

    bad = requests.post(url + "/v1/admin/revocations", json={"format": "yuekang", "certificate_ids": ["x"]},
                        headers=world["manager"], timeout=10)
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    log = requests.get(url + "/v1/audit?limit=1000", headers=world["auditor"], timeout=10).json()["entries"]
    entry = [e for e in log if e["action"] == "revoke_foreign"][-1]
    assert entry["detail"]["codes"] == [before["code_id"]] and "FRAUD42" not in json.dumps(log)


@pytest.mark.parametrize("query", [{"after": 2**63}, {"after": -1}, {"limit": 0}, {"limit": -1}, {"limit": 1001},
                                   {"after": "x"}])
def test_audit_paging_out_of_range_is_a_clear_400(world, query):
    """Found by the fuzzer: after=2**63 overflowed SQLite (a 500) and limit=-1 meant "no limit"."""
    r = requests.get(world["server"].url + "/v1/audit", params=query, headers=world["auditor"], timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request", r.text
