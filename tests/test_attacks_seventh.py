"""The seventh round: attacks on what round 6 added (the SMART payload read by its members, Base45
in lanes, the DCC's CBOR -> JSON walk, batch items without a schema check, the shared count table)
and on the signed text under them — each run as it was found, refused since.

* an EU DCC whose CBOR shares one value many times (RFC 8746's value sharing, tags 28 and 29: a
  list of references to one list of references ...): cbor2 decodes the references as one
  object, and the CBOR -> JSON walk copied it at every reference — 8 references on each of 7
  levels, 210 bytes of CWT, were 2 million values (0.2 s), 12 were 35 million (3 s, ~500 MB), 40
  a hundred billion: one scan of one code held a worker until its memory ran out.  Signed by a
  Document Signer the data manager trusts (some of which leaked in 2021), the code is then
  anyone's to replay.  The CWT payload is now decoded with shared references refused;
* a SMART Health Card whose signed payload holds a lone surrogate escape (``"\\ud800"``, valid
  JSON, not Unicode) in a member the verdict reads — the family or given name, the birth date,
  ``iss``: both reads took it (msgspec refuses it, the full parse's ``json`` takes it) and the
  pseudonym's hash crashed, answered ``malformed`` with a decoder crash logged at every scan;
* a regional code whose signed claims hold a lone surrogate escape in ``name_masked`` or
  ``id_masked`` (a thief of a region's key): valid in-process, then a 500 over HTTP when the
  verdict was written — for ``/v1/verify`` and for a whole ``/v1/verify/batch`` of 500 items.
"""
from __future__ import annotations

import json
import secrets
import time

import cbor2
import pytest
import requests

from adapters import eu_dcc, shc
from adapters.verifier import Verifier
from standard import jose
from standard.trustlist import TrustList
from residents import GD_RESIDENT
from support.cli import add_credential
from support.dcc import DAY, NOW as DCC_NOW, dcc_vaccination, signer
from support.live import LiveServer, call, config_with_limits
from support.shc import NOW as SHC_NOW, card_payload, immunization


# --- EU DCC: CBOR shared values ---------------------------------------------------------------------
def shared_tree(fanout: int, levels: int) -> list:
    """``levels`` lists, each of ``fanout`` references to the one list below it (and a text at
    the bottom): with value sharing, ``fanout × levels`` references in the CBOR."""
    node: list = ["x"]
    for _ in range(levels):
        node = [node] * fanout
    return node


def signed_dcc(key, der, dcc: dict, iat: int, exp: int) -> str:
    """The ``HC1:`` text of ``dcc`` signed by the signer, its CBOR written with value sharing
    (a value that occurs more than once is written once, then referenced)."""
    cwt = cbor2.dumps({1: "DE", 6: iat, 4: exp, -260: {1: dcc}}, value_sharing=True)
    return eu_dcc.qr_text(eu_dcc.encode_cose(cwt, key, eu_dcc.kid_of(der)))


def shared_dccs(key, der, iat: int, exp: int) -> dict[str, str]:
    genuine = dcc_vaccination(2, 2, "2021-06-01")
    entry = genuine["v"][0]
    return {"one entry twice": signed_dcc(key, der, {**genuine, "v": [entry, entry]}, iat, exp),
            "a name twice": signed_dcc(key, der, {**genuine, "nam": genuine["nam"], "x": genuine["nam"]}, iat, exp),
            "8 references on 7 levels": signed_dcc(key, der, {**genuine, "v": shared_tree(8, 6)}, iat, exp)}


def test_a_dcc_whose_cbor_shares_values_is_refused_before_the_walk():
    key, der, anchor = signer()
    trust = TrustList({}, (anchor,))
    now = DCC_NOW
    codes = shared_dccs(key, der, now - DAY, now + 30 * DAY)
    assert len(codes["8 references on 7 levels"]) < 600             # a few hundred characters of QR
    for name, code in codes.items():
        verdict = Verifier(["eu_dcc"]).verify(code, trust, now).as_dict()
        assert [e["code"] for e in verdict["errors"]] == ["cwt_invalid"], (name, verdict)
        assert "shared" in verdict["errors"][0]["message"], verdict
    # the same certificate written without sharing verifies as ever
    plain = eu_dcc.qr_text(eu_dcc.encode_cose(cbor2.dumps(
        {1: "DE", 6: now - DAY, 4: now + 30 * DAY, -260: {1: dcc_vaccination(2, 2, "2021-06-01")}}),
        key, eu_dcc.kid_of(der)))
    assert Verifier(["eu_dcc"]).verify(plain, trust, now).valid


@pytest.mark.parametrize("dose", [2**64, 2**20000, -2**64 - 1], ids=["2**64", "2**20000", "-2**64-1"])
def test_a_dcc_integer_past_64_bits_is_refused_never_a_decoder_crash(dose, no_decoder_crash):
    """Schema 1.3 takes any positive dose number: 2**20000 (a CBOR bignum, 2.5 KB) passed it and
    crashed writing the verdict's ``dose`` (an integer of more than 4 300 digits has no text)."""
    key, der, anchor = signer()
    dcc = dcc_vaccination(2, 2, "2021-06-01")
    dcc["v"][0].update(dn=dose if dose > 0 else 1, sd=abs(dose))
    if dose < 0:
        dcc["v"][0]["x"] = dose
    code = signed_dcc(key, der, dcc, DCC_NOW - DAY, DCC_NOW + 30 * DAY)
    verdict = Verifier(["eu_dcc"]).verify(code, TrustList({}, (anchor,)), DCC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["cwt_invalid"], verdict
    assert "bignum" in verdict["errors"][0]["message"], verdict
    top = dcc_vaccination(2, 2, "2021-06-01")                        # the largest plain integer is read
    top["v"][0].update(dn=2**64 - 1, sd=2**64 - 1)
    verdict = Verifier(["eu_dcc"]).verify(signed_dcc(key, der, top, DCC_NOW - DAY, DCC_NOW + 30 * DAY),
                                          TrustList({}, (anchor,)), DCC_NOW)
    assert verdict.valid and verdict.details["dose"] == f"{2**64 - 1}/{2**64 - 1}"


# --- EU DCC: CBOR tags whose meaning costs more than their bytes, before the signature --------------
def unsigned_dcc_with(unprotected_value: bytes) -> str:
    """An ``HC1:`` text whose COSE_Sign1's unprotected header holds ``{99: value}`` (raw CBOR), under
    a kid nobody trusts: everything in it is read before any signature is checked."""
    protected = cbor2.dumps({1: -7, 4: b"12345678"})
    cose = (b"\xd2\x84" + cbor2.dumps(protected) + b"\xa1\x18\x63" + unprotected_value + cbor2.dumps(b"{}")
            + cbor2.dumps(bytes(64)))
    return eu_dcc.qr_text(cose)


def costly_tags() -> dict[str, bytes]:
    def bignum(size: int) -> bytes:
        return b"\xc2" + cbor2.dumps(b"\xff" * size)
    return {"regular expression of 5 000 character ranges": b"\xd8\x23" + cbor2.dumps("[\u0100-\uffffa-z]" * 5000),
            "decimal fraction of a 60 KB bignum": b"\xc4\x82\x01" + bignum(60000),
            "bigfloat of a 60 KB bignum": b"\xc5\x82\x01" + bignum(60000),
            "rational of two 30 KB bignums": b"\xd8\x1e\x82" + bignum(30000) + bignum(29999),
            "MIME message of 8 000 parts": b"\xd8\x24" + cbor2.dumps("Content-Type: multipart/mixed; boundary=b\n\n"
                                                                     + "--b\n\nx\n" * 8000)}


def test_an_unsigned_dcc_cannot_make_the_decoder_compile_or_compute_anything():
    """300 characters of QR held the CPU 9 s (the regular expression compiled) before the kid
    was even looked up.  These tags are now kept as tags: the text is refused for its unknown
    signer, as any other.  A regular expression that does not compile shows it: it used to make
    the whole COSE structure unreadable."""
    for name, value in {**costly_tags(), "a regular expression that does not compile": b"\xd8\x23" + cbor2.dumps("(")}.items():
        code = unsigned_dcc_with(value)
        assert len(code) < 400, (name, len(code))
        verdict = Verifier(["eu_dcc"]).verify(code, TrustList({}, ()), DCC_NOW).as_dict()
        assert [e["code"] for e in verdict["errors"]] == ["key_unknown"], (name, verdict)


def test_a_signed_dcc_holding_such_a_tag_is_refused():
    key, der, anchor = signer()
    genuine = cbor2.dumps(dcc_vaccination(2, 2, "2021-06-01"))
    for name, value in costly_tags().items():
        # the DCC map with one more member, "x": the tagged value
        dcc = bytes([genuine[0] + 1]) + genuine[1:] + cbor2.dumps("x") + value
        cwt = b"\xa4" + cbor2.dumps({1: "DE", 6: DCC_NOW - DAY, 4: DCC_NOW + 30 * DAY})[1:] + cbor2.dumps(-260) + b"\xa1\x01" + dcc
        code = eu_dcc.qr_text(eu_dcc.encode_cose(cwt, key, eu_dcc.kid_of(der)))
        verdict = Verifier(["eu_dcc"]).verify(code, TrustList({}, (anchor,)), DCC_NOW).as_dict()
        assert [e["code"] for e in verdict["errors"]] == ["cwt_invalid"], (name, verdict)
        assert verdict["errors"][0]["message"].startswith("EU DCC CWT payload holds"), (name, verdict)


def test_a_dcc_with_a_map_key_twice_has_one_reading_none():
    """A CWT claiming ``-260`` twice (one certificate for us, which read the last, another for a
    verifier reading the first) or naming its holder twice, or a protected header with two ``alg``: RFC 8949 calls such maps invalid, and
    they are refused (``cwt_invalid``, ``cose_invalid``) rather than read one way of two."""
    key, der, anchor = signer()
    trust = TrustList({}, (anchor,))
    first, second = cbor2.dumps(dcc_vaccination(1, 2, "2021-05-01")), cbor2.dumps(dcc_vaccination(2, 2, "2021-06-01"))
    times = cbor2.dumps({1: "DE", 6: DCC_NOW - DAY, 4: DCC_NOW + 30 * DAY})[1:]
    twice = b"\xa5" + times + cbor2.dumps(-260) + b"\xa1\x01" + first + cbor2.dumps(-260) + b"\xa1\x01" + second
    verdict = Verifier(["eu_dcc"]).verify(eu_dcc.qr_text(eu_dcc.encode_cose(twice, key, eu_dcc.kid_of(der))),
                                          trust, DCC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["cwt_invalid"], verdict
    named_twice = b"\xa4" + times + cbor2.dumps(-260) + b"\xa1\x01" + bytes([second[0] + 1]) + second[1:] \
        + cbor2.dumps("nam") + cbor2.dumps({"fnt": "OTHER"})
    verdict = Verifier(["eu_dcc"]).verify(eu_dcc.qr_text(eu_dcc.encode_cose(named_twice, key, eu_dcc.kid_of(der))),
                                          trust, DCC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["cwt_invalid"], verdict
    protected = b"\xa3\x01\x26\x04" + cbor2.dumps(eu_dcc.kid_of(der)) + b"\x01\x38\x24"    # alg -7, kid, alg -37
    cose = b"\xd2\x84" + cbor2.dumps(protected) + b"\xa0" + cbor2.dumps(cbor2.dumps({1: "DE"})) + cbor2.dumps(bytes(64))
    verdict = Verifier(["eu_dcc"]).verify(eu_dcc.qr_text(cose), trust, DCC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["cose_invalid"], verdict


# --- a live gateway: two workers, a trusted DSC and SMART issuer ------------------------------------
@pytest.fixture(scope="module")
def gateway(tmp_path_factory):
    """``healthcode serve --workers 2`` with a data manager who trusts a Document Signer and a
    SMART issuer key made here."""
    data = tmp_path_factory.mktemp("seventh")
    env = {"HEALTHCODE_CONFIG": str(config_with_limits(data, anonymous_verifications_per_minute=100_000))}
    server = LiveServer(data, env, args=("--workers", "2"))
    try:                                        # stopped even when the set-up below fails
        server.cred = {"dm": add_credential("data_manager", "dm-7", data_dir=data, env=env)}
        server.dsc = signer(at=int(time.time()))
        issuer_key = jose.generate_private_key("ES256")
        jwk = jose.public_jwk(issuer_key)
        server.shc = (issuer_key, {**jwk, "kid": jose.thumbprint(jwk), "alg": "ES256", "use": "sig"})
        added = call(server, "POST", "/v1/admin/anchors", "dm",
                     json={"anchors": [server.dsc[2]["der_b64"], server.shc[1]]})
        assert added.status_code == 201, added.text
        yield server
    finally:
        server.stop()


def test_a_stranger_replaying_a_shared_value_dcc_gets_an_answer_and_holds_no_worker(gateway):
    now = int(time.time())
    key, der, _ = gateway.dsc
    codes = shared_dccs(key, der, now - 3600, now + 30 * DAY)
    for code in codes.values():
        r = requests.post(gateway.url + "/v1/verify", json={"payload": code}, timeout=30)
        assert r.status_code == 200 and r.json()["errors"][0]["code"] == "cwt_invalid", r.text
    # a batch large enough for the pool processes answers every item the same way
    items = [{"id": i, "payload": code} for i, code in enumerate(list(codes.values()) * 24)]
    r = requests.post(gateway.url + "/v1/verify/batch", json={"items": items}, timeout=60)
    assert r.status_code == 200, r.text
    assert [x["errors"][0]["code"] for x in r.json()["results"]] == ["cwt_invalid"] * len(items)
    assert [x["id"] for x in r.json()["results"]] == list(range(len(items)))


# --- SMART Health Card: a lone surrogate escape in the signed payload ---------------------------------
def card_with(issuer, replace: tuple[str, str], nbf: int = SHC_NOW - 100 * DAY) -> str:
    """A card signed by ``issuer`` whose payload JSON text has ``replace[0]`` replaced by
    ``replace[1]`` (an escape the JSON writer would not make)."""
    key, jwk = issuer
    payload = card_payload([immunization(nbf + DAY), immunization(nbf + 30 * DAY)], nbf=nbf)
    text = json.dumps(payload, separators=(",", ":"))
    assert replace[0] in text
    return jose.encode(shc.card.deflate(text.replace(replace[0], replace[1], 1).encode()),
                       {"zip": "DEF", "alg": "ES256", "kid": jwk["kid"]}, key)


LONE_SURROGATES = {
    "family name": ('"Anyperson"', '"Any\\ud800"'),
    "given name": ('"John"', '"\\udc00"'),
    "birth date": ('"1951-01-20"', '"1951\\ud800"'),
    "issuer": ('"https://issuer.example"', '"https://issuer.example\\udfff"'),
    "a member no verdict reads": ('"collection"', '"\\ud800"'),
    "a reversed pair": ('"Anyperson"', '"\\ude00\\ud83d"'),
}


@pytest.fixture(scope="module")
def shc_issuer():
    key = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(key)
    return key, {**jwk, "kid": jose.thumbprint(jwk), "alg": "ES256", "use": "sig"}


@pytest.mark.parametrize("where", LONE_SURROGATES)
def test_a_card_holding_a_lone_surrogate_is_malformed_never_a_decoder_crash(shc_issuer, where, no_decoder_crash):
    trust = TrustList({}, ({"type": "jwk", "jwk": shc_issuer[1]},))
    verdict = Verifier(["shc"]).verify(card_with(shc_issuer, LONE_SURROGATES[where]), trust, SHC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["malformed"], verdict
    assert "lone surrogate" in verdict["errors"][0]["message"], verdict


def test_a_card_whose_name_has_an_escaped_surrogate_pair_still_verifies(shc_issuer, no_decoder_crash):
    trust = TrustList({}, ({"type": "jwk", "jwk": shc_issuer[1]},))
    for escaped, shown in (('"Any\\ud83d\\ude00"', "Any\U0001F600"), ('"Any\\u00e9"', "Any\u00e9"),
                           ('"Any\\\\ud800"', "Any\\ud800")):         # the last: a backslash, then text
        verdict = Verifier(["shc"]).verify(card_with(shc_issuer, ('"Anyperson"', escaped)), trust, SHC_NOW)
        assert verdict.valid, verdict.as_dict()
        assert verdict.as_dict()["details"]["holder"]["name_transliterated"].startswith(shown)


def test_over_http_such_a_card_is_a_verdict_for_one_scan_and_in_a_batch(gateway):
    now = int(time.time())
    codes = [card_with(gateway.shc, replace, nbf=now - 100 * DAY) for replace in LONE_SURROGATES.values()]
    for code in codes:
        r = requests.post(gateway.url + "/v1/verify", json={"payload": code}, timeout=30)
        assert r.status_code == 200 and r.json()["errors"][0]["code"] == "malformed", r.text
    items = [{"payload": code} for code in codes * 11]
    r = requests.post(gateway.url + "/v1/verify/batch", json={"items": items}, timeout=60)
    assert r.status_code == 200, r.text
    assert [x["errors"][0]["code"] for x in r.json()["results"]] == ["malformed"] * len(items)
    log = gateway.log_path.read_text(errors="replace")
    assert "decoder crashed" not in log, log[-2000:]


@pytest.mark.parametrize("member, value", [("nbf", "1" + "0" * 4000), ("exp", "1" + "0" * 400),
                                           ("nbf", "-" + "9" * 309), ("exp", "1" + "0" * 308 + ".5")],
                         ids=["nbf 4001 digits", "exp 401 digits", "nbf -10**309", "exp float past its range"])
def test_a_card_dated_by_an_integer_no_float_holds_is_malformed_never_a_decoder_crash(shc_issuer, member, value,
                                                                                      no_decoder_crash):
    """``nbf`` of 4 001 digits (JSON has no limit; msgspec and Python's json both read it): the
    range check asked whether it was a finite float first, and converting it raised
    OverflowError — a decoder crash at every scan."""
    trust = TrustList({}, ({"type": "jwk", "jwk": shc_issuer[1]},))
    key, jwk = shc_issuer
    text = json.dumps(card_payload([immunization(SHC_NOW - 30 * DAY)]), separators=(",", ":"))
    text = text[:-1] + f',"{member}":{value}}}'
    if member == "nbf":
        text = text.replace('"nbf":', '"unread_nbf":', 1)              # the card's own nbf goes aside
    card = jose.encode(shc.card.deflate(text.encode()), {"zip": "DEF", "alg": "ES256", "kid": jwk["kid"]}, key)
    verdict = Verifier(["shc"]).verify(card, trust, SHC_NOW).as_dict()
    assert [e["code"] for e in verdict["errors"]] == ["malformed"], verdict
    assert f"{member} must be a NumericDate" in verdict["errors"][0]["message"], verdict


# --- a regional code: a lone surrogate escape in its signed claims -----------------------------------
def regional_code_with(service, region: str, member: str, escape: str = "\\ud800") -> str:
    """A code signed by ``region``'s own key (as a thief of it would sign) whose claims JSON
    writes ``member`` ending in ``escape``."""
    import adapters
    from issuers import make_person
    genuine = service.issuing.issue(region, make_person(*GD_RESIDENT.id_and_name), status="green")
    fmt = adapters.get(service.settings.region(region).format)
    signing = service.keystore.signer(region)
    claims = {**genuine.claims, "jti": secrets.token_urlsafe(12), member: genuine.claims[member][:-1] + "\x00MARK"}
    body = json.dumps(fmt.to_native(claims), separators=(",", ":"), ensure_ascii=True).replace("\\u0000MARK", escape)
    header = {"alg": signing.alg, "kid": signing.kid, "typ": fmt.typ}
    return fmt.prefix + jose.encode(body.encode(), header, signing.private_key)


@pytest.mark.parametrize("region", ["440000", "310000", "330000"])
def test_a_regional_code_with_a_lone_surrogate_is_malformed_never_a_500(service, http, region):
    codes = [regional_code_with(service, region, member, escape)
             for member in ("name_masked", "id_masked") for escape in ("\\ud800", "\\udfff")]
    for code in codes:
        assert not service.verification.verify(code).valid
        r = http.post("/v1/verify", json={"payload": code})
        assert r.status_code == 200, r.get_data(as_text=True)
        assert [e["code"] for e in r.get_json()["errors"]] == ["malformed"], r.get_json()
        assert "lone surrogate" in r.get_json()["errors"][0]["message"]
    genuine = regional_code_with(service, region, "name_masked", "\\u00e9")    # an escape of a character
    assert service.verification.verify(genuine).valid
    # one such code in a batch spoils no other item
    items = [{"id": i, "payload": code} for i, code in enumerate([genuine] + codes)]
    r = http.post("/v1/verify/batch", json={"items": items})
    assert r.status_code == 200, r.get_data(as_text=True)
    assert [x["valid"] for x in r.get_json()["results"]] == [True] + [False] * len(codes)


def test_strangers_posting_costly_tags_at_once_starve_no_genuine_scan(gateway):
    """Sixteen strangers at once, each with its own 300-character code (a pattern compiled once is
    cached, so each differs): before, each held a worker thread 9 s; a genuine certificate
    scanned meanwhile is answered."""
    from concurrent.futures import ThreadPoolExecutor
    now = int(time.time())
    key, der, _ = gateway.dsc
    genuine = signed_dcc(key, der, dcc_vaccination(2, 2, "2021-06-01"), now - 3600, now + 30 * DAY)
    codes = [unsigned_dcc_with(b"\xd8\x23" + cbor2.dumps("[\u0100-\uffffa-z]" * 5000 + str(i))) for i in range(16)]

    def post(code):
        return requests.post(gateway.url + "/v1/verify", json={"payload": code}, timeout=30)
    with ThreadPoolExecutor(16) as pool:
        hostile = list(pool.map(post, codes))
        answer = post(genuine)
    assert [r.json()["errors"][0]["code"] for r in hostile] == ["key_unknown"] * 16
    assert answer.status_code == 200 and answer.json()["valid"], answer.text


# --- held: batch items {id?, payload} answered in the pool without a schema check -----------------------
BATCH_IDS = [None, True, False, 0, -0, 1, -1, 2**63 - 1, -2**63, 2**64 - 1, 2**64, -2**63 - 1, 10**300, 1.5, -0.0,
             1e300, 5e-324, "", "x" * 5000, "\u2028\u00e9\U0001F600\u0000\"\\", GD_RESIDENT.id_number, [], {},
             [1, [2, [3, {"a": [None]}]]], {"id": {"payload": "x"}}, {"\u00e9": 1.0}]


def test_batch_ids_of_every_json_type_are_echoed_alike_in_the_pool_and_in_process(gateway):
    """Items of the shape ``{id, payload}`` skip the schema check in the pool processes: whatever
    the id (every JSON type, 64-bit edges, long text, nesting) and however the items mix shapes,
    each answer is the one the item gets alone (in-process), and the body parses."""
    now = int(time.time())
    key, der, _ = gateway.dsc
    code = signed_dcc(key, der, dcc_vaccination(2, 2, "2021-06-01"), now - 3600, now + 30 * DAY)
    shapes = [lambda i: {"id": i, "payload": code}, lambda i: {"payload": code, "id": i},
              lambda i: {"id": i, "payload": "not a code"}, lambda i: {"id": i, "payload": 5},
              lambda i: {"id": i, "payload": code, "place": "gate 1"}, lambda i: {"id": i},
              lambda i: {"id": i, "payload": code, "extra": [1]}]
    items = [shapes[n % len(shapes)](ident) for n, ident in enumerate(BATCH_IDS * 3)]
    assert len(items) >= 64                                         # large enough for the pool
    whole = requests.post(gateway.url + "/v1/verify/batch", json={"items": items}, timeout=60)
    assert whole.status_code == 200, whole.text
    together = whole.json()["results"]
    for item, answer in zip(items, together):
        alone = requests.post(gateway.url + "/v1/verify/batch", json={"items": [item]}, timeout=30)
        assert alone.status_code == 200 and alone.json()["results"] == [answer], (item, answer)
        assert answer.get("id", "absent") == item.get("id", "absent")
