"""SMART Health Cards the tests sign themselves: an issuer key, FHIR resources, a card payload."""
from __future__ import annotations

import time

import pytest

from adapters import shc
from standard import jose

DAY = 86400
NOW = 1_700_000_000


@pytest.fixture(scope="module")
def issuer():
    key = jose.generate_private_key("ES256")
    jwk = jose.public_jwk(key)
    jwk = {**jwk, "kid": jose.thumbprint(jwk), "alg": "ES256", "use": "sig"}
    return key, jwk


def fhir_date(ts: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(ts))


def immunization(at: int, cvx="207", status="completed") -> dict:
    return {"resourceType": "Immunization", "status": status, "occurrenceDateTime": fhir_date(at),
            "vaccineCode": {"coding": [{"system": shc.CVX, "code": cvx}]},
            "patient": {"reference": "resource:0"}}


def lab(at: int, snomed: str, loinc="94500-6") -> dict:
    return {"resourceType": "Observation", "status": "final",
            "code": {"coding": [{"system": shc.LOINC, "code": loinc}]},
            "effectiveDateTime": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(at)),
            "valueCodeableConcept": {"coding": [{"system": shc.SNOMED, "code": snomed}]}}


def card_payload(resources, nbf=NOW - 100 * DAY, exp=None, iss="https://issuer.example",
                 types=(shc.HEALTH_CARD_TYPE,)) -> dict:
    patient = {"resourceType": "Patient", "name": [{"family": "Anyperson", "given": ["John", "B."]}],
               "birthDate": "1951-01-20"}
    entries = [{"fullUrl": f"resource:{i}", "resource": r} for i, r in enumerate([patient, *resources])]
    payload = {"iss": iss, "nbf": nbf, "vc": {"type": list(types), "credentialSubject": {
        "fhirVersion": "4.0.1", "fhirBundle": {"resourceType": "Bundle", "type": "collection",
                                               "entry": entries}}}}
    if exp is not None:
        payload["exp"] = exp
    return payload


def sign(issuer, payload) -> str:
    key, jwk = issuer
    return shc.encode_card(payload, key, jwk["kid"])
