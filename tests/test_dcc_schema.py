"""EU DCC schema by version and the verifier policy of docs/formats/eu-dcc.md, on certificates we
sign ourselves: a test CSCA issues a Document Signer Certificate (DSC), the DSC signs the CWT,
and the real ``healthcode verify-batch`` (and the in-process verifier) read the QR text.  The
cases are the hold-outs of issue 11: certificates real EU verifier apps accept although the 1.3
schema, read verbatim, would refuse them."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import subprocess

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from support.paths import BIN, vectors_dir
from adapters import eu_dcc
from adapters.eu_dcc import schema as dcc_schema
from adapters.verifier import Verifier
from standard.trustlist import TrustList

NOW = 1_750_000_000
DAY = 86400
TEST_OID, VACC_OID, REC_OID = ("1.3.6.1.4.1.1847.2021.1.1", "1.3.6.1.4.1.1847.2021.1.2",
                               "1.3.6.1.4.1.1847.2021.1.3")


def _name(cn: str, country: str = "GE") -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COUNTRY_NAME, country),
                      x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _validity(builder):
    return (builder.not_valid_before(dt.datetime.fromtimestamp(NOW - 90 * DAY, dt.timezone.utc))
            .not_valid_after(dt.datetime.fromtimestamp(NOW + 365 * DAY, dt.timezone.utc))
            .serial_number(x509.random_serial_number()))


@pytest.fixture(scope="module")
def csca():
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (_validity(x509.CertificateBuilder()).subject_name(_name("Test CSCA")).issuer_name(_name("Test CSCA"))
            .public_key(key.public_key())
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(key, hashes.SHA256()))
    return key, cert


def make_dsc(csca, oids=(TEST_OID, VACC_OID, REC_OID), curve=ec.SECP256R1()):
    """A DSC issued by the test CSCA; ``oids`` its extended key usage (None: no EKU at all)."""
    ca_key, ca_cert = csca
    key = ec.generate_private_key(curve)
    builder = (_validity(x509.CertificateBuilder()).subject_name(_name("Test DSC"))
               .issuer_name(ca_cert.subject).public_key(key.public_key()))
    if oids is not None:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in oids]), critical=False)
    der = builder.sign(ca_key, hashes.SHA256()).public_bytes(serialization.Encoding.DER)
    return key, der


@pytest.fixture(scope="module")
def dsc(csca):
    return make_dsc(csca)


def name():
    return {"fn": "Beridze", "fnt": "BERIDZE", "gn": "Nino", "gnt": "NINO"}


def vacc(dose, of, day, co="GE", **extra):
    return {"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
            "dn": dose, "sd": of, "dt": day, "co": co, "is": "Ministry of Health",
            "ci": f"URN:UVCI:01:GE:V{dose}#A", **extra}


def negative_test(co="HU", tc="Testcentrum", ver="1.3.0"):
    return {"ver": ver, "nam": name(), "dob": "1985-03-04",
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "2025-06-15T08:00:00Z", "tr": "260415000",
                   "tc": tc, "co": co, "is": "NNGYK", "ci": "URN:UVCI:01:HU:T1#B"}]}


def sign(key, der, dcc, iss="GE", iat=NOW - DAY, exp=NOW + 30 * DAY, alg="ES256") -> str:
    cwt = cbor2.dumps({1: iss, 6: iat, 4: exp, -260: {1: dcc}})
    return eu_dcc.qr_text(eu_dcc.encode_cose(cwt, key, eu_dcc.kid_of(der), alg))


def anchor(der):
    return {"type": "x509", "der_b64": base64.b64encode(der).decode()}


def check(text, der, now=NOW):
    return Verifier(["eu_dcc"]).verify(text, TrustList({}, (anchor(der),)), now)


def code_of(verdict):
    return verdict.errors[0]["code"] if verdict.errors else None


# --- the shipped schemas are the release files ---------------------------------------------
def test_shipped_schemas_equal_the_release_files():
    shared = vectors_dir() / "dcc-schema"
    released = sorted(p.name for p in shared.iterdir() if (p / dcc_schema.SCHEMA_FILE).exists())
    assert list(dcc_schema.shipped_versions()) == released and len(released) == 9
    for version in released:
        ours = (dcc_schema.SCHEMA_DIR / version / dcc_schema.SCHEMA_FILE).read_bytes()
        assert ours == (shared / version / dcc_schema.SCHEMA_FILE).read_bytes(), version
    assert (dcc_schema.SCHEMA_DIR / "LICENSE").read_bytes() == (shared / "LICENSE").read_bytes()


@pytest.mark.parametrize("declared, used", [
    ("1.0.0", "1.0.0"), ("1.2.1", "1.2.1"), ("1.3.0", "1.3.0"), ("1.3.3", "1.3.3"),
    ("1.3.9", "1.3.3"), ("1.2.7", "1.2.1"), ("1.4.0", "1.3.3"), ("2.0.0", "1.3.3"),
    ("0.9.0", "1.0.0"), ("1.1", "1.1.0"), ("garbage", "1.0.0"), (None, "1.3.3"), (7, "1.0.0"),
])
def test_version_choice(declared, used):
    assert dcc_schema.schema_version(declared) == used


def test_profile_drops_only_the_content_guidance():
    release = dcc_schema.release_schema("1.3.0")
    profile = dcc_schema.verifier_profile(release)
    text = json.dumps(profile)
    assert '"maxLength"' not in text and '"format"' not in text
    assert "pattern" not in profile["$defs"]["country_vt"]
    assert profile["properties"]["v"]["maxItems"] == 1                 # structure stays
    assert profile["$defs"]["person_name"]["properties"]["fnt"]["pattern"] == "^[A-Z<]*$"
    assert "maxLength" in json.dumps(release)                          # the release is unchanged


# --- the hold-outs, through the real CLI ------------------------------------------------------
@pytest.fixture(scope="module")
def holdouts(csca, dsc, tmp_path_factory):
    key, der = dsc
    two_doses = {"ver": "1.0.0", "nam": name(), "dob": "1960-01-02",
                 "v": [vacc(1, 2, "2025-01-05"), vacc(2, 2, "2025-02-01")]}
    cases = {
        "two_vaccinations_1.0.0": sign(key, der, two_doses),
        "two_vaccinations_1.2.1": sign(key, der, {**two_doses, "ver": "1.2.1"}),
        "two_vaccinations_1.3.0": sign(key, der, {**two_doses, "ver": "1.3.0"}),
        "georgian_issuer": sign(key, der, {"ver": "1.3.0", "nam": name(), "dob": "1960-01-02",
                                           "v": [vacc(2, 2, "2025-02-01")]},
                                iss="Ministry of Internally Displaced Persons, Labour, Health and "
                                    "Social Affairs of Georgia"),
        "hungarian_test_centre": sign(key, der, negative_test(tc="Országos Népegészségügyi Központ "
                                                             "Mintavételi Pont, Budapest XIII. kerület, "
                                                             "Váci út 174.")),
        "dutch_empty_country": sign(key, der, negative_test(co="", ver="1.0.0"), iss="NL"),
        "three_types_1.2.1": sign(key, der, {**two_doses, "ver": "1.2.1",
                                             "t": negative_test()["t"]}),
        "no_ver": sign(key, der, {k: v for k, v in negative_test().items() if k != "ver"}),
        "bad_transliteration": sign(key, der, {**negative_test(), "nam": {"fnt": "beridze"}}),
        "newer_version": sign(key, der, negative_test(ver="1.5.0")),
        "dob_with_time_1.2.1": sign(key, der, {**two_doses, "ver": "1.2.1", "dob": "1960-01-02T00:00:00"}),
        "dob_not_a_date": sign(key, der, {**negative_test(), "dob": "02.01.1960"}),
        "dob_cbor_date_tag": sign(key, der, {**negative_test(), "dob": cbor2.CBORTag(1004, "1960-01-02")}),
        "unknown_vaccine_code": sign(key, der, {"ver": "1.3.0", "nam": name(), "dob": "1960-01-02",
                                                "v": [vacc(2, 2, "2025-02-01", mp="XX/NEW/2025")]}),
    }
    tmp = tmp_path_factory.mktemp("dcc-holdouts")
    lines = [{"id": case, "payload": text, "at": "2025-06-15T15:06:40Z", "trust": [anchor(der)["der_b64"]]}
             for case, text in cases.items()]
    proc = subprocess.run([str(BIN / "healthcode"), "verify-batch"], capture_output=True, text=True,
                          env={**os.environ, "HEALTHCODE_DATA": str(tmp / "data")}, timeout=120,
                          input="".join(json.dumps(line) + "\n" for line in lines))
    assert proc.returncode == 0, proc.stderr
    return {v["id"]: v for v in map(json.loads, proc.stdout.splitlines())}


@pytest.mark.parametrize("case", ["two_vaccinations_1.0.0", "two_vaccinations_1.2.1", "georgian_issuer",
                                  "hungarian_test_centre", "dutch_empty_country", "newer_version", "dob_with_time_1.2.1",
                                  "dob_cbor_date_tag",
                                  "unknown_vaccine_code"])
def test_what_real_verifiers_accept_is_accepted(holdouts, case):
    verdict = holdouts[case]
    assert verdict["valid"] is True and not verdict["errors"], verdict
    assert verdict["format"] == "eu_dcc" and verdict["status"] in ("green", "yellow")


@pytest.mark.parametrize("case", ["two_vaccinations_1.3.0", "three_types_1.2.1", "no_ver", "dob_not_a_date",
                                  "bad_transliteration"])
def test_what_real_verifiers_refuse_is_refused(holdouts, case):
    verdict = holdouts[case]
    assert verdict["valid"] is False and verdict["errors"][0]["code"] == "schema_invalid", verdict


def test_holdout_details(holdouts):
    two = holdouts["two_vaccinations_1.2.1"]
    assert two["status"] == "green" and two["reasons"] == ["vaccinated"]        # the later, complete dose
    assert holdouts["georgian_issuer"]["region"] == "GE"                        # from the entry's co
    assert holdouts["dutch_empty_country"]["region"] == "NL"                    # from the CWT issuer
    assert "1.3.0" in holdouts["two_vaccinations_1.3.0"]["errors"][0]["message"]


# --- the rest of the policy (docs/formats/eu-dcc.md) -------------------------------------------
def test_validation_clock_before_iat(dsc):
    key, der = dsc
    text = sign(key, der, negative_test(), iat=NOW + 61)
    assert code_of(check(text, der)) == "not_yet_valid"
    assert check(sign(key, der, negative_test(), iat=NOW + 59), der).valid     # inside the 60 s skew


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1(), ec.SECP192R1()])
def test_es256_label_on_another_curve_is_checked_like_the_reference_verifier(csca, curve):
    """ECDSA with SHA-256 on the trusted EC key, whatever its curve (dgca-verifier-app-android's
    SHA256withECDSA; Spanish DSCs on P-384): r‖s of the curve's size verifies, anything else not."""
    key, der = make_dsc(csca, curve=curve)
    cose_unsigned = eu_dcc.CoseSign1(cbor2.dumps({1: -7, 4: eu_dcc.kid_of(der)}), {}, {},
                                     cbor2.dumps({1: "GE", 6: NOW - DAY, 4: NOW + DAY, -260: {1: negative_test()}}), b"")
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
    r, s = decode_dss_signature(key.sign(cose_unsigned.signing_input(), ec.ECDSA(hashes.SHA256())))
    size = (curve.key_size + 7) // 8

    def with_signature(signature):
        cose = cbor2.dumps(cbor2.CBORTag(18, [cose_unsigned.protected_raw, {}, cose_unsigned.payload, signature]))
        return check(eu_dcc.qr_text(cose), der)

    assert with_signature(r.to_bytes(size, "big") + s.to_bytes(size, "big")).valid
    if size < 32:                   # halves zero-padded to ES256's 32 bytes read the same
        assert with_signature(r.to_bytes(32, "big") + s.to_bytes(32, "big")).valid
    assert code_of(with_signature(r.to_bytes(size + 1, "big") + s.to_bytes(size + 1, "big"))) == "signature_invalid"
    assert code_of(with_signature(r.to_bytes(size, "big") + (s ^ 1).to_bytes(size, "big"))) == "signature_invalid"
    # the kind still decides: the same signature labelled PS256 is never checked with an EC key
    ps = eu_dcc.CoseSign1(cbor2.dumps({1: -37, 4: eu_dcc.kid_of(der)}), {}, {}, cose_unsigned.payload, b"")
    cose = cbor2.dumps(cbor2.CBORTag(18, [ps.protected_raw, {}, ps.payload, b"\0" * 256]))
    assert code_of(check(eu_dcc.qr_text(cose), der)) == "algorithm_not_allowed"


@pytest.mark.parametrize("oids, kind, accepted", [
    ((TEST_OID,), "t", True), ((VACC_OID,), "t", False), (("1.3.6.1.4.1.0.1847.2021.1.1",), "t", True),
    ((ExtendedKeyUsageOID.SERVER_AUTH.dotted_string,), "t", True),      # names no DCC type: any
    (None, "v", True), ((REC_OID, VACC_OID), "v", True), ((REC_OID,), "v", False),
])
def test_key_usage(csca, oids, kind, accepted):
    key, der = make_dsc(csca, oids=oids)
    dcc = negative_test() if kind == "t" else {"ver": "1.3.0", "nam": name(), "dob": "1960-01-02",
                                             "v": [vacc(2, 2, "2025-02-01")]}
    verdict = check(sign(key, der, dcc), der)
    assert verdict.valid is accepted and (accepted or code_of(verdict) == "key_usage_mismatch"), verdict.errors
