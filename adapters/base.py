"""What every adapter shares: the validity-window check, and :class:`JwsClaimFormat`, the
declarative description of a JWS-in-QR code format (the verification result, :class:`Verified`,
is part of the contract in :mod:`adapters.contract`).

Chinese regional formats differ in claim names, status vocabulary, time units and QR prefix but
not in mechanism, so a province's adapter is a table, not code: see ``yuekang.py``.
"""
from __future__ import annotations

from typing import Any, Callable
import json
import logging
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from adapters.contract import IssuingFormat, SigningKey, Verified
from standard import jose
from standard.trustlist import TrustList
import standard
from standard.errors import (Expired, IssuerMismatch, LifetimeExceeded, Malformed, NotYetValid,
                             SchemaInvalid)

CLOCK_SKEW = 60


def check_validity(iat: int | None, exp: int | None, now: int, skew: int = CLOCK_SKEW) -> None:
    if exp is not None and now > exp + skew:
        raise Expired(f"code expired at {standard.rfc3339(exp)}")
    if iat is not None and iat > now + skew:
        raise NotYetValid(f"code is not valid before {_moment(iat)}")


LAST_MOMENT = 253402300799          # 9999-12-31T23:59:59Z: the last time RFC 3339 writes


def _moment(ts: int) -> str:
    """``ts`` in RFC 3339; a signed time past the year 9999 (which RFC 3339 cannot write) is
    named as after the last one it can."""
    return standard.rfc3339(ts) if ts <= LAST_MOMENT else f"a time after {standard.rfc3339(LAST_MOMENT)}"


def check_lifetime(claims: dict, limit: int) -> None:
    """exp − iat within the cap for the code's kind (§4.2): a stolen or backdated key cannot
    mint a code that outlives a week, and a phone code that lives for hours is no phone code."""
    if claims["exp"] - claims["iat"] > limit:
        raise LifetimeExceeded(f"a {claims['kind']} code may live at most {limit} s; this one "
                               f"lives {claims['exp'] - claims['iat']} s")


# --- time codecs: how a format writes an epoch second ------------------------------------------
def _iso_encode(ts: int) -> str:
    return datetime.fromtimestamp(ts, standard.CHINA_TZ).isoformat()


def _iso_decode(value: object) -> int:
    if not isinstance(value, str) or len(value) > 40:
        raise Malformed("time must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed("time is not ISO 8601") from None
    if parsed.tzinfo is None:
        raise Malformed("time has no UTC offset")
    return int(parsed.timestamp())


def _int_decode(scale: int) -> Callable[[object], int]:
    def decode(value: object) -> int:
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise Malformed("time must be a non-negative integer")
        return value // scale
    return decode


TIME_CODECS: dict[str, tuple[Callable[[int], Any], Callable[[object], int]]] = {
    "seconds": (lambda ts: ts, _int_decode(1)),
    "millis": (lambda ts: ts * 1000, _int_decode(1000)),
    "iso8601": (_iso_encode, _iso_decode),
}
TIME_FIELDS = ("iat", "exp")
OPTIONAL_FIELDS = ("prov", "dep")


@dataclass(frozen=True)
class JwsClaimFormat(IssuingFormat):
    """A code format = QR prefix + JWS whose payload renames the national claims.

    ``fields`` maps national claim → native claim; ``values`` maps national claim → {national
    value → native value} for enumerations (status colours, kinds, reasons); ``time`` names the
    codec for ``iat``/``exp``.
    """

    name: str
    prefix: str
    fields: dict
    values: dict = field(default_factory=dict)
    time: str = "seconds"
    typ: str = "JWT"
    title: str = ""             # the name people know the format by (粤康码), shown on the pages
    title_en: str = ""
    _reverse: dict = field(init=False, repr=False, compare=False)          # national → {native: national}
    _native_names: frozenset = field(init=False, repr=False, compare=False)
    _plan: tuple | None = field(init=False, repr=False, compare=False)           # how _national reads a code

    # -- pure mapping --------------------------------------------------------------------
    def to_native(self, claims: dict) -> dict:
        encode_time = TIME_CODECS[self.time][0]
        native = {}
        for national, value in claims.items():
            if national in TIME_FIELDS:
                value = encode_time(value)
            elif national in self.values:
                value = _map_value(self.values[national], value)
            native[self.fields[national]] = value
        return native

    def __post_init__(self) -> None:
        # Reverse value tables and the set of known native names, built once per format.
        object.__setattr__(self, "_reverse", {national: {v: k for k, v in table.items()}
                                              for national, table in self.values.items()})
        object.__setattr__(self, "_native_names", frozenset(self.fields.values()))
        object.__setattr__(self, "_plan", self._reading_plan())

    def _reading_plan(self) -> tuple | None:
        """What :meth:`_national` needs, or None (then every code goes through :meth:`from_native`):
        (national ← native renames in table order, how many claims are required, the time scale —
        0 for ISO 8601 —, the enumerations' reverse tables)."""
        names = list(self.fields.values())
        if len(set(names)) != len(names) or not set(TIME_FIELDS) <= self.fields.keys() \
                or not {*OPTIONAL_FIELDS, *TIME_FIELDS}.isdisjoint(self.values) or self.time not in TIME_CODECS:
            return None
        required = sum(1 for national in self.fields if national not in OPTIONAL_FIELDS)
        scale = {"seconds": 1, "millis": 1000, "iso8601": 0}[self.time]
        return (tuple(self.fields.items()), required, scale, tuple(self._reverse.items()))

    def _national(self, native: dict) -> dict:
        """:meth:`from_native`'s answer, read in one comprehension and a few fix-ups; a code it
        does not read plainly (an extra or missing claim, a time or value out of its table, any
        error) is read by :meth:`from_native`, whose answer or refusal stands."""
        plan = self._plan
        if plan is None:
            return self.from_native(native)
        renames, required, scale, tables = plan
        claims = {national: native[name] for national, name in renames if name in native}
        try:
            # every native claim known (names distinct), and only optional ones missing
            if len(claims) != len(native) or len(claims) - ("prov" in claims) - ("dep" in claims) != required:
                raise LookupError
            iat, exp = claims["iat"], claims["exp"]
            if scale:
                if type(iat) is not int or type(exp) is not int or iat < 0 or exp < 0:
                    raise TypeError
                if scale != 1:
                    claims["iat"], claims["exp"] = iat // scale, exp // scale
            else:
                claims["iat"], claims["exp"] = _iso_decode(iat), _iso_decode(exp)
            for national, table in tables:
                value = claims[national]
                claims[national] = [table[v] for v in value] if type(value) is list else table[value]
        except Exception:       # noqa: BLE001 — from_native reads it and says what is wrong
            return self.from_native(native)
        return claims

    def from_native(self, native: dict) -> dict:
        """Native claims → national claims.  A claim the format does not define is refused: the
        schema is closed (§3), so two verifiers never disagree about a code carrying extras."""
        unknown = native.keys() - self._native_names
        if unknown:
            raise SchemaInvalid(f"{self.name} code carries a claim the standard does not define: "
                                f"{str(sorted(unknown)[0])[:40]!r}")
        decode_time = TIME_CODECS[self.time][1]
        claims = {}
        for national, native_name in self.fields.items():
            if native_name not in native:
                if national in OPTIONAL_FIELDS:
                    continue
                raise Malformed(f"{self.name} code lacks claim {native_name!r}")
            value = native[native_name]
            if national in TIME_FIELDS:
                value = decode_time(value)
            elif national in self.values:
                value = _unmap_value(self._reverse[national], value, native_name)
            claims[national] = value
        return claims

    def table(self) -> dict:
        """The format as data, for verifiers outside Python (the checkpoint page verifies
        offline from this, so the browser reads the very table the server does)."""
        return {"name": self.name, "prefix": self.prefix, "typ": self.typ, "time": self.time,
                "fields": dict(self.fields), "values": {k: dict(v) for k, v in self.values.items()}}

    # -- adapter interface ------------------------------------------------------------------
    def detect(self, text: str) -> bool:
        return text.startswith(self.prefix)

    def encode(self, claims: dict, signer: SigningKey) -> str:
        """The QR text of ``claims`` signed by ``signer``: the prefix and a compact JWS."""
        standard.validate_claims(claims)
        header = {"alg": signer.alg, "kid": signer.kid, "typ": self.typ}
        body = json.dumps(self.to_native(claims), separators=(",", ":"), ensure_ascii=False)
        return self.prefix + jose.encode(body.encode("utf-8"), header, signer.private_key)

    def issue(self, claims: dict, signer: SigningKey, online_url: str) -> tuple[str, str | None]:
        """The QR carries the signed claims; nothing is kept for a status interface."""
        return self.encode(claims, signer), None

    def verify(self, text: str, trust: TrustList, now: int) -> Verified:
        """Every check of the standard's §4, in the order that spends least on a forgery.  What
        depends only on the trust list (the key's algorithm object, region, formats, lifetimes,
        delegation) is read once per list and key (``trust.verifying_key``)."""
        header, payload, signing_input, signature = jose.split(text[len(self.prefix):])
        if header.get("typ") != self.typ:
            raise Malformed(f"{self.name} codes have JWS typ {self.typ!r}")
        signer = trust.verifying_key(header.get("kid"))
        signer.check_signature(header["alg"], signing_input, signature)
        claims = standard.validate_claims(self._national(jose.json_object(payload)))
        region = signer.region
        if claims["region"] != region:
            raise IssuerMismatch("code claims a region other than its signer's")
        if self.name != "national" and not (self.name in signer.formats if signer.formats is not None
                                            else trust.issues(region, self.name)):
            raise IssuerMismatch(f"region {region} does not issue {self.name} codes")
        iat, exp = claims["iat"], claims["exp"]
        if iat > signer.signed_until:
            signer.key.check_usable(iat)
        if signer.delegated:
            trust.check_delegation(region, claims, self.name, now)
        lifetimes = signer.lifetimes
        limit = lifetimes[claims["kind"]] if lifetimes is not None else trust.lifetime(region, claims["kind"])
        if exp - iat > limit:
            check_lifetime(claims, limit)
        if now > exp + CLOCK_SKEW or iat > now + CLOCK_SKEW:
            check_validity(iat, exp, now)
        return Verified(self.name, claims, kid=signer.kid)


def _map_value(table: dict, value: Any) -> Any:
    if isinstance(value, list):
        return [table[v] for v in value]
    return table[value]


def _unmap_value(reverse: dict, value: Any, native_name: str) -> Any:
    try:
        if isinstance(value, list):
            return [reverse[v] for v in value]
        return reverse[value]
    except (KeyError, TypeError):
        raise Malformed(f"unknown value in claim {native_name!r}") from None


DECODER_CRASH = "decoder_crash"     # log record attribute: the type of a crash answered as malformed


def log_decoder_crash(logger: logging.Logger, fmt: str, exc: BaseException) -> None:
    """Log, at WARNING, a decoder bug that was answered as malformed: the exception's type and the
    frames it came through — never its message, which may quote the code (names in clear).  The
    record carries ``decoder_crash`` so tests fail on it (tests/support/crashes.py)."""
    frames = traceback.extract_tb(exc.__traceback__)[-4:]
    where = " < ".join(f"{Path(f.filename).name}:{f.lineno} {f.name}" for f in reversed(frames)) or "?"
    logger.warning("%s decoder crashed (%s at %s); answered as malformed", fmt, type(exc).__name__, where,
                   extra={DECODER_CRASH: type(exc).__name__}, stacklevel=2)
