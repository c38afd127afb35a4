"""The regional verify path's quick readings against the step-by-step ones they stand in for:
each must give the same answer, or the same refusal with the same message, on every input —
including the irregular ones the quick reading hands back to the careful one."""
from __future__ import annotations

import random
from datetime import datetime, timezone

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

import adapters
import standard
from adapters.base import JwsClaimFormat
from adapters.contract import REGISTERED
from adapters.verifier import Verdict
from standard import b64url, jose
from standard.errors import HealthCodeError, UnknownFormat

TABLE_FORMATS = ("national", "yuekang", "suishen", "jiankangbao", "macau", "tianfu", "zheli", "suikang",
                 "shenainin")


def outcome(fn, *args):
    """What ``fn(*args)`` gives: ("ok", value) or (error class, message)."""
    try:
        return "ok", fn(*args)
    except HealthCodeError as exc:
        return type(exc), exc.message


# --- base64url -----------------------------------------------------------------------------------
B64_CHARS = "ABCxyz019-_" + "+/=*. \n\té"


def test_b64url_decode_answers_as_the_checked_decoder_on_random_text():
    rng = random.Random(22)
    texts = ["", "A", "AA", "AB", "AAA", "AAB", "AAAA", "_-_-", "AA==", "AB=", "ab+c", "ab/c"]
    texts += ["".join(rng.choice(B64_CHARS) for _ in range(rng.randrange(0, 13))) for _ in range(40_000)]
    # well-formed text, and well-formed text with its last character changed (canonical tails)
    for _ in range(5_000):
        text = jose.b64url_encode(rng.randbytes(rng.randrange(0, 10)))
        texts += [text, text[:-1] + rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef-_") if text else text]
    accepted = 0
    for text in texts:
        quick, checked = outcome(jose.b64url_decode, text), outcome(b64url._b64url_decode_checked, text)
        assert quick == checked, text
        accepted += quick[0] == "ok"
    assert 5_000 < accepted < len(texts) - 5_000          # both kinds really were tried
    for value in (None, b"AAAA", 12, bytearray(b"AA")):
        assert outcome(jose.b64url_decode, value) == outcome(b64url._b64url_decode_checked, value)


def test_split_is_parse_as_a_tuple():
    key = ec.generate_private_key(ec.SECP256R1())
    token = jose.encode(b'{"a":1}', {"alg": "ES256", "kid": "k1", "typ": "JWT"}, key)
    parsed = jose.parse(token)
    assert jose.split(token) == (parsed.header, parsed.payload, parsed.signing_input, parsed.signature)
    assert parsed.signing_input == token.rsplit(".", 1)[0].encode()
    for bad in (token + ".x", token.replace(".", "", 1), "é" + token, token[:-1] + "=", "x" * 12_001, 42):
        refused = outcome(jose.split, bad)
        assert refused[0] != "ok" and refused == outcome(jose.parse, bad), bad


# --- signature checks ------------------------------------------------------------------------------
def test_key_check_refuses_as_check_signature():
    es_key, ed_key = ec.generate_private_key(ec.SECP256R1()), ed25519.Ed25519PrivateKey.generate()
    other_curve = ec.generate_private_key(ec.SECP384R1())
    message = b"head.body"
    es_sig, ed_sig = jose.sign("ES256", es_key, message), jose.sign("EdDSA", ed_key, message)
    high_s = es_sig[:32] + (jose.P256_ORDER - int.from_bytes(es_sig[32:], "big")).to_bytes(32, "big")
    signatures = {"es": es_sig, "ed": ed_sig, "high_s": high_s, "short": es_sig[:63], "zero": bytes(64),
                  "flipped": es_sig[:-1] + bytes([es_sig[-1] ^ 1]), "empty": b""}
    checked = 0
    for public in (es_key.public_key(), ed_key.public_key(), other_curve.public_key()):
        for allowed in (set(), {"ES256"}, {"EdDSA"}, {"ES256", "EdDSA"}, {"SM2SM3"}):
            check = jose.KeyCheck(public, allowed, low_s=True)
            for alg in ("ES256", "EdDSA", "SM2SM3"):
                for signature in signatures.values():
                    parsed = jose.ParsedJws({"alg": alg}, b"", message, signature)
                    assert outcome(check, alg, message, signature) == \
                        outcome(lambda: jose.check_signature(parsed, public, allowed, low_s=True)), (alg, allowed)
                    checked += 1
    assert checked == 3 * 5 * 3 * len(signatures)
    assert jose.KeyCheck(es_key.public_key(), {"ES256"})("ES256", message, es_sig) is None


# --- claims: native → national -------------------------------------------------------------------
NATIONAL = {"ver": "1.0", "region": "440000", "sub": "s" * 16, "jti": "j" * 16, "iat": 1_800_000_000,
            "exp": 1_800_000_300, "kind": "dynamic", "status": "yellow", "reasons": ["close_contact", "symptoms"],
            "name_masked": "张*丰", "id_masked": "4401**********0012", "id_type": "resident",
            "prov": {"format": "suishen", "jti": "x"}, "dep": {"holder_name_masked": "张*", "relation": "child"}}
ODD_VALUES = (None, True, False, -1, 0, 1.5, 10 ** 20, "", "x", "2027-01-01T00:00:00", "2027-01-01T00:00:00+08:00",
              "9" * 50, [], ["x"], [1, 2], {}, {"a": 1}, [[1]], 2, "G", "lvma", "dt", "未见异常", "1")


def natives(fmt: JwsClaimFormat, rng: random.Random):
    """A code's native claims, then ~600 irregular variants of them."""
    base = fmt.to_native(NATIONAL)
    yield base
    yield {k: v for k, v in base.items() if k not in (fmt.fields["prov"], fmt.fields["dep"])}
    names = list(base)
    for name in names:
        yield {k: v for k, v in base.items() if k != name}                  # each claim missing
        for value in ODD_VALUES:
            yield {**base, name: value}                                       # each claim odd
    yield {**base, "extra": 1}
    yield {**{k: v for k, v in base.items() if k != names[0]}, "extra": 1}  # missing and unknown
    for _ in range(200):
        mutated = dict(base)
        for name in rng.sample(names, rng.randrange(1, 4)):
            mutated[name] = rng.choice(ODD_VALUES)
        if rng.random() < 0.2:
            mutated.pop(rng.choice(names), None)
        yield mutated


@pytest.mark.parametrize("name", TABLE_FORMATS)
def test_quick_claim_reading_answers_as_from_native(name):
    fmt = adapters.get(name)
    assert isinstance(fmt, JwsClaimFormat) and fmt._plan is not None
    rng = random.Random(name)
    read = 0
    for native in natives(fmt, rng):
        quick, careful = outcome(fmt._national, native), outcome(fmt.from_native, native)
        assert quick == careful, native
        if quick[0] == "ok":
            assert list(quick[1]) == list(careful[1])                        # same claim order
            read += 1
    assert read >= 2 and fmt._national(fmt.to_native(NATIONAL)) == NATIONAL


def test_a_table_the_quick_reading_cannot_serve_goes_to_from_native():
    shared_name = JwsClaimFormat(name="twice", prefix="TW:", fields={**{c: c for c in NATIONAL}, "sub": "jti"})
    assert shared_name._plan is None
    assert outcome(shared_name._national, {"jti": 1}) == outcome(shared_name.from_native, {"jti": 1})


# --- detection -------------------------------------------------------------------------------------
def test_detector_answers_as_asking_every_adapter_in_order():
    names = [*TABLE_FORMATS, "eu_dcc", "shc"]
    texts = ["YKM1:abc", "SSM:x", "CNHC1:a.b.c", "HC1:NCF", "shc:/5676", "https://h/x", "no colon", ":",
             "YKM1", "ykm1:abc", "SKM1:SSM:x", " YKM1:x", "ZJHC1:", "BJJKB:x", "TFJKT:..", "MOHC1:x", "SZIN1:x",
             "eyJhbGciOiJFUzI1NiJ9.e30.c2ln", '{"verifiableCredential": []}', "HC1:", "CNHC1:"]
    rng = random.Random(7)
    for _ in range(30):
        order = rng.sample(names, rng.randrange(1, len(names) + 1))
        loaded = [adapters.get(n) for n in order]
        detector = adapters.Detector(loaded)
        for text in texts:
            quick = outcome(detector, text)
            slow = outcome(adapters.detect, text, loaded)
            assert quick == slow, (order, text)
    assert outcome(adapters.Detector([]), "YKM1:x")[0] is UnknownFormat


def test_every_registered_table_format_is_found_by_its_prefix():
    for name in TABLE_FORMATS:
        fmt = adapters.get(name)
        assert fmt.prefix in adapters.Detector([fmt])._by_prefix, name
    assert all(REGISTERED[n].adapter is adapters.get(n) for n in TABLE_FORMATS)


# --- the verdict -------------------------------------------------------------------------------------
def test_rfc3339_is_datetimes_answer():
    rng = random.Random(3339)
    for ts in [0, 1, 59, 60, 3599, 86399, 86400, 951_782_400, 253_402_300_799,
               *(rng.randrange(0, 253_402_300_800) for _ in range(50_000))]:
        assert standard.rfc3339(ts) == datetime.fromtimestamp(ts, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert standard.rfc3339(1_800_000_000.9) == standard.rfc3339(1_800_000_000)


def test_verdict_dict_keeps_field_order_and_leaves_out_claims():
    verdict = Verdict(True, "green", "440100", {"region": "440100"}, "suikang", {"name_masked": "x"}, "e", "i",
                      "offline", [], "j", [], {"secret": 1}, {"d": 1})
    assert list(verdict.as_dict()) == ["valid", "status", "region", "issuer", "format", "holder", "expires_at",
                                       "issued_at", "kind", "reasons", "code_id", "errors", "details"]
    plain = Verdict(valid=False, format="yuekang", errors=[{"code": "malformed"}])
    assert list(plain.as_dict()) == ["valid", "status", "region", "format", "holder", "expires_at", "issued_at",
                                     "kind", "reasons", "code_id", "errors"]
    with pytest.raises(AttributeError):
        plain.extra = 1                                                     # type: ignore[attr-defined]
