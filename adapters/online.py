"""Online codes (在线码), as 粤康码 and 北京健康宝 first worked: the QR holds only the issuing
region's status URL and an opaque code id — no name, no ID number, no colour.  A verifier asks
the region, at the address the region registered on the signed national trust list, and checks
the answer — a compact JWS under the region's key — like any code.

QR text ``<status_url>/v1/status/<region>/<code id>``; answer ``{"jws": "<JWS>"}`` whose payload
is the national claims (``jti`` = the code id) and whose ``typ`` is ``hc-status+jwt``.

The format is a table (:data:`ADAPTER`): the path, the answer's claim table and its ``typ``.
What is code here is pure — reading the URL, the SSRF gate, binding the answer to the code — and
the one piece of I/O, asking the region, is :mod:`adapters.status_client`.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import urlsplit

from adapters.base import JwsClaimFormat
from adapters.contract import IssuingFormat, SigningKey, Verified, register
from adapters.national import NATIONAL_CLAIMS
from adapters.status_client import StatusClient
from standard.errors import (AlgorithmNotAllowed, BadRequest, IssuerMismatch, Malformed,
                             OriginUnregistered, SchemaInvalid, SignatureInvalid, StatusUnverifiable,
                             UnknownKey)
from standard.trustlist import TrustList

MAX_URL_CHARS = 512
# An answer that is not the region's own word about this code; anything else (expired, revoked,
# a revoked key, too long a life) keeps its own code: the same verdict as any other code.
NOT_AUTHENTIC = (Malformed, SignatureInvalid, UnknownKey, AlgorithmNotAllowed, IssuerMismatch,
                 SchemaInvalid)


def may_be_online(text: object) -> bool:
    """Whether a QR text may be an online code (any http or https address): such a text is
    verified where its region can be asked, never in a batch pool process.  The one test of
    "is this online" for every batch path."""
    return isinstance(text, str) and text.lstrip().startswith(("http://", "https://"))


@dataclass(frozen=True)
class OnlineCode:
    """What a QR of this format says: where to ask (``base``), whom, and about which code."""

    base: str
    region: str
    code_id: str


def _origin(url: str) -> tuple:
    """Scheme, host and port as a browser compares origins, plus the base path."""
    parts = urlsplit(url)
    try:
        port = parts.port or {"http": 80, "https": 443}.get(parts.scheme.lower())
    except ValueError:
        raise Malformed("an online code's address has an impossible port") from None
    return parts.scheme.lower(), (parts.hostname or "").lower(), port, parts.path.rstrip("/")


@dataclass(frozen=True)
class OnlineFormat(IssuingFormat):
    """An online code format: ``path`` between the status URL and ``<region>/<code id>``, and
    the table of the signed answer (national claim names, its own ``typ``)."""

    name: str
    answer: JwsClaimFormat
    path: str = "/v1/status/"
    title: str = "在线码"                 # as people know it, shown on the pages
    title_en: str = "online code"
    client: StatusClient = field(default_factory=StatusClient, compare=False, repr=False)
    _url: re.Pattern = field(init=False, compare=False, repr=False)

    def __post_init__(self) -> None:
        pattern = (r"(https?://[^/?#\s@]+(?:/[^?#\s@]*?)?)" + re.escape(self.path)
                   + r"([0-9]{6})/([A-Za-z0-9_-]{8,64})")
        object.__setattr__(self, "_url", re.compile(pattern, re.ASCII))

    # -- pure ------------------------------------------------------------------------------------
    def parse(self, text: str) -> OnlineCode:
        match = self._url.fullmatch(text) if len(text) <= MAX_URL_CHARS else None
        if match is None:
            raise Malformed(f"an online code is <status_url>{self.path}<region>/<code id>")
        return OnlineCode(*match.groups())

    def status_url(self, base: str, region: str, code_id: str) -> str:
        return f"{base.rstrip('/')}{self.path}{region}/{code_id}"

    def registered_url(self, code: OnlineCode, trust: TrustList) -> str:
        """The SSRF gate: the URL to ask is built from the address the region registered on the
        signed trust list, and only if the QR names that same origin and path.  Nothing is
        fetched for any other address, whatever the QR says."""
        registered = trust.online_url(code.region)
        if registered is None:
            raise OriginUnregistered(f"region {code.region} has registered no status interface "
                                     "for online codes")
        if _origin(code.base) != _origin(registered):
            raise OriginUnregistered(f"this code points at an address region {code.region} did "
                                     "not register on the trust list; nothing was fetched")
        return self.status_url(registered, code.region, code.code_id)

    def check_answer(self, code: OnlineCode, answer_text: object, trust: TrustList, now: int) -> Verified:
        """The region's answer, verified like any code (kid on the trust list, registered
        algorithm, ``typ``, schema, region, key status, lifetime, validity), then bound to the
        code that was asked about."""
        if not isinstance(answer_text, str):
            raise StatusUnverifiable(f"region {code.region} answered without a signed status")
        try:
            result = self.answer.verify(answer_text, trust, now)
        except NOT_AUTHENTIC as exc:
            raise StatusUnverifiable(f"region {code.region}'s answer cannot be trusted "
                                     f"({exc.code}: {exc.message})") from None
        claims = result.claims
        if claims["jti"] != code.code_id or claims["region"] != code.region:
            raise StatusUnverifiable(f"region {code.region} answered about another code")
        return Verified(self.name, claims, kid=result.kid,
                        extra={"online": {"status_url": trust.online_url(code.region)}})

    # -- issuing (the region's side) -------------------------------------------------------------
    def encode_online(self, claims: dict, signer: SigningKey, base_url: str) -> tuple[str, str]:
        """(QR text, signed answer to keep): the QR carries no claim at all."""
        return self.status_url(base_url, claims["region"], claims["jti"]), self.answer.encode(claims, signer)

    def issue(self, claims: dict, signer: SigningKey, online_url: str) -> tuple[str, str | None]:
        """The QR is the region's status URL and the code id; the signed status stays with the
        region, for its status interface to answer with.  BadRequest for a region that registered
        no status interface."""
        if not online_url:
            raise BadRequest(f"region {claims['region']} does not issue online codes")
        return self.encode_online(claims, signer, online_url)

    # -- adapter interface -----------------------------------------------------------------------
    def detect(self, text: str) -> bool:
        return text.startswith(("http://", "https://")) and self.path in text

    def verify(self, text: str, trust: TrustList, now: int) -> Verified:
        code = self.parse(text)
        url = self.registered_url(code, trust)
        return self.check_answer(code, self.client.answer(url, code.region, code.code_id), trust, now)


ANSWER = JwsClaimFormat(
    name="online",
    prefix="",
    typ="hc-status+jwt",
    fields={claim: claim for claim in NATIONAL_CLAIMS},
)


def make(options: Mapping[str, Any]) -> OnlineFormat:
    """``[format.online]``: ``connect_timeout``, ``read_timeout`` (s), ``retries``,
    ``cache_seconds``, ``cache_entries``; the verification service adds ``local`` (answers for the
    regions it issues itself, without HTTP to itself)."""
    if not options:
        return ADAPTER
    return OnlineFormat(name=ADAPTER.name, answer=ANSWER, path=ADAPTER.path,
                        client=StatusClient.from_options(options))


ADAPTER = register(OnlineFormat(name="online", answer=ANSWER), configure=make)
