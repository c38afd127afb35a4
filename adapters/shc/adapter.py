"""The SMART Health Card adapter: numeric, card, signature and FHIR stages in order, then the colour."""
from __future__ import annotations

import logging
from typing import Any, Mapping

import standard
from standard.errors import HealthCodeError, Malformed, UnknownKey
from standard.trustlist import TrustList
from adapters import foreign_rules
from adapters import revocation_lists
from adapters.base import check_validity, log_decoder_crash
from adapters.contract import FormatAdapter, Verified, register
from adapters.foreign_rules import DEFAULT_VERDICT_TTL
from adapters.shc.card import credentials, detect, keys_by_thumbprint, parse_card_jws, read_payload, verify_signature
from adapters.shc.fhir import events_from_bundle, holder, name_parts, to_claims
from adapters.shc.numeric import DEFAULT_REGION, NAME, SINGLE_DOSE_CVX

log = logging.getLogger(__name__)


# === the adapter ===================================================================================
class ShcAdapter(FormatAdapter):
    """Options (``[format.shc]``): ``rules`` (foreign_rules), ``region_by_issuer`` {iss: "XX"},
    ``default_region`` ("US"), ``verdict_ttl`` (seconds), ``single_dose_cvx`` (["212"])."""

    name = NAME
    title = "SMART Health Card"                # as people know it, shown on the pages
    title_en = "SMART Health Card"

    def __init__(self, options: Mapping[str, Any] | None = None):
        options = dict(options or {})
        self.rules = dict(options.get("rules") or {})
        self.region_by_issuer = dict(options.get("region_by_issuer") or {})
        self.default_region = str(options.get("default_region") or DEFAULT_REGION)
        self.ttl = int(options.get("verdict_ttl") or DEFAULT_VERDICT_TTL)
        self.single_dose_cvx = frozenset(str(c) for c in options.get("single_dose_cvx", SINGLE_DOSE_CVX))

    def detect(self, text: str) -> bool:
        return detect(text)

    def verify(self, text: str, trust: TrustList, now: int) -> Verified:
        try:
            tokens = credentials(text)
            keys = trust.anchor_index("jwk", keys_by_thumbprint)
            results = []
            for number, token in enumerate(tokens, 1):
                try:
                    results.append(self.verify_credential(token, keys, now, trust))
                except HealthCodeError as exc:
                    if len(tokens) == 1:
                        raise
                    raise exc.__class__(f"credential {number} of {len(tokens)}: {exc.message}",
                                        code=exc.code) from None
        except HealthCodeError:
            raise
        except Exception as exc:        # noqa: BLE001 — a decoder bug must read as "malformed"
            log_decoder_crash(log, NAME, exc)
            raise Malformed(f"SMART Health Card could not be decoded ({exc.__class__.__name__})") from None
        first = results[0]
        if len(results) > 1:
            first = Verified(first.format, first.claims, first.kid, {**first.details, "credentials": len(results)},
                             holder=first.holder)
        return first

    def verify_credential(self, token: str, keys: dict, now: int, trust: TrustList | None = None) -> Verified:
        parsed = parse_card_jws(token)
        kid = str(parsed.kid)                               # parse_card_jws refuses a JWS without one
        issuers = verify_signature(parsed, keys)            # before inflating anything
        card = read_payload(parsed.payload)
        if None not in issuers and card.iss not in issuers:
            raise UnknownKey(f"key {kid[:64]} is not trusted for issuer {card.iss[:200]}")
        check_validity(card.nbf, card.exp, now)
        if trust is not None:
            revocation_lists.refuse_revoked_shc(trust, card.iss, kid, card.rid, card.nbf)
        name, birth_date = holder(card.bundle)
        facts = events_from_bundle(card.bundle, card.types, self.single_dose_cvx)
        status, reasons, valid_until = foreign_rules.evaluate(list(facts.events), self.rules, now)
        region = self.region_by_issuer.get(card.iss) or self.default_region
        family, given = name_parts(card.bundle)
        masked, shown, masked_holder = foreign_rules.holder_views(family, given, birth_date)
        claims = standard.validate_claims(to_claims(token, card, name, birth_date, status, reasons,
                                                    valid_until, now, region, self.ttl, name_masked=masked))
        details = {"issuer": card.iss, "card_types": [t.rsplit("#", 1)[-1] for t in card.types],
                   "immunizations": facts.immunizations, "series_complete": facts.series_complete,
                   "lab_results": facts.lab_results, "credentials": 1}
        if facts.vaccine_codes:
            details["vaccine_cvx"] = list(facts.vaccine_codes)
        if card.exp is not None:
            details["card_expires_at"] = standard.rfc3339(card.exp)
        if card.rid:
            details["rid"] = card.rid
        details["holder"] = shown
        return Verified(NAME, claims, kid=kid, details=details, holder=masked_holder)


def make(options: Mapping[str, Any] | None = None) -> ShcAdapter:
    return ShcAdapter(options)


ADAPTER = register(make({}), configure=make)
