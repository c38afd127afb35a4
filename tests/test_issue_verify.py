"""The foundation path: every region issues, any verifier gets one trusted verdict, and each
kind of forgery is refused with its own error code."""
from __future__ import annotations

import json

import pytest

import adapters
from standard import jose
from adapters import qr
from adapters.base import JwsClaimFormat
from issuers.keys import KeyStore, Signer
from residents import RESIDENTS
from support.codes import error_code, issue

PEOPLE = {region: (id_number, name) for region, (id_number, name, _) in RESIDENTS.items()}
ID_TYPES = {region: id_type for region, (_, _, id_type) in RESIDENTS.items()}


@pytest.mark.parametrize("region", sorted(PEOPLE))
@pytest.mark.parametrize("status", ["green", "yellow", "red"])
def test_each_region_round_trips(service, region, status):
    issued = issue(service, region, status=status)
    verdict = service.verification.verify(issued.qr_text)
    assert verdict.valid, verdict.errors
    assert verdict.status == status
    assert verdict.region == region
    assert verdict.format == service.settings.region(region).format
    id_number, name = PEOPLE[region]
    if region == "820000":
        assert verdict.holder["id_masked"] == "12****78"
    else:
        assert verdict.holder["id_masked"] == id_number[:4] + "*" * 10 + id_number[-4:]
    assert verdict.holder["name_masked"][0] == name[0] and "*" in verdict.holder["name_masked"]
    assert id_number not in issued.qr_text


@pytest.mark.parametrize("region", sorted(PEOPLE))
def test_national_format_from_each_region(service, region):
    issued = issue(service, region, status="yellow", fmt="national")
    assert issued.qr_text.startswith("CNHC1:")
    verdict = service.verification.verify(issued.qr_text)
    assert (verdict.valid, verdict.format, verdict.region) == (True, "national", region)


def test_native_formats_really_differ(service):
    """Claim names, status values and time units differ per region, as they do in the field."""
    payloads = {}
    for region in PEOPLE:
        text = issue(service, region, status="red").qr_text
        token = text.split(":", 1)[1]
        payloads[region] = (jose.parse(token).header, json.loads(jose.parse(token).payload))
    colour_claims = ("mys", "codeColor", "color", "result", "estado", "zj_color", "yanse", "sz_color")
    statuses = {r: next(p[1][c] for c in colour_claims if c in p[1]) for r, p in payloads.items()}
    assert statuses == {"440000": "hongma", "310000": 2, "510000": "R", "110000": "红码", "330000": "R",
                        "820000": "vermelho", "440100": "hong", "440300": 3}
    assert payloads["510000"][0]["alg"] == "EdDSA"
    assert payloads["310000"][1]["issuedAt"] > 10 ** 12          # milliseconds
    assert isinstance(payloads["110000"][1]["issued"], str)        # ISO 8601
    assert payloads["330000"][1]["zj_from"] > 10 ** 12 and payloads["330000"][1]["zj_kind"] == "D"
    assert payloads["440100"][1]["qianfa"] > 10 ** 12 and payloads["440300"][1]["sz_issued"].endswith("+08:00")
    prefixes = {issue(service, r).qr_text.split(":")[0] for r in PEOPLE}
    assert len(prefixes) == len(PEOPLE)


def test_rules_decide_status_with_reasons(service):
    issued = issue(service, "440000", facts={"close_contact": True, "symptoms": True})
    verdict = service.verification.verify(issued.qr_text)
    assert verdict.status == "red"
    assert verdict.reasons == ["close_contact", "symptoms"]


def test_issuer_override_is_recorded_as_reason(service):
    verdict = service.verification.verify(issue(service, "510000", status="yellow").qr_text)
    assert verdict.reasons == ["issuer_override"]


def _flip(text: str, index: int) -> str:
    ch = text[index]
    return text[:index] + ("A" if ch != "A" else "B") + text[index + 1:]


@pytest.mark.parametrize("region", sorted(PEOPLE))
def test_one_altered_byte_is_rejected(service, region):
    text = issue(service, region).qr_text
    prefix_len = text.index(":") + 1
    header_end = text.index(".")
    payload_mid = (header_end + text.index(".", header_end + 1)) // 2
    for index in (payload_mid, len(text) - 5):
        verdict = service.verification.verify(_flip(text, index))
        assert error_code(verdict) in ("signature_invalid", "malformed")
    # an altered payload that still parses must fail on the signature specifically
    assert error_code(service.verification.verify(_flip(text, payload_mid))) in ("signature_invalid", "malformed")
    assert prefix_len < header_end


def test_altered_status_claim_fails_signature(service):
    text = issue(service, "440000", status="red").qr_text
    prefix, token = text.split(":", 1)
    head, body, sig = token.split(".")
    claims = json.loads(jose.b64url_decode(body))
    claims["mys"] = "lvma"
    forged_body = jose.b64url_encode(json.dumps(claims, ensure_ascii=False).encode())
    verdict = service.verification.verify(f"{prefix}:{head}.{forged_body}.{sig}")
    assert error_code(verdict) == "signature_invalid"


def test_unknown_key_is_rejected(service, tmp_path):
    claims = issue(service, "440000").claims
    rogue = KeyStore(tmp_path / "rogue").signer("440000", "ES256")
    forged = adapters.get("yuekang").encode(claims, rogue)
    assert error_code(service.verification.verify(forged)) == "key_unknown"


def test_expired_code_is_rejected(service, clock):
    text = issue(service, "110000").qr_text           # Beijing: 120 s dynamic codes
    assert service.verification.verify(text).valid
    clock.advance(120 + 61)
    assert error_code(service.verification.verify(text)) == "expired"


def test_future_code_is_rejected(service, clock):
    clock.advance(3600)
    text = issue(service, "440000").qr_text
    clock.advance(-3600)
    assert error_code(service.verification.verify(text)) == "not_yet_valid"


def test_unregistered_algorithm_is_rejected(service):
    """Beijing registered ES256 only; an EdDSA signature under a Beijing kid is refused."""
    claims = issue(service, "110000").claims
    real = service.issuing.issuer("110000").signer
    ed_key = jose.generate_private_key("EdDSA")
    forged = adapters.get("jiankangbao").encode(claims, Signer("110000", real.kid, "EdDSA", ed_key))
    assert error_code(service.verification.verify(forged)) == "algorithm_not_allowed"


@pytest.mark.parametrize("alg", ["none", "HS256", "RS256"])
def test_header_algorithms_outside_profile_are_rejected(service, alg):
    text = issue(service, "440000").qr_text
    prefix, token = text.split(":", 1)
    head, body, sig = token.split(".")
    header = json.loads(jose.b64url_decode(head))
    header["alg"] = alg
    new_head = jose.b64url_encode(json.dumps(header).encode())
    assert error_code(service.verification.verify(f"{prefix}:{new_head}.{body}.{sig}")) == "algorithm_not_allowed"


@pytest.mark.parametrize("member", ["jku", "x5u", "jwk", "x5c", "crit"])
def test_headers_that_choose_their_own_key_are_rejected(service, member):
    claims = issue(service, "440000").claims
    signer = service.issuing.issuer("440000").signer
    fmt = adapters.get("yuekang")
    body = json.dumps(fmt.to_native(claims), ensure_ascii=False).encode()
    token = jose.encode(body, {"alg": "ES256", "kid": signer.kid, member: "https://evil.example/k"},
                       signer.private_key)
    assert error_code(service.verification.verify(fmt.prefix + token)) == "malformed"


def test_missing_kid_is_rejected(service):
    claims = issue(service, "440000").claims
    signer = service.issuing.issuer("440000").signer
    fmt = adapters.get("yuekang")
    body = json.dumps(fmt.to_native(claims)).encode()
    token = jose.encode(body, {"alg": "ES256"}, signer.private_key)
    assert error_code(service.verification.verify(fmt.prefix + token)) == "malformed"


def test_region_cannot_sign_for_another(service):
    """Guangdong's key signing a code that claims Shanghai is caught."""
    claims = dict(issue(service, "440000").claims, region="310000")
    forged = adapters.get("suishen").encode(claims, service.issuing.issuer("440000").signer)
    assert error_code(service.verification.verify(forged)) == "issuer_mismatch"


def test_region_cannot_use_another_regions_format(service):
    claims = issue(service, "440000").claims
    forged = adapters.get("suishen").encode(claims, service.issuing.issuer("440000").signer)
    assert error_code(service.verification.verify(forged)) == "issuer_mismatch"


def test_schema_violation_is_reported(service):
    fmt = adapters.get("yuekang")
    claims = issue(service, "440000").claims
    native = fmt.to_native(claims)
    native["zjhm"] = "440106197209116424"          # a plain ID number must never be accepted
    signer = service.issuing.issuer("440000").signer
    token = jose.encode(json.dumps(native).encode(), {"alg": "ES256", "kid": signer.kid, "typ": fmt.typ},
                        signer.private_key)
    assert error_code(service.verification.verify(fmt.prefix + token)) == "schema_invalid"


def test_rotated_key_keeps_old_codes_valid_and_signs_new_ones(service, clock):
    old = issue(service, "440000").qr_text
    clock.advance(10)
    new_kid = service.trust.rotate_key("440000")
    new = issue(service, "440000").qr_text
    assert jose.parse(new.split(":", 1)[1]).kid == new_kid
    assert service.verification.verify(old).valid and service.verification.verify(new).valid


def test_revoked_key_verifies_nothing(service):
    text = issue(service, "440000").qr_text
    service.keystore.revoke("440000", service.issuing.issuer("440000").signer.kid)
    service.trust.invalidate()
    assert error_code(service.verification.verify(text)) == "key_revoked"


@pytest.mark.parametrize("junk", ["", "   ", "hello", "YKM1:", "YKM1:a.b.c", "YKM1:" + "A" * 20000,
                                  "CNHC1:e30.e30.", "SSM:....", "\x00\x01", "HC2:xyz"])
def test_junk_gives_clear_error_not_exception(service, junk, no_decoder_crash):
    verdict = service.verification.verify(junk)
    code = error_code(verdict)
    assert code in {"payload_empty", "format_unknown", "malformed", "payload_too_large",
                    "algorithm_not_allowed", "context_unsupported"}
    assert "could not be decoded" not in verdict.errors[0]["message"]      # a refusal, not a crash


@pytest.mark.parametrize("region", sorted(PEOPLE))
def test_qr_png_decodes_back_and_verifies(service, region):
    issued = issue(service, region, status="yellow")
    png = qr.render_png(issued.qr_text)
    assert qr.decode_image(png) == [issued.qr_text]
    verdict = service.verification.verify_image(png)
    assert verdict.valid and verdict.status == "yellow"


def test_unreadable_image(service):
    assert error_code(service.verification.verify_image(b"not a png")) == "image_unreadable"
    blank = qr.render_png("x")[:60]
    assert error_code(service.verification.verify_image(blank)) == "image_unreadable"


def test_every_verification_is_logged_without_id_number(service):
    issued = issue(service, "310000")
    service.verification.verify(issued.qr_text, place="Shanghai Hongqiao", device="gate-3")
    service.verification.verify("garbage")                       # undecodable: counted, not stored row by row
    service.verification.verify(issued.qr_text[:-4] + "AAAA")     # a forgery attempt: stored
    events = service.store.scans()
    assert [e.valid for e in events] == [True, False]
    assert events[0].code_id == issued.claims["jti"] and events[0].place == "Shanghai Hongqiao"
    assert events[1].error == "signature_invalid"
    raw = open(service.store.path, "rb").read()
    assert PEOPLE["310000"][0].encode() not in raw


def test_dynamic_code_lifetime_is_per_region(service):
    for region in PEOPLE:
        claims = issue(service, region).claims
        assert claims["exp"] - claims["iat"] == service.settings.region(region).dynamic_ttl


def test_every_format_is_a_registered_table():
    """Adding a province = a module declaring a format; all declared ones share the mechanism."""
    for name in ("national", "yuekang", "suishen", "tianfu", "jiankangbao", "zheli", "macau", "suikang", "shenainin"):
        fmt = adapters.get(name)
        assert isinstance(fmt, JwsClaimFormat)
        assert set(fmt.fields) == set(adapters.get("national").fields)


def test_every_configured_region_has_a_test_resident(settings):
    """Onboarding a province is not done until its test resident exists (tests/residents.py)."""
    assert set(RESIDENTS) == set(settings.region_codes())
