"""The format adapter contract: what a code format is, what each optional capability adds, and
the one call a format module makes to declare itself.

Every format verifies (:class:`FormatAdapter`: ``name``, ``detect``, ``verify``).  A format this
gateway also writes is an :class:`IssuingFormat` (``issue``); a foreign format whose
certificates the operator can withdraw by their own identifiers is a :class:`RevocableFormat`
(``code_id_for``).  Capabilities are abstract methods, so a class that claims one and lacks its
method cannot be instantiated, and :func:`register` refuses anything that is not a
:class:`FormatAdapter` — a format module that forgets a capability fails when it is imported,
never later on a request.

A format module declares itself with one call at import::

    ADAPTER = register(JwsClaimFormat(name="yuekang", ...))          # a fixed table
    ADAPTER = register(make({}), configure=make)                      # takes [format.<name>] options

The registry (:mod:`adapters`) imports ``adapters.<name>`` when the configuration names it and
admits only what that module registered under that name.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Callable, Mapping, NamedTuple, TypeVar

from standard.jose import SigningKey
from standard.trustlist import TrustList

__all__ = ["FormatAdapter", "IssuingFormat", "RevocableFormat", "Verified", "SigningKey", "register"]


class Verified(NamedTuple):
    """A code that passed every check of its format, mapped to the national claims.  Immutable
    (a named tuple: made on every verify, for a third of a frozen dataclass's cost)."""

    format: str
    claims: dict                    # national-standard claims (docs/standard/v1)
    kid: str | None = None
    details: Mapping[str, Any] = MappingProxyType({})    # format-specific facts worth showing
    holder: dict | None = None      # the verdict's holder when not the claims' masked name and ID (foreign)


class FormatAdapter(ABC):
    """A code format the gateway reads.  ``verify`` raises a :class:`standard.errors.CodeError`
    subclass for every way a code can be wrong; the verifier turns anything else into
    ``malformed``."""

    name: str
    title: str = ""                 # the name people know the format by (粤康码), shown on the pages
    title_en: str = ""

    @abstractmethod
    def detect(self, text: str) -> bool:
        """Is ``text`` (already trimmed, at most ``MAX_PAYLOAD_CHARS``) a code of this format?"""

    @abstractmethod
    def verify(self, text: str, trust: TrustList, now: int) -> Verified:
        """Every check the format's standard asks for, against the signed trust list, as of ``now``."""


class IssuingFormat(FormatAdapter):
    """A format this gateway also issues in: a region may name it as its native format."""

    @abstractmethod
    def issue(self, claims: dict, signer: SigningKey, online_url: str) -> tuple[str, str | None]:
        """(QR text, the signed status the region keeps and serves for an online code, else
        None).  ``online_url`` is the issuing region's registered status address ("" = none)."""


class RevocableFormat(FormatAdapter):
    """A foreign format whose certificates the operator withdraws by their own identifiers."""

    @abstractmethod
    def code_id_for(self, certificate_id: str) -> str:
        """The ``jti`` a verdict of this format carries for the certificate ``certificate_id``
        (EU DCC: its UVCI), so a revocation by identifier matches what verification checks."""


Configure = Callable[[Mapping[str, Any]], FormatAdapter]


@dataclass(frozen=True)
class Registration:
    adapter: FormatAdapter                  # with default options
    configure: Configure | None = None      # options from [format.<name>] → adapter


A = TypeVar("A", bound=FormatAdapter)
REGISTERED: dict[str, Registration] = {}


def missing_capabilities(adapter: object) -> list[str]:
    """The methods of the :class:`FormatAdapter` contract ``adapter`` does not have."""
    return [m for m in ("detect", "verify") if not callable(getattr(adapter, m, None))] + \
        ([] if isinstance(getattr(adapter, "name", None), str) else ["name"])


def register(adapter: A, configure: Configure | None = None) -> A:
    """Admit ``adapter`` to the registry under its ``name``; returns it.  TypeError for an
    object that is not a :class:`FormatAdapter` or whose name is not a plain identifier, and
    for a second, different format under a name already taken."""
    if not isinstance(adapter, FormatAdapter):
        lacking = missing_capabilities(adapter)
        raise TypeError(f"{adapter!r:.80} is not a FormatAdapter"
                        + (f" (it lacks {', '.join(lacking)})" if lacking else
                           " (subclass adapters.contract.FormatAdapter)"))
    name = getattr(adapter, "name", None)
    if not isinstance(name, str) or not name.isidentifier() or name.startswith("_"):
        raise TypeError(f"a format's name must be a plain identifier, not {name!r:.40}")
    if configure is not None and not callable(configure):
        raise TypeError(f"format {name}: configure must be callable")
    known = REGISTERED.get(name)
    if known is not None and known.adapter is not adapter:
        raise TypeError(f"format {name!r} is already registered")
    REGISTERED[name] = Registration(adapter, configure)
    return adapter
