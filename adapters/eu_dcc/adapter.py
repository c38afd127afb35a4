"""The EU DCC adapter: decode, signer, certificate and revocation stages in order, then the colour
from the imported EU business rules or the deployment's own rules."""
from __future__ import annotations

import base64
import logging
from typing import Any, Mapping

import standard
from standard.errors import CwtInvalid, HealthCodeError
from standard.trustlist import TrustList
from adapters import foreign_rules, revocation_lists
from adapters.eu_dcc import business_rules
from adapters.base import check_validity, log_decoder_crash
from adapters.contract import RevocableFormat, Verified, register
from adapters.foreign_rules import DEFAULT_VERDICT_TTL
from adapters.eu_dcc.certificate import check_certificate_validity, code_id_for, check_key_usage, country, event_of, primary_entry, name_parts, read_cwt, to_claims, validate_dcc
from adapters.eu_dcc.decode import ENTRY_NAMES, NAME, base45_decode, cose_sign1, decompress, looks_like_dcc, unprefix
from adapters.eu_dcc.signers import signers_by_kid, verify_signature

log = logging.getLogger(__name__)


# === the adapter ==================================================================================
class DccAdapter(RevocableFormat):
    """Options (``[format.eu_dcc]``): ``rules`` (foreign_rules), ``verdict_ttl`` (seconds),
    ``country_of_arrival`` (whose imported EU business rules decide; dcc_business_rules)."""

    name = NAME
    title = "EU 数字新冠证书"                # as people know it, shown on the pages
    title_en = "EU Digital COVID Certificate"

    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        self.rules = dict(options.get("rules") or {})
        self.ttl = int(options.get("verdict_ttl") or DEFAULT_VERDICT_TTL)
        self.country_of_arrival = options.get("country_of_arrival")

    def detect(self, text: str) -> bool:
        return looks_like_dcc(text)

    def code_id_for(self, certificate_id: str) -> str:
        return code_id_for(certificate_id)

    def verify(self, text: str, trust: TrustList, now: int) -> Verified:
        try:
            return self._verify(text, trust, now)
        except HealthCodeError:
            raise
        except Exception as exc:        # noqa: BLE001 — a decoder bug must read as "malformed"
            log_decoder_crash(log, NAME, exc)
            raise CwtInvalid(f"EU DCC could not be decoded ({exc.__class__.__name__})") from None

    def _verify(self, text: str, trust: TrustList, now: int) -> Verified:
        cose = cose_sign1(decompress(base45_decode(unprefix(text))))
        cert = verify_signature(cose, trust.anchor_index("x509", signers_by_kid))   # before decoding content
        cwt = read_cwt(cose.payload)
        check_validity(cwt.iat, cwt.exp, now)
        check_certificate_validity(cert, now)
        kind = validate_dcc(cwt.dcc)
        check_key_usage(cert, kind)
        revocation_lists.refuse_revoked_dcc(trust, cert.kid, cwt.iss, [e.get("ci") for e in cwt.dcc[kind]],
                                            cose.signature, cose.alg)
        entry = primary_entry(cwt.dcc, kind)
        events = [e for e in (event_of(kind, item) for item in cwt.dcc[kind]) if e is not None]
        region = country(cwt, entry)
        decided = business_rules.decide(trust, self.country_of_arrival, cwt.dcc, kind, region,
                                        cwt.iat, cwt.exp, events, now, self.rules, cose.payload)
        status, reasons, valid_until = decided[:3] if decided else foreign_rules.evaluate(events, self.rules, now)
        family, given = name_parts(cwt.dcc)
        masked, shown, holder = foreign_rules.holder_views(family, given, cwt.dcc.get("dob"))
        claims = standard.validate_claims(to_claims(cwt, kind, status, reasons, valid_until, now, self.ttl,
                                                    entry=entry, region=region, name_masked=masked))
        details = {"issuer": cwt.iss or claims["region"], "certificate_type": ENTRY_NAMES[kind],
                   "signer": cert.subject, "schema_version": cwt.dcc.get("ver")}
        if cwt.exp is not None:
            details["certificate_expires_at"] = standard.rfc3339(cwt.exp)
        if decided:
            details["business_rules"] = decided[3]
        if kind == "v":
            details["dose"] = f"{entry['dn']}/{entry['sd']}"
        details["holder"] = shown
        return Verified(NAME, claims, kid=base64.b64encode(cert.kid).decode(), details=details, holder=holder)


def make(options: Mapping[str, Any] | None = None) -> DccAdapter:
    return DccAdapter(options)


ADAPTER = register(make({}), configure=make)
