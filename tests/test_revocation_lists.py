"""Foreign revocation lists (issue 11 part 3): EU DCC hash batches (UCI, COUNTRYCODEUCI, SIGNATURE,
by kid) and SMART Health Card rid lists, built from the shared vectors, imported by the data
manager (CLI and HTTP, audited), refused online over HTTP and offline by the CLI verifier with a
cached trust list."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from pathlib import Path

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer
from support.paths import vectors_dir
from adapters import eu_dcc, revocation_lists, shc
from adapters.verifier import Verifier
import standard
from standard.errors import BadRequest
from standard.trustlist import TrustList
from support.dcc import dcc_test, issue, signer

DCC_DIR = vectors_dir() / "dcc"
SHC_DIR = vectors_dir() / "shc"
SHC_ISS = "https://spec.smarthealth.cards/examples/issuer"


def dcc_vector(path: Path) -> dict:
    """A dgc-testdata file → what a revocation list needs: kid, UCI(s), CWT issuer, signature."""
    data = json.loads(path.read_text(encoding="utf-8"))
    cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(data["PREFIX"][4:])))
    cwt = eu_dcc.read_cwt(cose.payload)
    kind = next(k for k in "vtr" if k in cwt.dcc)
    return {"data": data, "kid": cose.kid, "iss": cwt.iss, "ucis": [e["ci"] for e in cwt.dcc[kind]],
            "signature": cose.signature, "alg": cose.alg, "at": standard.parse_rfc3339(data["TESTCTX"]["VALIDATIONCLOCK"])}


def independent_hash(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()[:16]).decode()


def batch_for(vec: dict, hash_type: str, kid: bytes | None = None) -> dict:
    """An EU gateway revocation batch (its JSON form) naming this certificate."""
    uci = vec["ucis"][0]
    sig = vec["signature"][:32] if vec["alg"] == "ES256" else vec["signature"]
    value = {"UCI": independent_hash(uci.encode()), "COUNTRYCODEUCI": independent_hash((vec["iss"] + uci).encode()),
             "SIGNATURE": independent_hash(sig)}[hash_type]
    return {"country": vec["iss"] if len(vec["iss"] or "") == 2 else "XX", "expires": "2099-01-01T00:00:00Z",
            "kid": base64.b64encode(kid or vec["kid"]).decode(), "hashType": hash_type,
            "entries": [{"hash": value}, {"hash": independent_hash(b"someone else")}]}


def valid_vectors() -> list[dict]:
    """Every shared DCC file that verifies at its own clock with its own certificate."""
    out = []
    for path in sorted(DCC_DIR.rglob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        anchor = {"type": "x509", "der_b64": data["TESTCTX"].get("CERTIFICATE", "")}
        try:
            vec = dcc_vector(path)
        except Exception:           # noqa: BLE001 — broken files are the other tests' business
            continue
        if Verifier(["eu_dcc"]).verify(data["PREFIX"], TrustList({}, (anchor,)), vec["at"]).valid:
            out.append({**vec, "anchor": anchor, "path": path})
    return out


@pytest.fixture(scope="module")
def vectors():
    found = valid_vectors()
    assert len(found) >= 100
    return found


def verdict_with(vec, revocations) -> object:
    trust = TrustList({"foreign_revocations": revocations}, (vec["anchor"],))
    return Verifier(["eu_dcc"]).verify(vec["data"]["PREFIX"], trust, vec["at"])


@pytest.mark.parametrize("hash_type", revocation_lists.DCC_HASH_TYPES)
def test_every_shared_dcc_is_refused_when_listed(vectors, hash_type):
    """Each valid dgc-testdata certificate, listed under one hash type for its kid: code_revoked;
    the same hash under another kid, or another type's list, leaves it valid."""
    for vec in vectors:
        doc = revocation_lists.merge(revocation_lists.empty(), "eu_dcc",
                                     revocation_lists.parse_dcc_batches(batch_for(vec, hash_type)))
        verdict = verdict_with(vec, doc)
        assert not verdict.valid and verdict.errors[0]["code"] == "code_revoked", vec["path"]
        assert hash_type in verdict.errors[0]["message"]
        elsewhere = revocation_lists.parse_dcc_batches(batch_for(vec, hash_type, kid=b"\x00" * 8))
        assert verdict_with(vec, revocation_lists.merge(revocation_lists.empty(), "eu_dcc", elsewhere)).valid


def test_signature_hash_uses_r_only_for_ecdsa(vectors):
    es = next(v for v in vectors if v["alg"] == "ES256")
    ps = next(v for v in vectors if v["alg"] == "PS256")
    assert revocation_lists.dcc_hashes("x", "DE", es["signature"], "ES256")["SIGNATURE"] == independent_hash(es["signature"][:32])
    assert revocation_lists.dcc_hashes("x", "DE", ps["signature"], "PS256")["SIGNATURE"] == independent_hash(ps["signature"])


@pytest.mark.parametrize("document", [
    {"kid": "AAAAAAAAAAA=", "hashType": "MD5", "entries": []},
    {"kid": "AAAAAAAAAAA=", "hashType": "UCI", "entries": [{"hash": "short"}]},
    {"kid": "AAAAAAAAAAA=", "hashType": "UCI", "entries": [{"hash": base64.b64encode(b"x" * 32).decode()}]},
    {"kid": 5, "hashType": "UCI", "entries": []},
    {"kid": "AAAAAAAAAAA=", "hashType": "UCI", "entries": [], "expires": "soon"},
    [], [1], "text",
])
def test_malformed_dcc_lists_are_refused_whole(document):
    with pytest.raises(BadRequest):
        revocation_lists.parse_dcc_batches(document)


def test_shc_rids_with_and_without_timestamps():
    crl = revocation_lists.parse_shc_crl({"kid": "k", "method": "rid", "ctr": 2,
                                          "rids": ["always", "before.1000", "before.500", "both", "both.10"]}, "https://i")
    idx = revocation_lists.index(revocation_lists.merge(revocation_lists.empty(), "shc", crl))
    assert revocation_lists.shc_revoked(idx, "https://i", "k", "always", 10**10)
    assert revocation_lists.shc_revoked(idx, "https://i", "k", "before", 999)
    assert not revocation_lists.shc_revoked(idx, "https://i", "k", "before", 1000)     # issued after
    assert revocation_lists.shc_revoked(idx, "https://i", "k", "both", 10**10)
    assert not revocation_lists.shc_revoked(idx, "https://other", "k", "always", 1)
    assert not revocation_lists.shc_revoked(idx, "https://i", "k", None, 1)
    older = revocation_lists.parse_shc_crl({"kid": "k", "ctr": 1, "rids": []}, "https://i")
    with pytest.raises(BadRequest):
        revocation_lists.merge(revocation_lists.merge(revocation_lists.empty(), "shc", crl), "shc", older)
    for bad in ({"kid": "k", "rids": ["a b"]}, {"kid": "k", "method": "other", "rids": []}, {"rids": []}):
        with pytest.raises(BadRequest):
            revocation_lists.parse_shc_crl(bad, "https://i")
    with pytest.raises(BadRequest):
        revocation_lists.parse_shc_crl({"kid": "k", "rids": []}, None)


def shc_example() -> tuple[str, str, str]:
    """The spec's example 00 card, its key id and its rid (read from the card itself)."""
    token = (SHC_DIR / "example-00-d-jws.txt").read_text().strip()
    parsed = shc.parse_card_jws(token)
    card = shc.read_payload(parsed.payload)
    assert card.iss == SHC_ISS and card.rid
    return token, parsed.kid, card.rid


# === online (HTTP) and offline (CLI), end to end ==============================================
@pytest.fixture(scope="module")
def world(tmp_path_factory):
    data = tmp_path_factory.mktemp("revocation-gw")
    manager = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm-rev",
                                 data_dir=data, check=True).stdout)["token"]
    operator = json.loads(run_cli("credentials", "add", "--role", "operator", "--id", "op-rev",
                                  data_dir=data, check=True).stdout)["token"]
    server = LiveServer(data)
    yield {"data": data, "url": server.url, "manager": {"Authorization": f"Bearer {manager}"},
           "operator": {"Authorization": f"Bearer {operator}"}}
    server.stop()


def post_verify(world, text) -> dict:
    r = requests.post(world["url"] + "/v1/verify", json={"payload": text}, timeout=20)
    assert r.status_code == 200, r.text
    return r.json()


def export_trust_list(world, folder: Path) -> tuple[Path, Path]:
    keys = requests.get(world["url"] + "/v1/trust-list/national-keys", timeout=10).json()
    trust = requests.get(world["url"] + "/v1/trust-list", timeout=10).json()
    (folder / "keys.json").write_text(json.dumps(keys))
    (folder / "tl.jws").write_text(trust["jws"])
    revocations = requests.get(world["url"] + "/v1/trust-list/revocations", timeout=10)     # named by hash
    assert revocations.status_code == 200
    (folder / "revocations.json").write_bytes(revocations.content)
    return folder / "tl.jws", folder / "keys.json"


def offline_verify(text, tl, keys, folder, at=None):
    args = ["verify", text, "--trust-list", str(tl), "--national-keys", str(keys),
            "--revocations", str(tl.parent / "revocations.json")] + (["--at", at] if at else [])
    result = run_cli(*args, data_dir=folder / "offline")
    return result.returncode, json.loads(result.stdout)


def test_shc_rid_list_refuses_the_card_online_and_offline(world, tmp_path):
    token, kid, rid = shc_example()
    jwks = SHC_DIR / "issuer-jwks.json"
    r = requests.post(world["url"] + "/v1/admin/anchors", headers=world["manager"], timeout=10,
                      json={"anchors": json.loads(jwks.read_text())["keys"], "iss": SHC_ISS})
    assert r.status_code in (200, 201), r.text
    assert post_verify(world, token)["valid"] is True
    crl = {"kid": kid, "method": "rid", "ctr": 1, "rids": [rid, "someoneelse.1600000000"]}
    body = {"format": "shc", "list": crl, "iss": SHC_ISS}
    assert requests.post(world["url"] + "/v1/admin/revocation-lists", json=body, headers=world["operator"],
                         timeout=10).status_code == 403
    r = requests.post(world["url"] + "/v1/admin/revocation-lists", json=body, headers=world["manager"], timeout=10)
    assert r.status_code == 200 and r.json()["entries"] == 2, r.text
    online = post_verify(world, token)
    assert online["valid"] is False and online["errors"][0]["code"] == "code_revoked"
    tl, keys = export_trust_list(world, tmp_path)
    code, offline = offline_verify(token, tl, keys, tmp_path)
    assert code == 1 and offline["errors"][0]["code"] == "code_revoked"
    held = requests.get(world["url"] + "/v1/admin/revocation-lists", headers=world["manager"], timeout=10).json()
    assert {"iss": SHC_ISS, "kid": kid, "ctr": 1, "entries": 2} in held["shc"]


def test_dcc_batch_refuses_a_certificate_online_and_offline(world, tmp_path, vectors):
    """Our own DSC (valid now) over HTTP; a shared dgc-testdata certificate offline at its clock,
    both through lists in the EU gateway's form imported by the data manager."""
    now = int(time.time())
    key, der, anchor = signer(at=now)
    requests.post(world["url"] + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]},
                  headers=world["manager"], timeout=10).raise_for_status()
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    assert post_verify(world, text)["valid"] is True
    cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(text[4:])))
    ours = {"kid": cose.kid, "iss": "DE", "ucis": ["URN:UVCI:01:DE:T1#X"], "signature": cose.signature, "alg": "ES256"}
    r = requests.post(world["url"] + "/v1/admin/revocation-lists", headers=world["manager"], timeout=10,
                      json={"format": "eu_dcc", "list": [batch_for(ours, "SIGNATURE")]})
    assert r.status_code == 200 and r.json()["entries"] == 2, r.text
    online = post_verify(world, text)
    assert online["valid"] is False and online["errors"][0]["code"] == "code_revoked"

    shared = next(v for v in vectors if v["path"].parent.name == "DE") if any(
        v["path"].parent.name == "DE" for v in vectors) else vectors[0]
    (tmp_path / "batch.json").write_text(json.dumps(batch_for(shared, "COUNTRYCODEUCI")))
    imported = run_cli("revocation-lists", "import", "--format", "eu_dcc", str(tmp_path / "batch.json"),
                       data_dir=world["data"], check=True)
    assert json.loads(imported.stdout)["entries"] == 2
    requests.post(world["url"] + "/v1/admin/anchors", json={"anchors": [shared["anchor"]["der_b64"]]},
                  headers=world["manager"], timeout=10).raise_for_status()
    clock = shared["data"]["TESTCTX"]["VALIDATIONCLOCK"]
    tl, keys = tmp_path / "cli-tl.jws", tmp_path / "cli-keys.json"       # the CLI's own export
    run_cli("trust-list", "--out", str(tl), "--national-keys", str(keys), "--revocations",
            str(tmp_path / "revocations.json"), data_dir=world["data"], check=True)
    code, offline = offline_verify(shared["data"]["PREFIX"], tl, keys, tmp_path, at=clock)
    assert code == 1 and offline["errors"][0]["code"] == "code_revoked", offline
    code, still = offline_verify(text, tl, keys, tmp_path)
    assert code == 1 and still["errors"][0]["code"] == "code_revoked"

    bad = requests.post(world["url"] + "/v1/admin/revocation-lists", headers=world["manager"], timeout=10,
                        json={"format": "eu_dcc", "list": {"kid": "x", "hashType": "UCI", "entries": [{"hash": "?"}]}})
    assert bad.status_code == 400 and bad.json()["error"]["code"] == "bad_request"
    entries = run_cli("audit", "show", data_dir=world["data"], check=True).stdout
    assert entries.count("revocation_list_import") >= 3


def test_a_list_imported_with_the_cli_reaches_a_running_server(tmp_path):
    """The data manager imports on the command line while the gateway serves: the running
    server's trust list is re-signed when the file changes, so the card is refused at once."""
    data = tmp_path / "gw"
    manager = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm-cli",
                                 data_dir=data, check=True).stdout)["token"]
    server = LiveServer(data)
    try:
        world = {"url": server.url}
        token, kid, rid = shc_example()
        r = requests.post(server.url + "/v1/admin/anchors", headers={"Authorization": f"Bearer {manager}"},
                          json={"anchors": json.loads((SHC_DIR / "issuer-jwks.json").read_text())["keys"],
                                "iss": SHC_ISS}, timeout=10)
        assert r.status_code in (200, 201), r.text
        assert post_verify(world, token)["valid"] is True
        seq_before = requests.get(server.url + "/healthz", timeout=5).json()["trust_list_seq"]
        (tmp_path / "crl.json").write_text(json.dumps({"kid": kid, "method": "rid", "ctr": 1, "rids": [rid]}))
        run_cli("revocation-lists", "import", "--format", "shc", "--iss", SHC_ISS, str(tmp_path / "crl.json"),
                data_dir=data, check=True)
        refused = post_verify(world, token)
        assert refused["valid"] is False and refused["errors"][0]["code"] == "code_revoked"
        assert requests.get(server.url + "/healthz", timeout=5).json()["trust_list_seq"] > seq_before
    finally:
        server.stop()
