"""One verdict for any code: detect its format, verify it against the trust list, map it to
the national standard.  Code problems never raise out of here; they become verdict errors.
"""
from __future__ import annotations

from typing import Any, Callable, Iterable
import logging
import time
from dataclasses import dataclass, field

import adapters
from adapters import qr
from adapters import shc
from adapters.base import log_decoder_crash
from adapters.contract import Verified
from standard import MAX_PAYLOAD_CHARS, rfc3339
from standard.trustlist import TrustList
from standard.errors import CodeError, CodeRevoked, CodeTooLarge, EmptyPayload, HealthCodeError, Malformed

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Verdict:
    valid: bool
    status: str | None = None
    region: str | None = None
    issuer: dict | None = None      # a city's code: the city and the province it issues under (trust list)
    format: str | None = None
    holder: dict | None = None
    expires_at: str | None = None
    issued_at: str | None = None
    kind: str | None = None
    reasons: list = field(default_factory=list)
    code_id: str | None = None
    errors: list = field(default_factory=list)
    claims: dict | None = field(default=None, repr=False)    # national claims, for callers in-process
    details: dict = field(default_factory=dict)   # format-specific facts, sent as ``details``

    def as_dict(self) -> dict:
        """Every field in declaration order but ``claims`` (never sent), ``issuer`` only for a
        city's code and ``details`` only when there are some."""
        out: dict[str, Any] = {"valid": self.valid, "status": self.status, "region": self.region}
        if self.issuer is not None:
            out["issuer"] = self.issuer
        out["format"], out["holder"] = self.format, self.holder
        out["expires_at"], out["issued_at"], out["kind"] = self.expires_at, self.issued_at, self.kind
        out["reasons"], out["code_id"], out["errors"] = self.reasons, self.code_id, self.errors
        if self.details:
            out["details"] = self.details
        return out

    @classmethod
    def failed(cls, error: HealthCodeError, fmt: str | None = None) -> "Verdict":
        return cls(valid=False, format=fmt, errors=[error.as_dict()])

    @classmethod
    def from_verified(cls, result: Verified, issuer: dict | None = None) -> "Verdict":
        c = result.claims
        details = dict(result.details) if result.details else {}
        if "dep" in c:          # shown by a family member: say whose code it is
            details["dependent_of"] = {"holder_name_masked": c["dep"]["holder_name_masked"],
                                     "relation": c["dep"]["relation"]}
        if "prov" in c:
            details["transcoded_from"] = dict(c["prov"])
        return cls(True, c["status"], c["region"], issuer, result.format,
                   result.holder or {"name_masked": c["name_masked"], "id_masked": c["id_masked"]},
                   rfc3339(c["exp"]), rfc3339(c["iat"]), c["kind"], list(c["reasons"]), c["jti"], [], c,
                   details)


@dataclass
class ImageVerdicts:
    """The codes of one image.  ``as_dict`` keeps the first verdict's fields at the top (what a
    one-code client reads) and adds ``codes`` (every verdict, reading order) and ``found`` (how
    many codes were read; 0 with ``codes`` empty when none could be, the top level then says why)."""
    verdicts: list
    found: int

    @property
    def valid(self) -> bool:
        return self.found > 0 and all(v.valid for v in self.verdicts)

    def as_dict(self) -> dict:
        return {**self.verdicts[0].as_dict(), "found": self.found,
                "codes": [v.as_dict() for v in self.verdicts] if self.found else []}


def normalize_text(text: object) -> str:
    if not isinstance(text, str):
        raise Malformed("payload must be text")
    if len(text) > MAX_PAYLOAD_CHARS:
        raise CodeTooLarge(f"payload longer than {MAX_PAYLOAD_CHARS} characters")
    text = text.strip().lstrip("\ufeff")
    if not text:
        raise EmptyPayload("payload is empty")
    return text





class Verifier:
    """Stateless apart from the trust list it is given; safe to share between threads."""

    def __init__(self, formats: Iterable[str], is_revoked: Callable[[dict], bool] | None = None,
                 options: dict | None = None) -> None:
        options = options or {}
        self.adapters = tuple(adapters.load(name, options.get(name)) for name in formats)
        self.detect = adapters.Detector(self.adapters)     # text → the first adapter that claims it
        self.is_revoked = is_revoked        # online check: claims → bool

    def verify(self, text: object, trust: TrustList, now: int | None = None) -> Verdict:
        now = int(now if now is not None else time.time())
        fmt = None
        try:
            text = normalize_text(text)
            adapter = self.detect(text)
            fmt = adapter.name
            result = adapter.verify(text, trust, now)
            self._check_revocation(result.claims, trust)
            return Verdict.from_verified(result, trust.city_issuer(result.claims["region"]))
        except CodeError as exc:
            return Verdict.failed(exc, fmt)
        except HealthCodeError as exc:
            return Verdict.failed(Malformed(exc.message, code=exc.code), fmt)
        except Exception as exc:    # noqa: BLE001 — a decoder bug must not become a green light or a 500
            log_decoder_crash(log, fmt or "unknown", exc)
            return Verdict.failed(Malformed("the code could not be decoded"), fmt)

    def verify_image(self, data: bytes, trust: TrustList, now: int | None = None) -> Verdict:
        """The first code of the image (reading order); :meth:`verify_image_codes` gives all."""
        return self.verify_image_codes(data, trust, now).verdicts[0]

    def verify_image_codes(self, data: bytes, trust: TrustList, now: int | None = None) -> "ImageVerdicts":
        """One verdict per code in the image: a sheet of printed cards gives one each, the
        chunks of a SMART Health Card one for the card."""
        try:
            texts = qr.decode_image(data)
        except CodeError as exc:
            return ImageVerdicts([Verdict.failed(exc)], 0)
        codes = shc.group_chunks(texts)
        return ImageVerdicts([self.verify(text, trust, now) for text in codes], len(codes))

    def _check_revocation(self, claims: dict, trust: TrustList | _NoRevokedJti) -> None:
        if claims.get("jti") in trust.revoked_jti or (self.is_revoked is not None and self.is_revoked(claims)):
            raise CodeRevoked("this code has been withdrawn by its issuer")

    def recheck_revocation(self, verdict: Verdict) -> Verdict:
        """The online revocation check for a verdict reached elsewhere (a batch worker process
        that has the trust list but not the store): the same refusal as in :meth:`verify`."""
        if not verdict.valid:
            return verdict
        try:
            self._check_revocation(verdict.claims or {"jti": verdict.code_id}, _NO_TRUSTED_REVOCATIONS)
        except CodeRevoked as exc:
            return Verdict.failed(exc, verdict.format)
        return verdict


class _NoRevokedJti:
    revoked_jti: frozenset[str] = frozenset()


_NO_TRUSTED_REVOCATIONS = _NoRevokedJti()
