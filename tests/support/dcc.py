"""EU DCCs signed here, for the cases the shared test files do not cover: a signer certificate
(ECDSA or RSA, any extended key usage, any validity), a test or vaccination certificate, and the
``HC1:`` text of one signed by that signer; and the EU business rules and value sets of the
shared vectors."""
from __future__ import annotations

import base64
import datetime as dt
import json

import cbor2
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

import standard
from adapters import eu_dcc
from support.paths import vectors_dir

RULES = vectors_dir() / "dcc-rules"
VALUE_SETS = vectors_dir() / "dcc-valuesets"

NOW = 1_750_000_000
DAY = 86400


def signer(kind="ES256", oids=(), not_after=None, at=NOW):
    not_after = not_after if not_after is not None else at + 365 * DAY
    key = ec.generate_private_key(ec.SECP256R1()) if kind == "ES256" else \
        rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "DSC test"),
                      x509.NameAttribute(NameOID.COUNTRY_NAME, "DE")])
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(dt.datetime.fromtimestamp(at - 30 * DAY, dt.timezone.utc))
               .not_valid_after(dt.datetime.fromtimestamp(not_after, dt.timezone.utc)))
    if oids:
        builder = builder.add_extension(
            x509.ExtendedKeyUsage([x509.ObjectIdentifier(o) for o in oids]), critical=False)
    cert = builder.sign(key, hashes.SHA256())
    der = cert.public_bytes(serialization.Encoding.DER)
    return key, der, {"type": "x509", "der_b64": base64.b64encode(der).decode()}


def dcc_test(sampled: int, result: str = eu_dcc.TEST_NOT_DETECTED) -> dict:
    return {"ver": "1.3.0", "dob": "1980-01-02",
            "nam": {"fn": "Müller", "fnt": "MUELLER", "gn": "Anna", "gnt": "ANNA"},
            "t": [{"tg": "840539006", "tt": "LP6464-4", "sc": standard.rfc3339(sampled), "tr": result,
                   "tc": "Testzentrum", "co": "DE", "is": "RKI", "ci": "URN:UVCI:01:DE:T1#X"}]}


def dcc_vaccination(dose: int, of: int, day: str) -> dict:
    return {"ver": "1.3.0", "dob": "1950-05-06", "nam": {"fnt": "ROSSI", "gnt": "MARIO"},
            "v": [{"tg": "840539006", "vp": "J07BX03", "mp": "EU/1/20/1528", "ma": "ORG-100030215",
                   "dn": dose, "sd": of, "dt": day, "co": "IT", "is": "Ministero della Salute",
                   "ci": "URN:UVCI:01:IT:V1#Y"}]}


def issue(key, der, dcc, iat=NOW - DAY, exp=NOW + 30 * DAY, alg="ES256", iss="DE") -> str:
    cwt = cbor2.dumps({1: iss, 6: iat, 4: exp, -260: {1: dcc}})
    return eu_dcc.qr_text(eu_dcc.encode_cose(cwt, key, eu_dcc.kid_of(der), alg))


def country_rules(country: str) -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted((RULES / country).glob("*/rule.json"))]


def value_set_documents() -> list[dict]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(VALUE_SETS.glob("*.json"))]
