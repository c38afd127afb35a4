"""The national trust list: signed, fresh, and enough for an offline verifier."""
from __future__ import annotations

import json

import pytest

from standard import jose
from standard import trustlist
from standard.errors import TrustListInvalid
from issuers import make_person
from issuers.keys import KeyStore
from adapters.verifier import Verifier


def test_lists_every_region_with_its_algorithms(service):
    trust = service.trust.trust_list()
    assert set(trust.regions) == set(service.settings.region_codes())
    assert trust.algorithms("510000") == ("EdDSA",)
    for key in trust.keys.values():
        assert jose.key_fits(key.alg, key.public_key)


def test_offline_verifier_needs_only_the_cached_document(service, clock):
    code = service.issuing.issue("510000", make_person("510107199501013071", "张伟"), kind="offline").qr_text
    cached = service.trust.trust_list_jws()
    pinned = json.loads(json.dumps(service.trust.national_jwks()))
    offline = Verifier(service.settings.formats())
    trust = trustlist.parse(cached, pinned, service.now())
    verdict = offline.verify(code, trust, service.now() + 6 * 86400)      # 6 days later, no gateway
    assert verdict.valid and verdict.kind == "offline"


def test_tampered_trust_list_is_refused(service):
    token = service.trust.trust_list_jws()
    head, body, sig = token.split(".")
    payload = json.loads(jose.b64url_decode(body))
    payload["issuers"][0]["algorithms"] = ["ES256", "EdDSA"]
    forged = ".".join([head, jose.b64url_encode(json.dumps(payload).encode()), sig])
    with pytest.raises(TrustListInvalid):
        trustlist.parse(forged, service.trust.national_jwks(), service.now())


def test_trust_list_signed_by_other_national_key_is_refused(service, tmp_path):
    rogue = KeyStore(tmp_path / "rogue").signer("national")
    token = trustlist.sign(service.trust.trust_list().payload, rogue)
    with pytest.raises(TrustListInvalid):
        trustlist.parse(token, service.trust.national_jwks(), service.now())


def test_expired_trust_list_is_refused(service):
    token = service.trust.trust_list_jws()
    with pytest.raises(TrustListInvalid, match="expired"):
        trustlist.parse(token, service.trust.national_jwks(), service.now() + trustlist.DEFAULT_TTL + 1)


def test_key_rotation_appears_with_status(service):
    old_kid = service.issuing.issuer("440000").signer.kid
    new_kid = service.trust.rotate_key("440000")
    keys = service.trust.trust_list().keys
    assert keys[old_kid].status == "retired" and keys[new_kid].status == "active"
    service.keystore.revoke("440000", old_kid)
    service.trust.invalidate()
    assert service.trust.trust_list().keys[old_kid].status == "revoked"


def test_keys_are_outside_git_and_private(service):
    service.trust.trust_list()
    pem = next((service.settings.data_dir / "keys" / "440000").glob("*.pem"))
    assert pem.stat().st_mode & 0o077 == 0
