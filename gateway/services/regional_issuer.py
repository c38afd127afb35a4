"""Where a person's current code comes from: the issuing authority of the person's region.

A :class:`RegionalIssuer` answers one question — "a fresh code for this person" — whether the
region is issued by this deployment (:class:`InProcessIssuer`, no HTTP to itself) or by another
(:class:`HttpIssuer`, ``POST /v1/issuers/{region}/lookup`` of the standard, §4.3).  Each refuses
an unknown person or a wrong name with :class:`standard.errors.IdentityNotMatched`; each audits
what it decides where it decides it.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Callable

from gateway.issuer_client import IssuerClient
from issuers import Person


@dataclass(frozen=True)
class CodeRequest:
    """A fresh code of ``region`` for a person: known by ID document (``person``, its pseudonym
    ``sub`` already computed by the caller) or, for a bound dependent, by ``sub`` alone.
    ``check_name``: the name in ``person`` must match the issuer's record (assisted lookup)."""
    region: str
    sub: str
    person: Person | None = None
    check_name: bool = False
    dep: dict | None = None
    fmt: str | None = None


class RegionalIssuer(ABC):
    @abstractmethod
    def current_code(self, request: CodeRequest) -> str:
        """The QR text of a fresh code with the person's current colour (not yet verified)."""


class InProcessIssuer(RegionalIssuer):
    """A region this deployment issues: the issuing service re-issues directly."""

    def __init__(self, reissue: Callable):
        self.reissue = reissue                     # IssuingService.reissue

    def current_code(self, request: CodeRequest) -> str:
        name = request.person.name if request.person is not None and (request.check_name or request.person.name) \
            else None
        actor = {"role": "issuer", "id": f"issuer-{request.region}", "region": request.region}
        return self.reissue(request.region, request.sub, name, dep=request.dep, actor=actor, fmt=request.fmt).qr_text


class HttpIssuer(RegionalIssuer):
    """A region issued elsewhere: its issuer's lookup interface, with the region's token."""

    def __init__(self, client: IssuerClient, base_url: str, token: Callable[[], str]):
        self.client = client
        self.base_url = base_url
        self.token = token

    def current_code(self, request: CodeRequest) -> str:
        if request.person is None:
            body: dict = {"sub": request.sub}
        else:
            p = request.person
            body = {"id_type": p.id_type, "id_number": p.id_number}
            if request.check_name or p.name:
                body["name"] = p.name
        if request.dep:
            body["dep"] = request.dep
        if request.fmt:
            body["format"] = request.fmt
        answer = self.client.lookup(self.base_url, request.region, self.token(), body)
        text = answer.get("qr_text")
        return text if isinstance(text, str) else ""
