"""Foreign trust anchors: the EU DCC signer certificates and SMART Health Card issuer keys this
deployment trusts.

The data manager adds them (``healthcode anchors add``, ``POST /v1/admin/anchors``); they ride in
the signed national trust list, so an offline verifier that cached the list trusts exactly the
same foreign signers as the gateway.  An anchor is a small dict:

* ``{"type": "x509", "der_b64": ...}`` — an X.509 certificate (EU DCC Document Signer);
* ``{"type": "jwk", "jwk": {...}, "iss"?: ...}`` — a public JWK, optionally for one issuer only.

Each gets a stable ``id`` from its content, so adding the same one twice changes nothing.
Parsing is pure; :class:`AnchorFile` is the only part that touches disk.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import json

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from toolkit import filelock
from standard import idcard, jose
from adapters.eu_dcc import kid_of
from standard.errors import BadRequest, HealthCodeError, NotFound

MAX_ANCHORS = 5000               # the EU gateway lists a few hundred signers
MAX_ANCHOR_B64 = 16_000          # one certificate


def parse_anchor(value, iss: str | None = None) -> dict:
    """A JWK object or a base64 DER certificate → an anchor (with its id), or BadRequest."""
    if isinstance(value, dict) and value.get("type") in ("x509", "jwk"):       # an anchor already
        iss = value.get("iss", iss)
        value = value.get("der_b64") if value["type"] == "x509" else value.get("jwk")
    if isinstance(value, dict):
        try:
            jose.public_key_from_jwk(value)
        except HealthCodeError as exc:
            raise BadRequest(f"trust anchor JWK refused: {exc.message}") from None
        anchor = {"type": "jwk", "jwk": {k: v for k, v in value.items() if isinstance(k, str)}}
        if iss is not None:
            if not isinstance(iss, str) or not 0 < len(iss) <= 512:
                raise BadRequest("iss must be a URL of at most 512 characters")
            anchor["iss"] = iss
        anchor["id"] = "jwk:" + jose.thumbprint(value)[:22]
        return anchor
    if isinstance(value, str) and len(value) <= MAX_ANCHOR_B64:
        try:
            der = base64.b64decode(value, validate=True)
            x509.load_der_x509_certificate(der)
        except (binascii.Error, ValueError):
            raise BadRequest("trust anchor is neither a JWK nor a base64 DER X.509 certificate") from None
        return {"type": "x509", "der_b64": value,
                "id": "x509:" + jose.b64url_encode(hashlib.sha256(der).digest())[:22]}
    raise BadRequest("trust anchor is neither a JWK nor a base64 DER X.509 certificate")


def anchors_from_bytes(raw: bytes, iss: str | None = None) -> list[dict]:
    """A file's anchors: JWKS or JWK JSON, PEM certificate(s), or one DER certificate."""
    if raw.lstrip().startswith(b"{"):
        try:
            data = json.loads(raw)
        except ValueError:
            raise BadRequest("anchor file is not JSON") from None
        keys = data.get("keys", [data]) if isinstance(data, dict) else None
        if not isinstance(keys, list):
            raise BadRequest("a JWKS needs a keys list")
        return [parse_anchor(k, iss) for k in keys]
    if b"-----BEGIN CERTIFICATE-----" in raw:
        try:
            certs = x509.load_pem_x509_certificates(raw)
        except ValueError:
            raise BadRequest("PEM certificate could not be read") from None
        return [parse_anchor(base64.b64encode(c.public_bytes(Encoding.DER)).decode()) for c in certs]
    return [parse_anchor(base64.b64encode(raw).decode())]


class AnchorFile(filelock.JsonFile):
    """``$HEALTHCODE_DATA/anchors.json``: public material, written atomically."""

    filename = "anchors.json"
    marks = filelock.TRUST_INPUTS_CHANGED     # the trust list is made of it
    compact = False

    def empty(self) -> list[dict]:
        return []

    def add(self, anchors: list[dict]) -> list[str]:
        """Store new anchors; the ids of those that were not there yet."""
        with self.changing():
            current = self.load()
            known = {a["id"] for a in current}
            new = [a for a in anchors if a["id"] not in known]
            new = list({a["id"]: a for a in new}.values())
            if len(current) + len(new) > MAX_ANCHORS:
                raise BadRequest(f"at most {MAX_ANCHORS} trust anchors")
            if new:
                self._write(current + new)
            return [a["id"] for a in new]

    def remove(self, anchor_id: str) -> None:
        with self.changing():
            current = self.load()
            kept = [a for a in current if a["id"] != anchor_id]
            if len(kept) == len(current):
                raise NotFound(f"no trust anchor {idcard.mask_in_text(anchor_id[:80])!r}")
            self._write(kept)


def summary(anchor: dict) -> dict:
    """What an operator needs to recognise an anchor in a listing."""
    out = {"id": anchor["id"], "type": anchor["type"]}
    if anchor["type"] == "x509":
        der = base64.b64decode(anchor["der_b64"])
        cert = x509.load_der_x509_certificate(der)
        out.update(subject=cert.subject.rfc4514_string()[:200],
                   not_after=cert.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ"),
                   dcc_kid=base64.b64encode(kid_of(der)).decode())
    else:
        out.update(kid=anchor["jwk"].get("kid"), **({"iss": anchor["iss"]} if "iss" in anchor else {}))
    return out


def validity_warnings(anchor: dict, now: int) -> list[str]:
    """Why an anchor will verify nothing today (an EU signer certificate outside its dates):
    adding it is allowed — a list is often loaded ahead of time — but the data manager is told."""
    if anchor["type"] != "x509":
        return []
    cert = x509.load_der_x509_certificate(base64.b64decode(anchor["der_b64"]))
    name = cert.subject.rfc4514_string()[:120]
    if cert.not_valid_after_utc.timestamp() < now:
        return [f"{anchor['id']} ({name}) expired on {cert.not_valid_after_utc:%Y-%m-%d}; "
                "codes it signed are refused as certificate_invalid"]
    if cert.not_valid_before_utc.timestamp() > now:
        return [f"{anchor['id']} ({name}) is not valid before {cert.not_valid_before_utc:%Y-%m-%d}"]
    return []
