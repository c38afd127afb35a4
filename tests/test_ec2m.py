"""EU DCC signers on the binary curve c2tnb191v1 (adapters/eu_dcc/ec2m.py): the reference verifier
checks ES256 with SHA256withECDSA on such keys, so the gateway must too.  ``cryptography``
cannot make these keys, so the test builds one itself — a private scalar, its point, a
certificate whose SubjectPublicKeyInfo carries it — signs the COSE with the module's test
signer, and verifies through the real verifier and the real ``healthcode verify-batch``."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
import secrets
import subprocess

import cbor2
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from support.paths import BIN
from adapters import eu_dcc
from adapters.eu_dcc import ec2m
from adapters.verifier import Verifier
from standard.trustlist import TrustList

NOW = 1_750_000_000
DAY = 86400
CURVE = ec2m.C2TNB191V1
SIZE = (CURVE.m + 7) // 8


def tlv(tag: int, content: bytes) -> bytes:
    n, size = len(content), (len(content).bit_length() + 7) // 8
    length = bytes([n]) if n < 0x80 else bytes([0x80 | size]) + n.to_bytes(size, "big")
    return bytes([tag]) + length + content


def oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytes([parts[0] * 40 + parts[1]])
    for value in parts[2:]:
        chunk = [value & 0x7F]
        while value > 0x7F:
            value >>= 7
            chunk.insert(0, 0x80 | (value & 0x7F))
        body += bytes(chunk)
    return tlv(0x06, body)


def point_bytes(point) -> bytes:
    return b"\x04" + point[0].to_bytes(SIZE, "big") + point[1].to_bytes(SIZE, "big")


def certificate_with_key(point) -> bytes:
    """A DSC-shaped certificate (made by ``cryptography`` on P-256) whose SubjectPublicKeyInfo
    is swapped for a c2tnb191v1 key: trust anchors are trusted as given, their own signature
    is not what the verifier checks."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SI test signer"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "SI")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(dt.datetime.fromtimestamp(NOW - 30 * DAY, dt.timezone.utc))
            .not_valid_after(dt.datetime.fromtimestamp(NOW + 365 * DAY, dt.timezone.utc))
            .sign(key, hashes.SHA256()))
    (_, body), = eu_dcc._der_items(cert.public_bytes(serialization.Encoding.DER))
    tbs, *rest = list(eu_dcc._der_items(body))
    spki = tlv(0x30, tlv(0x30, oid(ec2m.OID_EC_PUBLIC_KEY) + oid("1.2.840.10045.3.0.5"))
               + tlv(0x03, b"\x00" + point_bytes(point)))
    fields = [spki if tag == 0x30 and _is_spki(content) else tlv(tag, content)
              for tag, content in eu_dcc._der_items(tbs[1])]
    return tlv(0x30, tlv(0x30, b"".join(fields)) + b"".join(tlv(t, c) for t, c in rest))


def _is_spki(content: bytes) -> bool:
    parts = list(eu_dcc._der_items(content))
    return len(parts) == 2 and parts[0][0] == 0x30 and parts[1][0] == 0x03


def negative_test() -> dict:
    return {"ver": "1.3.0", "dob": "1980-01-02", "nam": {"fnt": "NOVAK", "gnt": "JANEZ", "fn": "Novak", "gn": "Janez"},
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": "2025-06-15T14:00:00Z", "tr": "260415000",
                   "tc": "Test centre", "co": "SI", "is": "NIJZ", "ci": "URN:UVCI:01:SI:T1#X"}]}


def signed_text(d: int, der: bytes, *, halves: int = SIZE, tamper: bool = False) -> str:
    protected = cbor2.dumps({1: -7, 4: eu_dcc.kid_of(der)})
    payload = cbor2.dumps({1: "SI", 6: NOW - DAY, 4: NOW + DAY, -260: {1: negative_test()}})
    unsigned = eu_dcc.CoseSign1(protected, {}, {}, payload, b"")
    r, s = ec2m.sign_for_tests(CURVE, d, unsigned.signing_input(), secrets.randbelow(CURVE.n - 1) + 1)
    signature = r.to_bytes(halves, "big") + (s ^ tamper).to_bytes(halves, "big")
    return eu_dcc.qr_text(cbor2.dumps(cbor2.CBORTag(18, [protected, {}, payload, signature])))


@pytest.fixture(scope="module")
def signer():
    d = secrets.randbelow(CURVE.n - 1) + 1
    return d, certificate_with_key(ec2m.public_point(CURVE, d))


def verify(text, der):
    trust = TrustList({}, ({"type": "x509", "der_b64": base64.b64encode(der).decode()},))
    return Verifier(["eu_dcc"]).verify(text, trust, NOW)


def test_the_curve_parameters_are_a_curve_of_order_n():
    g = (CURVE.gx, CURVE.gy)
    assert ec2m.on_curve(CURVE, g) and ec2m._scalar(CURVE, CURVE.n, g) is None
    assert ec2m._scalar(CURVE, CURVE.n - 1, g) == (g[0], g[0] ^ g[1])        # (n-1)·G = -G


@pytest.mark.slow
def test_a_c2tnb191v1_signer_verifies_like_any_other(signer):
    d, der = signer
    assert isinstance(eu_dcc.signer_certificate(base64.b64encode(der).decode()).public_key, ec2m.PublicKey)
    verdict = verify(signed_text(d, der), der)
    assert verdict.valid and verdict.status == "green" and verdict.region == "SI", verdict.errors
    # halves zero-padded to ES256's 32 bytes (as the Slovenian files sign) read the same
    assert verify(signed_text(d, der, halves=32), der).valid
    assert verify(signed_text(d, der, tamper=True), der).errors[0]["code"] == "signature_invalid"
    other_d = d % (CURVE.n - 2) + 1
    assert verify(signed_text(other_d, der), der).errors[0]["code"] == "signature_invalid"


def test_a_point_off_the_curve_is_no_key():
    x, y = ec2m.public_point(CURVE, 12345)
    assert ec2m.public_key(CURVE, point_bytes((x, y))) is not None
    assert ec2m.public_key(CURVE, point_bytes((x, y ^ 1))) is None
    der = certificate_with_key((x, y ^ 1))
    assert eu_dcc.signer_certificate(base64.b64encode(der).decode()) is None
    assert verify(signed_text(12345, der), der).errors[0]["code"] == "key_unknown"


@pytest.mark.slow
def test_verify_batch_reads_it(signer, tmp_path):
    d, der = signer
    line = {"id": "si", "payload": signed_text(d, der), "at": "2025-06-15T14:13:20Z",
            "trust": [base64.b64encode(der).decode()]}
    proc = subprocess.run([str(BIN / "healthcode"), "verify-batch"], input=json.dumps(line) + "\n",
                          capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HEALTHCODE_DATA": str(tmp_path / "data")})
    verdict = json.loads(proc.stdout)
    assert proc.returncode == 0 and verdict["valid"] and verdict["region"] == "SI", proc.stdout


def test_curve_parameters_are_checked_before_the_first_key_not_at_import():
    """The n·G self-check runs once, when a key on the curve is first read: importing the module
    (every process start) does not pay for it, and a curve whose G is not of order n is refused."""
    import dataclasses
    from adapters.eu_dcc import ec2m
    broken = dataclasses.replace(ec2m.C2TNB191V1, name="broken", n=ec2m.C2TNB191V1.n + 2)
    with pytest.raises(AssertionError, match="broken"):
        ec2m.public_key(broken, b"\x04" + bytes(48))
