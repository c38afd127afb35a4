"""The signed trust list cannot be pushed past its own limit (issue 19, item 3).

Before: one EU revocation list of ~140 000 hashes, three posts of ~20 000 SMART rids, 40 business
rules or a loop of printed-and-withdrawn cards made the signed list longer than the 5 000 000
characters every verifier accepts, and from then on every verify, /healthz and /v1/trust-list
answered 500 ``trust_list_invalid``.  Now foreign revocation lists ride in a revocation file the
list names by SHA-256, and every other write that feeds the list is refused
(``trust_list_full``) before anything is stored."""
from __future__ import annotations

import base64
import json
import os
import time

import pytest

from adapters import eu_dcc
from adapters.verifier import Verifier
from issuers import make_person
from standard import revocation_file, trustlist
from standard.errors import TrustListFull, TrustListInvalid
from support.dcc import dcc_test, issue, signer

DM = {"role": "data_manager", "id": "dm-size"}
ENTRIES = 300_000


def eu_settings(settings):
    """The test configuration with EU DCC verification on (as config/regions.toml has it)."""
    assert "eu_dcc" in settings.extra_formats
    return settings


def big_eu_list(kid: bytes, revoked_signature_hash: str, entries: int = ENTRIES) -> list[dict]:
    """``entries`` random SIGNATURE hashes in 30 batches of one kid, and the one naming our code."""
    rng = os.urandom(16 * entries)
    hashes = [base64.b64encode(rng[i:i + 16]).decode() for i in range(0, len(rng), 16)]
    hashes[12345] = revoked_signature_hash
    kid_b64 = base64.b64encode(kid).decode()
    size = entries // 30
    return [{"country": "DE", "expires": "2099-01-01T00:00:00Z", "kid": kid_b64, "hashType": "SIGNATURE",
             "entries": [{"hash": h} for h in hashes[i:i + size]]} for i in range(0, entries, size)]


def our_dcc(service):
    """A DCC of our own signer (trusted through an anchor), and its SIGNATURE hash."""
    now = int(time.time())
    key, der, anchor = signer(at=now)
    service.trust.add_anchors([anchor["der_b64"]], DM)
    text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
    cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(text[4:])))
    import hashlib
    signature_hash = base64.b64encode(hashlib.sha256(cose.signature[:32]).digest()[:16]).decode()
    return text, cose.kid, signature_hash


def timed_verifies(service, texts, rounds=3) -> float:
    best = float("inf")
    for _ in range(rounds):
        t0 = time.perf_counter()
        for text in texts:
            service.verification.verify(text, record=False)
        best = min(best, time.perf_counter() - t0)
    return best


def test_a_300000_entry_eu_list_is_enforced_online_and_offline_without_bloating_the_trust_list(service, settings):
    eu_settings(settings)
    text, kid, signature_hash = our_dcc(service)
    national = service.issuing.issue("440000", make_person("440305193606300643", "陈秀英")).qr_text
    assert service.verification.verify(text, record=False).valid
    before_chars = len(service.trust.trust_list_jws())
    before = timed_verifies(service, [text, national] * 20)

    result = service.trust.import_revocation_list("eu_dcc", big_eu_list(kid, signature_hash), DM)
    assert result["total"] == ENTRIES

    jws = service.trust.trust_list_jws()
    assert len(jws) < before_chars + 1000                     # the list names the file; it does not carry it
    online = service.verification.verify(text, record=False)
    assert not online.valid and online.errors[0]["code"] == "code_revoked"
    assert service.verification.verify(national, record=False).valid
    service.verification.verify(text, record=False)           # the index is built once per file
    after = timed_verifies(service, [text, national] * 20)
    print(f"\nin-process verify, 40 codes: {before * 1000:.1f} ms without, {after * 1000:.1f} ms with "
          f"{ENTRIES} revoked hashes (ratio {after / before:.2f}); trust list {len(jws)} characters")

    # offline: the signed list plus the file it names; the file is checked by its hash
    held = service.trust.revocation_file_held()
    keys = service.trust.national_jwks()
    trust = trustlist.parse(jws, keys)
    ref = revocation_file.named(trust.payload)
    assert ref["entries"] == ENTRIES and ref["sha256"] == held.sha256 and ref["bytes"] == len(held.data)
    verifier = Verifier(settings.formats(), options=settings.format_options)
    missing = verifier.verify(text, trust)
    assert not missing.valid and missing.errors[0]["code"] == "revocations_missing"   # never unchecked
    assert verifier.verify(national, trust).valid                                      # ours need no file
    offline = verifier.verify(text, revocation_file.attach(trust, revocation_file.check(trust.payload, held.data)))
    assert not offline.valid and offline.errors[0]["code"] == "code_revoked"
    forged = held.data.replace(signature_hash.encode(), base64.b64encode(b"\0" * 16))
    with pytest.raises(TrustListInvalid):
        revocation_file.check(trust.payload, forged)


def test_every_write_that_feeds_the_list_is_refused_before_it_is_stored_when_it_would_not_fit(service, settings):
    """Business rules, trust anchors and withdrawn codes: refused with ``trust_list_full``, the
    list stays valid, and a removal always works."""
    eu_settings(settings)
    padding = "x" * 1_000_000
    rule = {"Identifier": "GR-DE-0001", "Type": "Acceptance", "Country": "DE", "Version": "1.0.0",
            "SchemaVersion": "1.0.0", "Engine": "CERTLOGIC", "EngineVersion": "0.7.5", "CertificateType": "General",
            "Description": [{"lang": "en", "desc": "d"}], "ValidFrom": "2021-07-01T00:00:00Z",
            "ValidTo": "2099-01-01T00:00:00Z", "AffectedFields": [], "Logic": {"var": "payload"}}
    value_sets = {f"set-{i}": {"valueSetId": f"set-{i}", "valueSetDate": "2021-01-01",
                               "valueSetValues": {f"{padding[:100]}{j}": {"display": padding[:200], "lang": "en",
                                                                          "active": True, "version": "1", "system": "s"}
                                                  for j in range(3000)}}
                  for i in range(20)}
    before = service.trust.rule_summary()
    with pytest.raises(TrustListFull):
        service.trust.import_value_sets(list(value_sets.values()), DM)
    assert service.trust.rule_summary() == before
    assert service.trust.import_rules("DE", [rule], DM)           # what fits is still accepted
    assert trustlist.parse(service.trust.trust_list_jws(), service.trust.national_jwks())
    # withdrawn foreign certificates: a flood that would not fit is refused whole
    many = [f"URN:UVCI:01:DE:{i:020d}#X" for i in range(120_000)]
    with pytest.raises(TrustListFull):
        service.trust.revoke_foreign("eu_dcc", many, DM)
    assert len(service.store.revoked_jtis(service.now())) == 0
    service.trust.remove_rules("DE", DM)                            # a removal always works


def test_a_withdrawn_code_leaves_the_list_once_it_would_have_expired(service, clock):
    person = make_person("440305193606300643", "陈秀英")
    service.issuing.issue("440000", person)
    service.issuing.print_cards([("440000", person, None)])
    service.issuing.revoke_subject(service.issuing.subject(person), DM)
    listed = lambda: len(trustlist.parse(service.trust.trust_list_jws(),                      # noqa: E731
                                         service.trust.national_jwks(), service.now()).revoked_jti)
    assert listed() == 2
    clock.advance(3600)                               # the dynamic code has expired; the card has not
    service.trust.invalidate()
    assert listed() == 1
    clock.advance(7 * 86400)
    service.trust.invalidate()
    assert listed() == 0


def test_revocation_lists_are_listed_and_removed_with_the_cli_and_audited(tmp_path):
    from support.cli import run_cli
    data = tmp_path / "data"
    kid = base64.b64encode(b"kid-one!").decode()
    batch = {"country": "DE", "kid": kid, "hashType": "UCI",
             "entries": [{"hash": base64.b64encode(bytes([i]) * 16).decode()} for i in range(5)]}
    (tmp_path / "b.json").write_text(json.dumps(batch))
    run_cli("revocation-lists", "import", "--format", "eu_dcc", str(tmp_path / "b.json"), data_dir=data, check=True)
    held = json.loads(run_cli("revocation-lists", "list", data_dir=data, check=True).stdout)
    assert held["eu_dcc"][0]["entries"] == 5 and held["eu_dcc"][0]["kid"] == kid
    removed = run_cli("revocation-lists", "remove", "--format", "eu_dcc", "--kid", kid, data_dir=data, check=True)
    assert json.loads(removed.stdout) == {"format": "eu_dcc", "removed": 5, "total": 0}
    again = run_cli("revocation-lists", "remove", "--format", "eu_dcc", "--kid", kid, data_dir=data)
    assert again.returncode == 2 and "not_found" in again.stderr
    assert json.loads(run_cli("revocation-lists", "list", data_dir=data, check=True).stdout)["eu_dcc"] == []
    assert run_cli("audit", "show", data_dir=data, check=True).stdout.count("revocation_list_remove") == 2


def forty_big_rules() -> list[dict]:
    """The issue's attack: 40 business rules, each under the 100 000-character per-rule cap."""
    rule = {"Type": "Acceptance", "Country": "DE", "Version": "1.0.0", "SchemaVersion": "1.0.0",
            "Engine": "CERTLOGIC", "EngineVersion": "0.7.5", "CertificateType": "General",
            "Description": [{"lang": f"l{i}", "desc": "d" * 1990} for i in range(48)],        # ~96 KB a rule
            "ValidFrom": "2021-07-01T00:00:00Z", "ValidTo": "2099-01-01T00:00:00Z", "AffectedFields": [],
            "Logic": {"var": "payload"}}
    return [{**rule, "Identifier": f"GR-DE-{i:04d}"} for i in range(40)]


def test_forty_business_rules_each_within_its_cap_are_refused_whole_and_the_list_stays_valid(service):
    rules = forty_big_rules()
    before = service.trust.rule_summary()
    with pytest.raises(TrustListFull) as refused:
        service.trust.import_rules("DE", rules, DM)
    assert refused.value.code == "trust_list_full" and "nothing was stored" in refused.value.message
    assert service.trust.rule_summary() == before
    assert trustlist.parse(service.trust.trust_list_jws(), service.trust.national_jwks())
    assert service.trust.import_rules("DE", rules[:10], DM)                   # ten of them fit


def test_a_batch_in_the_pool_refuses_a_code_on_the_revocation_file(service, settings):
    """The batch pool's processes read the file the list names (by its hash) from the data
    directory: a listed certificate is refused there too."""
    from gateway.batch import PARALLEL_MIN_ITEMS, Job
    eu_settings(settings)
    text, kid, signature_hash = our_dcc(service)
    service.trust.import_revocation_list("eu_dcc", big_eu_list(kid, signature_hash, entries=30_000), DM)
    national = service.issuing.issue("440000", make_person("440305193606300643", "陈秀英")).qr_text
    jobs = [Job(text=text if i % 2 else national) for i in range(PARALLEL_MIN_ITEMS * 2)]
    verdicts = service.verification.verify_many(jobs, record=False)
    assert service.verification._pool is not None                             # it did run in the pool
    assert {v.errors[0]["code"] for v in verdicts[1::2]} == {"code_revoked"}
    assert all(v.valid for v in verdicts[0::2])


def test_over_http_lists_are_served_by_hash_removed_and_a_full_list_is_a_clear_refusal(tmp_path):
    import requests
    from support.cli import run_cli
    from support.live import LiveServer
    data = tmp_path / "gw"
    token = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm-http",
                               data_dir=data, check=True).stdout)["token"]
    manager = {"Authorization": f"Bearer {token}"}
    server = LiveServer(data)
    try:
        url = server.url
        assert requests.get(url + "/v1/trust-list/revocations", timeout=10).status_code == 404    # none held
        kid = base64.b64encode(b"kid-http").decode()
        batch = {"country": "DE", "kid": kid, "hashType": "UCI",
                 "entries": [{"hash": base64.b64encode(bytes([i]) * 16).decode()} for i in range(7)]}
        r = requests.post(url + "/v1/admin/revocation-lists", json={"format": "eu_dcc", "list": batch},
                          headers=manager, timeout=20)
        assert r.status_code == 200, r.text
        rules_before = requests.get(url + "/v1/admin/dcc-rules", headers=manager, timeout=10).json()
        listed = requests.get(url + "/v1/trust-list", timeout=10).json()["trust_list"]
        ref = listed["foreign_revocations_file"]
        assert ref["entries"] == 7 and "foreign_revocations" not in listed
        served = requests.get(url + ref["url"], timeout=10)
        assert served.status_code == 200 and served.headers["ETag"].strip('"') == ref["sha256"]
        assert revocation_file.check(listed, served.content).document["eu_dcc"][0]["kid"] == kid
        again = requests.get(url + ref["url"], headers={"If-None-Match": served.headers["ETag"]}, timeout=10)
        assert again.status_code == 304
        # 40 rules that would not fit: a JSON refusal, nothing stored, every verify still fine
        full = requests.post(url + "/v1/admin/dcc-rules", json={"country": "DE", "rules": forty_big_rules()},
                             headers=manager, timeout=60)
        assert full.status_code == 413 and full.json()["error"]["code"] == "trust_list_full", full.text[:300]
        assert requests.get(url + "/healthz", timeout=10).status_code == 200
        assert requests.post(url + "/v1/verify", json={"payload": "x"}, timeout=10).status_code == 200
        assert requests.get(url + "/v1/trust-list", timeout=10).status_code == 200
        assert requests.get(url + "/v1/admin/dcc-rules", headers=manager, timeout=10).json() == rules_before
        # removal, audited; the list then names no file
        gone = requests.delete(url + "/v1/admin/revocation-lists", params={"format": "eu_dcc", "kid": kid},
                               headers=manager, timeout=10)
        assert gone.status_code == 200 and gone.json() == {"format": "eu_dcc", "removed": 7, "total": 0}
        missing = requests.delete(url + "/v1/admin/revocation-lists", params={"format": "eu_dcc", "kid": kid},
                                  headers=manager, timeout=10)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        assert "foreign_revocations_file" not in requests.get(url + "/v1/trust-list", timeout=10).json()["trust_list"]
        assert requests.get(url + "/v1/admin/revocation-lists", headers=manager, timeout=10).json()["eu_dcc"] == []
    finally:
        server.stop()
    log = run_cli("audit", "show", data_dir=data, check=True).stdout
    assert log.count("revocation_list_remove") == 2


def test_printing_and_withdrawing_in_a_loop_is_refused_before_the_list_overflows(service, monkeypatch):
    """The issue's fourth way: each printed card withdrawn joins ``revoked_jti`` for 7 days.  With
    the limit set just above today's list, the loop is refused (``trust_list_full``) before a
    withdrawal is stored, and the list keeps verifying."""
    person = make_person("440305193606300643", "陈秀英")
    service.issuing.issue("440000", person)
    sub = service.issuing.subject(person)
    monkeypatch.setattr(trustlist, "MAX_TRUST_LIST_CHARS", len(service.trust.trust_list_jws()) + 2400)
    withdrawn = 0
    with pytest.raises(TrustListFull):
        for _ in range(100):
            service.issuing.print_cards([("440000", person, None)])
            service.issuing.revoke_subject(sub, DM)
            withdrawn += 1
    assert 0 < withdrawn < 100
    refused_card = service.store.revoked_jtis(service.now())
    assert len(refused_card) == withdrawn + 1          # the last card was not withdrawn: nothing stored
    service.trust.invalidate()
    trust = trustlist.parse(service.trust.trust_list_jws(), service.trust.national_jwks())
    assert len(trust.revoked_jti) == withdrawn + 1


def test_a_300000_entry_list_imported_with_the_cli_is_enforced_over_http_and_by_the_offline_cli(tmp_path):
    """End to end: the data manager imports the EU list on the command line while the gateway
    serves; HTTP verify refuses the listed certificate, and so does ``healthcode verify`` offline
    with the exported list and file — and without the file it refuses to judge the foreign code."""
    import requests
    from support.cli import run_cli
    from support.live import LiveServer
    data = tmp_path / "gw"
    token = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "dm-300k",
                               data_dir=data, check=True).stdout)["token"]
    server = LiveServer(data)
    try:
        now = int(time.time())
        key, der, anchor = signer(at=now)
        requests.post(server.url + "/v1/admin/anchors", json={"anchors": [anchor["der_b64"]]}, timeout=20,
                      headers={"Authorization": f"Bearer {token}"}).raise_for_status()
        text = issue(key, der, dcc_test(now - 3600), iat=now - 3600, exp=now + 86400)
        assert requests.post(server.url + "/v1/verify", json={"payload": text}, timeout=20).json()["valid"]
        cose = eu_dcc.cose_sign1(eu_dcc.decompress(eu_dcc.base45_decode(text[4:])))
        import hashlib
        listed = base64.b64encode(hashlib.sha256(cose.signature[:32]).digest()[:16]).decode()
        (tmp_path / "eu.json").write_text(json.dumps(big_eu_list(cose.kid, listed)))
        imported = run_cli("revocation-lists", "import", "--format", "eu_dcc", str(tmp_path / "eu.json"),
                           data_dir=data, check=True)
        assert json.loads(imported.stdout)["total"] == ENTRIES
        online = requests.post(server.url + "/v1/verify", json={"payload": text}, timeout=60).json()
        assert online["valid"] is False and online["errors"][0]["code"] == "code_revoked"
        assert len(requests.get(server.url + "/v1/trust-list", timeout=20).json()["jws"]) < 20_000
    finally:
        server.stop()
    tl, keys, rev = tmp_path / "tl.jws", tmp_path / "keys.json", tmp_path / "revocations.json"
    run_cli("trust-list", "--out", str(tl), "--national-keys", str(keys), "--revocations", str(rev),
            data_dir=data, check=True)
    offline = ["verify", text, "--trust-list", str(tl), "--national-keys", str(keys)]
    refused = run_cli(*offline, "--revocations", str(rev), data_dir=tmp_path / "checkpoint")
    assert refused.returncode == 1 and json.loads(refused.stdout)["errors"][0]["code"] == "code_revoked"
    unchecked = run_cli(*offline, data_dir=tmp_path / "checkpoint")
    assert unchecked.returncode == 1 and json.loads(unchecked.stdout)["errors"][0]["code"] == "revocations_missing"
    rev.write_bytes(rev.read_bytes().replace(listed.encode(), base64.b64encode(b"\1" * 16)))   # a doctored file
    doctored = run_cli(*offline, "--revocations", str(rev), data_dir=tmp_path / "checkpoint")
    assert doctored.returncode == 2 and "trust_list_invalid" in doctored.stderr
