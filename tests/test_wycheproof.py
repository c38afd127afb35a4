"""Every Wycheproof vector through the one signature check all our verifiers use.

Keys are loaded from the vectors' JWKs by our JWK loader, so a key we cannot load counts as a
rejection — acceptable for invalid vectors, a failure for valid ones.
"""
from __future__ import annotations

import pytest

from standard import jose
from standard.errors import Malformed
from support.paths import load_vector_json

FILES = {
    "ES256": "ecdsa_secp256r1_sha256_p1363_test.json",
    "EdDSA": "ed25519_test.json",
    "PS256": "rsa_pss_2048_sha256_mgf1_32_test.json",
}


def _cases():
    for alg, name in FILES.items():
        data = load_vector_json("wycheproof", name)
        for group in data["testGroups"]:
            jwk = _group_jwk(group)
            for test in group["tests"]:
                yield pytest.param(alg, jwk, test, id=f"{alg}-{test['tcId']}")


def _group_jwk(group: dict) -> dict:
    """The group's JWK; a few ECDSA groups give only the point, so build the JWK from it."""
    if "publicKeyJwk" in group:
        return {k: v for k, v in group["publicKeyJwk"].items() if k not in ("kid", "alg")}
    point = group["publicKey"]
    coord = lambda h: jose.b64url_encode(int(h, 16).to_bytes(32, "big"))  # noqa: E731
    return {"kty": "EC", "crv": "P-256", "x": coord(point["wx"]), "y": coord(point["wy"])}


def _accepts(alg: str, jwk: dict, test: dict) -> bool:
    try:
        key = jose.public_key_from_jwk(jwk)
    except Malformed:
        return False
    return jose.verify(alg, key, bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"]))


@pytest.mark.parametrize("alg,jwk,test", list(_cases()))
def test_vector(alg, jwk, test):
    accepted = _accepts(alg, jwk, test)
    if test["result"] == "valid":
        assert accepted, test["comment"]
    elif test["result"] == "invalid":
        assert not accepted, test["comment"]


def test_every_file_was_read():
    counts = {alg: sum(1 for p in _cases() if p.values[0] == alg) for alg in FILES}
    assert counts["ES256"] > 200 and counts["EdDSA"] > 100 and counts["PS256"] > 100


@pytest.mark.parametrize("alg", ["ES256", "EdDSA", "PS256"])
def test_wrong_algorithm_for_key_is_refused(alg):
    """A signature is only checked under the algorithm the key was made for."""
    key = jose.generate_private_key(alg)
    sig = jose.sign(alg, key, b"msg")
    assert jose.verify(alg, key.public_key(), b"msg", sig)
    for other in jose.ALGORITHMS:
        if other != alg:
            assert not jose.verify(other, key.public_key(), b"msg", sig)
    assert not jose.verify("HS256", key.public_key(), b"msg", sig)
    assert not jose.verify("none", key.public_key(), b"msg", b"")


def test_low_s_policy_over_the_valid_ecdsa_vectors():
    """The policy our own codes use (``low_s=True``) keeps every valid low-S vector and refuses
    exactly the valid high-S ones; generic verification (foreign certificates) accepts both."""
    kept = refused = 0
    for alg, jwk, test in (p.values for p in _cases()):
        if alg != "ES256" or test["result"] != "valid":
            continue
        key, msg, sig = jose.public_key_from_jwk(jwk), bytes.fromhex(test["msg"]), bytes.fromhex(test["sig"])
        assert jose.verify(alg, key, msg, sig)
        strict = jose.verify(alg, key, msg, sig, low_s=True)
        assert strict is not jose.is_high_s(sig), test["tcId"]
        kept, refused = kept + strict, refused + (not strict)
    assert kept > 50 and refused > 5
