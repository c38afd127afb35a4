"""The standard (docs/standard.md) and the code say the same thing.

Where the standard has a table, the test reads the table; where it states a rule, the test builds
the code an independent verifier would refuse and checks that we refuse it too.
"""
from __future__ import annotations

import base64
import importlib
import io
import json
import pkgutil
import re
import time

import pytest
import requests
from PIL import Image

import adapters
import standard
from standard import jose, trustlist
from standard.errors import ConfigInvalid, HealthCodeError
from config.settings import load_settings
from adapters.verifier import Verifier
from support.live import LiveServer
from support.paths import ROOT
from support.standard_text import STANDARD_MD, documented_error_codes, section
from residents import RESIDENTS
from support.codes import error_code, high_s_twin, issue

PEOPLE = {region: (id_number, name) for region, (id_number, name, _) in RESIDENTS.items()}



def formats_of(service) -> list[tuple[str, str]]:
    """(region, format) for every configured region, plus the national format from one region."""
    return [(r.code, r.format) for r in service.settings.regions] + [("440000", "national")]


def resign(service, region: str, fmt_name: str, change, header_change=None) -> str:
    """A code of ``region`` in ``fmt_name`` whose native claims (and header) ``change`` edits,
    properly signed with the region's real key — so only the edited rule can refuse it."""
    fmt = adapters.get(fmt_name)
    claims = issue(service, region, fmt=fmt_name if fmt_name == "national" else None).claims
    native = fmt.to_native(claims)
    change(native)
    signer = service.issuing.issuer(region).signer
    header = {"alg": signer.alg, "kid": signer.kid, "typ": fmt.typ}
    if header_change:
        header_change(header)
    body = json.dumps(native, ensure_ascii=False).encode()
    return fmt.prefix + jose.encode(body, header, signer.private_key)


# --- §3: the claims schema is closed ------------------------------------------------------------
def test_a_claim_the_schema_does_not_know_is_refused_in_every_format(service):
    for region, fmt in formats_of(service):
        text = resign(service, region, fmt, lambda native: native.update(x_vip="always green"))
        assert error_code(service.verification.verify(text)) == "schema_invalid", (region, fmt)
        # the same code without the extra claim is fine: only the extra claim was refused
        assert service.verification.verify(resign(service, region, fmt, lambda native: None)).valid


# --- §4.1: typ, algorithms, low-S --------------------------------------------------------------
def test_typ_is_checked_in_every_format(service):
    for region, fmt in formats_of(service):
        wrong = resign(service, region, fmt, lambda n: None, lambda h: h.update(typ="at+jwt"))
        missing = resign(service, region, fmt, lambda n: None, lambda h: h.pop("typ"))
        assert error_code(service.verification.verify(wrong)) == "malformed"
        assert error_code(service.verification.verify(missing)) == "malformed"


def test_ps256_is_refused_for_a_chinese_region(service, tmp_path):
    """Even when a (tampered or misconfigured) trust list registers PS256 for a region."""
    key = jose.generate_private_key("PS256")
    jwk = {**jose.public_jwk(key), "kid": "rsa-key-0000001", "alg": "PS256", "status": "active"}
    trust = trustlist.TrustList({"issuers": [{"region": "440000", "format": "yuekang",
                                              "algorithms": ["PS256"], "keys": [jwk]}]})
    fmt = adapters.get("yuekang")
    claims = issue(service, "440000").claims
    body = json.dumps(fmt.to_native(claims), ensure_ascii=False).encode()
    text = fmt.prefix + jose.encode(body, {"alg": "PS256", "kid": jwk["kid"], "typ": fmt.typ}, key)
    assert error_code(Verifier(["yuekang"]).verify(text, trust, claims["iat"])) == "algorithm_not_allowed"


def test_a_region_configured_with_ps256_or_longer_lifetimes_does_not_start(tmp_path):
    base = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    guangdong = 'algorithms = ["ES256"]\ndynamic_ttl = 180\n'
    assert guangdong in base
    for bad in ('algorithms = ["ES256"]\ndynamic_ttl = 180\noffline_ttl = 1209600\n',   # 14-day cards
                'algorithms = ["ES256"]\ndynamic_ttl = 301\n', 'algorithms = ["PS256"]\ndynamic_ttl = 180\n'):
        text = base.replace(guangdong, bad, 1)
        config = tmp_path / "regions.toml"
        config.write_text(text, encoding="utf-8")
        with pytest.raises(ConfigInvalid):
            load_settings(config, tmp_path)
    assert len(load_settings(data_dir=tmp_path).regions) >= 6         # the shipped config is fine


def test_we_sign_low_s_and_refuse_the_high_s_twin(service):
    for _ in range(20):            # half of all raw ECDSA signatures are high-S: this would fail
        text = issue(service, "440000").qr_text
        prefix, token = text.split(":", 1)
        assert not jose.is_high_s(jose.b64url_decode(token.split(".")[2]))
        twin = f"{prefix}:{high_s_twin(token)}"
        assert service.verification.verify(text).valid
        assert error_code(service.verification.verify(twin)) == "signature_invalid"
    national = service.trust.national_jwks()
    token = service.trust.trust_list_jws()
    assert trustlist.parse(token, national).seq
    with pytest.raises(HealthCodeError, match="trust list rejected"):
        trustlist.parse(high_s_twin(token), national)


# --- §4.2: lifetimes and retired keys -----------------------------------------------------------
@pytest.mark.parametrize("kind,too_long", [("dynamic", 301), ("offline", 7 * 86400 + 1)])
def test_the_standard_caps_each_kind_of_code(service, kind, too_long):
    issuer = service.issuing.issuer("510000")                   # Sichuan registers 300 s and 7 days
    now = service.now()
    person_claims = issue(service, "510000", kind=kind).claims
    for seconds, ok in ((too_long - 1, True), (too_long, False)):
        claims = {**person_claims, "jti": f"life{seconds}xyz", "iat": now, "exp": now + seconds}
        verdict = service.verification.verify(issuer.sign(claims).qr_text)
        assert verdict.valid is ok, (seconds, verdict.errors)
        if not ok:
            assert error_code(verdict) == "lifetime_exceeded"


def test_a_region_may_be_stricter_and_offline_verifiers_know_it(service):
    """Guangdong registers 180 s phone codes: a 200 s one is refused online and offline."""
    assert service.settings.region("440000").dynamic_ttl == 180
    entry = next(i for i in service.trust.trust_list().payload["issuers"] if i["region"] == "440000")
    assert entry["lifetimes"] == {"dynamic": 180, "offline": 604800}
    now = service.now()
    claims = {**issue(service, "440000").claims, "iat": now, "exp": now + 200}
    text = service.issuing.issuer("440000").sign(claims).qr_text
    assert error_code(service.verification.verify(text)) == "lifetime_exceeded"
    offline = trustlist.parse(service.trust.trust_list_jws(), service.trust.national_jwks())
    assert error_code(Verifier(["yuekang"]).verify(text, offline, now)) == "lifetime_exceeded"


def test_a_retired_key_verifies_only_what_it_signed_before_retiring(service, clock):
    old = service.issuing.issuer("440000").signer
    before = issue(service, "440000", kind="offline")
    clock.advance(10)
    service.trust.rotate_key("440000")
    retired_at = service.now()
    fmt = adapters.get("yuekang")
    base = before.claims

    def signed_by_old(iat, exp):
        claims = {**base, "jti": f"old{iat}{exp}"[-20:], "iat": iat, "exp": exp}
        return fmt.encode(claims, old)

    assert service.verification.verify(before.qr_text).valid                         # signed before: still valid
    assert error_code(service.verification.verify(signed_by_old(retired_at + 1, retired_at + 100))) == "key_revoked"
    # backdated before the rotation but living a year: the lifetime cap refuses it
    assert error_code(service.verification.verify(signed_by_old(retired_at - 5, retired_at + 365 * 86400))) == "lifetime_exceeded"
    assert "retired key" in STANDARD_MD and "no allowance" in STANDARD_MD


def test_a_rotation_by_another_process_is_seen_before_the_next_signature(settings, clock):
    from gateway.services import Services
    first, second = Services(settings, clock=clock), Services(settings, clock=clock)
    assert issue(first, "440000").qr_text                               # first caches its key
    clock.advance(5)
    new_kid = second.trust.rotate_key("440000")
    clock.advance(5)
    text = issue(first, "440000").qr_text
    assert jose.parse(text.split(":", 1)[1]).kid == new_kid
    assert second.verification.verify(text).valid


# --- §6: over-large input is a verdict; every error code is in the table ------------------------
@pytest.fixture(scope="module")
def server(tmp_path_factory):
    live = LiveServer(tmp_path_factory.mktemp("conformance"))
    yield live
    live.stop()


def test_over_large_payload_and_images_are_verdicts(server):
    def verify(**body):
        response = requests.post(server.url + "/v1/verify", json=body, timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    long_text = verify(payload="YKM1:" + "A" * 12_001)
    assert long_text["valid"] is False and long_text["errors"][0]["code"] == "payload_too_large"
    big_file = verify(image_b64=base64.b64encode(b"\x89PNG" + b"\0" * 4_100_000).decode())
    assert big_file["errors"][0]["code"] == "payload_too_large"
    buffer = io.BytesIO()
    Image.new("1", (5000, 5000), 1).save(buffer, format="PNG")        # 25 MP in a few KB: a bomb
    assert len(buffer.getvalue()) < 100_000
    started = time.perf_counter()
    bomb = verify(image_b64=base64.b64encode(buffer.getvalue()).decode())
    assert bomb["errors"][0]["code"] == "payload_too_large" and "pixels" in bomb["errors"][0]["message"]
    assert time.perf_counter() - started < 5        # refused from the header, not after decoding
    batch = requests.post(server.url + "/v1/verify/batch", timeout=30,
                          json={"items": [{"id": 1, "payload": "X" * 12_001}]}).json()
    assert batch["results"][0]["errors"][0]["code"] == "payload_too_large"


def project_error_codes() -> set[str]:
    """Every code an exception of ours can carry, plus the gateway's HTTP and last-resort codes."""
    for package in ("standard", "store", "adapters", "issuers", "gateway"):
        module = importlib.import_module(package)
        for info in pkgutil.walk_packages(module.__path__, package + "."):
            importlib.import_module(info.name)
    codes, todo = set(), [HealthCodeError]
    while todo:
        cls = todo.pop()
        codes.add(cls.code)
        todo.extend(cls.__subclasses__())
    from gateway import HTTP_CODES
    return (codes | set(HTTP_CODES.values()) | {"internal", "http_error"}) - {"error"}


def test_every_error_code_the_project_can_return_is_in_the_table():
    documented, used = documented_error_codes(), project_error_codes()
    assert len(documented) > 30
    assert not used - documented, f"missing from docs/standard.md §6: {sorted(used - documented)}"
    assert not documented - used, f"documented but never used: {sorted(documented - used)}"


def test_the_standard_states_the_lengths_and_members_the_schema_enforces():
    schema = standard.load_schema("code-claims.schema.json")
    claims_table = section(3)
    for claim in ("sub", "jti"):
        low, high = re.search(r"\{(\d+),(\d+)\}", schema["properties"][claim]["pattern"]).groups()
        assert f"{low}–{high}" in claims_table, claim
    for member in schema["properties"]["dep"]["properties"]:
        assert f"`{member}`" in claims_table, member
    for member in schema["properties"]["prov"]["properties"]:
        assert f"`{member}`" in claims_table, member
    assert str(standard.MAX_LIFETIME["dynamic"]) in section(4) and "604 800" in section(4)
    kiosk = load_openapi("KioskLookupRequest")
    assert "kiosk_id" not in kiosk.get("required", []) and '"kiosk_id"?' in section(10)


def load_openapi(component: str) -> dict:
    return standard.load_schema("openapi.json")["components"]["schemas"][component]


def test_the_threat_model_cites_tests_that_exist():
    """docs/security.md names a test for each defence; each named test must exist."""
    text = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")
    cited = re.findall(r"`tests/([\w]+\.py)(?:::(\w+))?`((?:, `\w+`)*)", text)
    assert len(cited) > 20
    for module, name, more in cited:
        source = (ROOT / "tests" / module).read_text(encoding="utf-8")
        for test in [name, *re.findall(r"`(\w+)`", more)]:
            if test:
                assert f"def {test}(" in source, f"docs/security.md cites {module}::{test}"
