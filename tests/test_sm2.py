"""SM2 with SM3 (standard/sm2.py, docs/standard.md §4.1): the standard's published example, SM3's
test vectors, gmssl (an independent implementation) both ways, and every refusal."""
from __future__ import annotations

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tongsuopy.crypto.asymciphers import ec as sm_ec

import adapters
from adapters.verifier import Verifier
from issuers.keys import KeyStore, Signer
from standard.trustlist import TrustList
from config.settings import load_settings
from standard.errors import ConfigInvalid
from support.paths import ROOT
from tools import formatdoc
from standard import jose, sm2
from standard.errors import AlgorithmNotAllowed, Malformed, SignatureInvalid
from support import sm2 as gm

EXAMPLE_SIGNATURE = gm.EXAMPLE_R.to_bytes(32, "big") + gm.EXAMPLE_S.to_bytes(32, "big")


def example_key():
    return sm_ec.derive_private_key(gm.EXAMPLE_D, sm_ec.SM2())


def numbers(key) -> tuple[int, int]:
    public = key.public_key().public_numbers()
    return public.x, public.y


def signed_token(key, alg: str = sm2.NAME, kid: str = "k1") -> str:
    return jose.encode(b'{"hello":"\xe4\xbd\xa0\xe5\xa5\xbd"}', {"alg": alg, "kid": kid, "typ": "hc+jwt"}, key)


def refusal(token: str, public_key, allowed=(sm2.NAME,)) -> str:
    with pytest.raises((SignatureInvalid, AlgorithmNotAllowed, Malformed)) as caught:
        jose.check_signature(jose.parse(token), public_key, set(allowed))
    return caught.value.code


# --- SM3 (GM/T 0004 appendix A) ---------------------------------------------------------------
@pytest.mark.parametrize("message, expected", [
    (b"abc", "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"),
    (b"abcd" * 16, "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"),
])
def test_sm3_gives_the_standards_example_digests(message, expected):
    assert sm2.sm3(message).hex() == expected


# --- GM/T 0003.5 annex A: the published key, digest and signature ------------------------------
def test_published_key_pair_is_what_tongsuo_derives():
    assert numbers(example_key()) == (gm.EXAMPLE_X, gm.EXAMPLE_Y)


def test_z_and_digest_with_the_default_signer_id_are_the_published_ones():
    """The formula of §4.1 (Z with ID 1234567812345678) gives the standard's e."""
    assert gm.digest(gm.EXAMPLE_X, gm.EXAMPLE_Y, gm.EXAMPLE_MESSAGE) == gm.EXAMPLE_E
    assert sm2.SIGNER_ID == gm.EXAMPLE_ID


def test_published_signature_verifies_and_nothing_near_it_does():
    public = example_key().public_key()
    assert jose.verify(sm2.NAME, public, gm.EXAMPLE_MESSAGE, EXAMPLE_SIGNATURE)
    assert not jose.verify(sm2.NAME, public, b"message digesT", EXAMPLE_SIGNATURE)
    for i in (0, 31, 32, 63):
        bent = bytearray(EXAMPLE_SIGNATURE)
        bent[i] ^= 0x01
        assert not jose.verify(sm2.NAME, public, gm.EXAMPLE_MESSAGE, bytes(bent))


def test_gmssl_reproduces_the_published_signature_from_the_published_nonce():
    """The independent implementation agrees with the standard, so it can judge Tongsuo."""
    assert gm.gmssl_sign(gm.EXAMPLE_D, gm.EXAMPLE_X, gm.EXAMPLE_Y, gm.EXAMPLE_MESSAGE,
                         nonce=gm.EXAMPLE_K) == EXAMPLE_SIGNATURE


# --- cross-checks with gmssl, both ways ----------------------------------------------------------
def test_what_the_project_signs_gmssl_verifies():
    for _ in range(5):
        key = jose.generate_private_key(sm2.NAME)
        parsed = jose.parse(signed_token(key))
        assert len(parsed.signature) == 64
        assert gm.gmssl_verifies(*numbers(key), parsed.signing_input, parsed.signature)
        assert not gm.gmssl_verifies(*numbers(key), parsed.signing_input + b" ", parsed.signature)


def test_what_gmssl_signs_the_project_verifies():
    for _ in range(5):
        key = jose.generate_private_key(sm2.NAME)
        d, (x, y) = key.private_numbers().private_value, numbers(key)
        token = signed_token(key)
        signing_input = token.rsplit(".", 1)[0]
        theirs = gm.gmssl_sign(d, x, y, signing_input.encode("ascii"))
        forged = f"{signing_input}.{jose.b64url_encode(theirs)}"
        jose.check_signature(jose.parse(forged), jose.public_key_from_jwk(jose.public_jwk(key)), {sm2.NAME})


# --- refusals, with the stable codes --------------------------------------------------------------
def test_signature_under_another_signer_id_is_refused():
    key = jose.generate_private_key(sm2.NAME)
    d, (x, y) = key.private_numbers().private_value, numbers(key)
    signing_input = signed_token(key).rsplit(".", 1)[0]
    for other_id in (b"ALICE123@YAHOO.COM", b"", b"1234567812345679"):
        sig = gm.gmssl_sign(d, x, y, signing_input.encode("ascii"), signer_id=other_id)
        assert refusal(f"{signing_input}.{jose.b64url_encode(sig)}", key.public_key()) == "signature_invalid"
    right = gm.gmssl_sign(d, x, y, signing_input.encode("ascii"))
    jose.check_signature(jose.parse(f"{signing_input}.{jose.b64url_encode(right)}"), key.public_key(), {sm2.NAME})


def test_signature_by_another_key_is_refused():
    token = signed_token(jose.generate_private_key(sm2.NAME))
    assert refusal(token, jose.generate_private_key(sm2.NAME).public_key()) == "signature_invalid"


@pytest.mark.parametrize("mangle", ["zero_r", "zero_s", "r_is_n", "s_above_n", "short", "long", "der"])
def test_out_of_range_or_misencoded_signatures_are_refused(mangle):
    key = jose.generate_private_key(sm2.NAME)
    token = signed_token(key)
    signing_input, sig_b64 = token.rsplit(".", 1)
    sig = jose.b64url_decode(sig_b64)
    r, s = int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big")
    n = sm2.ORDER
    bad = {"zero_r": bytes(32) + sig[32:], "zero_s": sig[:32] + bytes(32),
           "r_is_n": n.to_bytes(32, "big") + sig[32:], "s_above_n": sig[:32] + b"\xff" * 32,
           "short": sig[:63], "long": sig + b"\x00", "der": encode_dss_signature(r, s)}[mangle]
    assert refusal(f"{signing_input}.{jose.b64url_encode(bad)}", key.public_key()) == "signature_invalid"


def test_the_algorithm_is_the_keys_never_the_headers():
    sm2_key, p256_key = jose.generate_private_key(sm2.NAME), jose.generate_private_key("ES256")
    # an SM2 code checked against a key registered for ES256, and the other way round
    assert refusal(signed_token(sm2_key), sm2_key.public_key(), allowed=("ES256",)) == "algorithm_not_allowed"
    assert refusal(signed_token(p256_key, "ES256"), p256_key.public_key()) == "algorithm_not_allowed"
    # an SM2SM3 header over a P-256 key registered as SM2SM3 (another curve) verifies nothing
    p256_sig = jose.sign("ES256", p256_key, b"x")
    assert not jose.verify(sm2.NAME, p256_key.public_key(), b"x", p256_sig)
    forged = signed_token(sm2_key)
    assert refusal(forged, p256_key.public_key()) == "signature_invalid"
    # other names for SM2 are not the standard's
    for name in ("SM2", "sm2sm3", "SM3WithSM2"):
        header = jose.b64url_encode(json.dumps({"alg": name, "kid": "k1", "typ": "hc+jwt"}).encode())
        with pytest.raises(AlgorithmNotAllowed):
            jose.parse(f"{header}.e30.{jose.b64url_encode(bytes(64))}")


def test_an_sm2_key_never_signs_under_another_algorithm_nor_another_key_under_sm2():
    sm2_key, p256_key = jose.generate_private_key(sm2.NAME), jose.generate_private_key("ES256")
    with pytest.raises(ValueError):
        jose.encode(b"{}", {"alg": "ES256", "kid": "k"}, sm2_key)
    with pytest.raises(ValueError):
        jose.encode(b"{}", {"alg": sm2.NAME, "kid": "k"}, p256_key)
    assert jose.alg_for_key(sm2_key) == sm2.NAME and not jose.key_fits("ES256", sm2_key)


# --- JWK and PEM ------------------------------------------------------------------------------------
def test_public_jwk_shape_and_round_trip():
    key = example_key()
    jwk = jose.public_jwk(key)
    assert jwk == {"crv": "SM2", "kty": "EC", "x": jose.b64url_encode(gm.EXAMPLE_X.to_bytes(32, "big")),
                   "y": jose.b64url_encode(gm.EXAMPLE_Y.to_bytes(32, "big"))}
    imported = jose.public_key_from_jwk(jwk)
    assert jose.key_fits(sm2.NAME, imported) and jose.public_jwk(imported) == jwk
    assert jose.verify(sm2.NAME, imported, gm.EXAMPLE_MESSAGE, EXAMPLE_SIGNATURE)
    assert len(jose.short_kid(jwk)) == 16


@pytest.mark.parametrize("change", ["off_curve", "long_x", "short_y", "private", "p256_point", "padded"])
def test_bad_sm2_jwks_are_malformed(change):
    jwk = jose.public_jwk(example_key())
    p256 = jose.public_jwk(jose.generate_private_key("ES256"))
    y = jose.b64url_decode(jwk["y"])
    bad = {"off_curve": {**jwk, "y": jose.b64url_encode(y[:-1] + bytes([y[-1] ^ 1]))},
           "long_x": {**jwk, "x": jose.b64url_encode(b"\x00" + jose.b64url_decode(jwk["x"]))},
           "short_y": {**jwk, "y": jose.b64url_encode(y[1:])},
           "private": {**jwk, "d": jose.b64url_encode(gm.EXAMPLE_D.to_bytes(32, "big"))},
           "p256_point": {**jwk, "x": p256["x"], "y": p256["y"]},
           "padded": {**jwk, "x": jwk["x"] + "="}}[change]
    with pytest.raises(Malformed):
        jose.public_key_from_jwk(bad)


def test_pem_key_files_round_trip_through_the_key_store(tmp_path):
    store = KeyStore(tmp_path)
    signer = store.rotate("330000", sm2.NAME)
    pem = (tmp_path / "keys" / "330000" / f"{signer.kid}.pem").read_bytes()
    assert pem.startswith(b"-----BEGIN PRIVATE KEY-----")
    again = KeyStore(tmp_path).signer("330000")
    assert (again.kid, again.alg) == (signer.kid, sm2.NAME)
    assert again.public_jwk() == signer.public_jwk()
    jwk = KeyStore(tmp_path).public_jwks("330000")[0]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["kid"]) == ("EC", "SM2", sm2.NAME, signer.kid)
    token = signed_token(again.private_key, kid=again.kid)
    jose.check_signature(jose.parse(token), jose.public_key_from_jwk(jwk), {sm2.NAME})


def test_a_region_that_moves_to_sm2_signs_with_a_new_sm2_key_at_once(tmp_path):
    """A data directory from before the region registered SM2SM3: its ES256 key is retired by the
    first signature asked under SM2SM3, in this process and in one that had it cached."""
    elsewhere = KeyStore(tmp_path)
    old = elsewhere.signer("330000", "ES256")
    new = KeyStore(tmp_path).signer("330000", sm2.NAME)
    assert new.alg == sm2.NAME and new.kid != old.kid and jose.key_fits(sm2.NAME, new.private_key)
    statuses = {r.kid: (r.alg, r.status) for r in KeyStore(tmp_path).records("330000")}
    assert statuses == {old.kid: ("ES256", "retired"), new.kid: (sm2.NAME, "active")}
    assert elsewhere.signer("330000", sm2.NAME).kid == new.kid          # its cache is stale: re-read
    assert KeyStore(tmp_path).signer("330000").kid == new.kid           # no algorithm asked: the active key


def test_codes_of_the_algorithm_a_region_left_are_refused_and_its_new_ones_verify():
    """The trust list says Zhejiang registers SM2SM3; a code under its retired ES256 key is
    refused with algorithm_not_allowed, one under its SM2 key verifies."""
    old, new = jose.generate_private_key("ES256"), jose.generate_private_key(sm2.NAME)
    keys = [{**jose.public_jwk(k), "kid": kid, "alg": alg, **extra} for k, kid, alg, extra in
            ((old, "old", "ES256", {"status": "retired", "retired_at": formatdoc.EXAMPLE_IAT + 100}),
             (new, "new", sm2.NAME, {"status": "active"}))]
    trust = TrustList({"issuers": [{"region": "330000", "format": "zheli", "algorithms": [sm2.NAME], "keys": keys}]})
    fmt = adapters.get("zheli")
    claims = formatdoc.example_claims("330000")
    now = formatdoc.EXAMPLE_IAT + 10
    before = fmt.encode(claims, Signer("330000", "old", "ES256", old))
    after = fmt.encode(claims, Signer("330000", "new", sm2.NAME, new))
    refused = Verifier(["zheli"]).verify(before, trust, now=now)
    assert not refused.valid and [e["code"] for e in refused.errors] == ["algorithm_not_allowed"]
    assert Verifier(["zheli"]).verify(after, trust, now=now).valid


def test_a_p256_pem_is_not_read_as_sm2_nor_garbage_as_a_key():
    p256 = jose.private_key_to_pem(jose.generate_private_key("ES256"))
    assert jose.key_fits("ES256", jose.private_key_from_pem(p256))
    with pytest.raises(ValueError):
        sm2.private_key_from_pem(p256)
    with pytest.raises(ValueError):
        jose.private_key_from_pem(b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")


def test_the_demo_config_has_an_sm2_region_and_other_spellings_do_not_start(tmp_path):
    zhejiang = load_settings(data_dir=tmp_path).region("330000")
    assert zhejiang.algorithms == (sm2.NAME,)
    base = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    registered = 'algorithms = ["SM2SM3"]'
    assert base.count(registered) == 1
    for bad in ('algorithms = ["SM2"]', 'algorithms = ["SM3WithSM2"]', 'algorithms = ["sm2sm3"]'):
        config = tmp_path / "regions.toml"
        config.write_text(base.replace(registered, bad), encoding="utf-8")
        with pytest.raises(ConfigInvalid) as refused:
            load_settings(config, tmp_path)
        assert "SM2SM3" in refused.value.message and refused.value.code == "config_invalid"
