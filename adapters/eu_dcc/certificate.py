"""Stage 3, the certificate: the CWT, the DCC inside it (schema by version), its events, the
holder, and the national claims a verdict carries."""
from __future__ import annotations

from typing import Any, Callable
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timezone



import standard
from standard.errors import CertificateInvalid, CwtInvalid, KeyUsageMismatch
from adapters import foreign_rules
from adapters.eu_dcc import schema as dcc_schema
from adapters.base import CLOCK_SKEW
from adapters.foreign_rules import DEFAULT_VERDICT_TTL, Event
from adapters.eu_dcc.decode import CWT_EXP, CWT_HCERT, CWT_IAT, CWT_ISS, ENTRY_NAMES, MAX_ISSUER_CHARS, TEST_DETECTED, TEST_NOT_DETECTED, COSTLY_TAGS, _cbor
from adapters.eu_dcc.signers import SignerCertificate

# === CWT and the DCC ==============================================================================
@dataclass(frozen=True)
class Cwt:
    iss: str | None
    iat: int | None
    exp: int | None
    dcc: dict


def _numeric_date(value: object, name: str) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) \
            or not math.isfinite(value) or not 0 <= value < 10**11:
        raise CwtInvalid(f"EU DCC CWT {name} is not a NumericDate")
    return int(value)


_TEXT_ONLY = frozenset({str})                   # the type of every key of a JSON object
_PLAIN_LEAVES = frozenset({str, int, bool})     # leaves the walk returns as themselves


def _json_safe(value: Any, depth: int = 0) -> Any:
    """CBOR → JSON data for schema validation: maps need text keys; bytes, tags, floats that
    are not finite and undefined values are refused (the DCC is JSON by definition)."""
    if depth > 8:
        raise CwtInvalid("EU DCC health certificate is nested too deeply")
    kind = type(value)
    if kind is str or kind is int or kind is bool or value is None:     # most leaves: no ABC check
        return value
    if kind is dict or isinstance(value, Mapping):           # cbor2 gives dicts: no ABC check
        if not _TEXT_ONLY.issuperset(map(type, value)) and not all(isinstance(k, str) for k in value):
            raise CwtInvalid("EU DCC health certificate has a non-text key")
        # null members are absent (some issuers write "t": null beside "v"); a text, integer or
        # boolean member below the depth limit is itself (no call for each of the DCC's ~17), and
        # a dict of only such members is itself (cbor2 made it for this walk alone: no copy)
        if depth < 8:
            if kind is dict and _PLAIN_LEAVES.issuperset(map(type, value.values())):
                return value
            return {k: v if type(v) in _PLAIN_LEAVES else _json_safe(v, depth + 1)
                    for k, v in value.items() if v is not None}
        return {k: _json_safe(v, depth + 1) for k, v in value.items() if v is not None}
    if kind is list or isinstance(value, (list, tuple)):
        return [_json_safe(v, depth + 1) for v in value]
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float) and math.isfinite(value):
        return value
    if isinstance(value, datetime):             # CBOR tag 0/1 (seen in Swedish certificates)
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, date):                 # CBOR tag 1004/100 (RFC 8943 full-date)
        return value.isoformat()
    raise CwtInvalid(f"EU DCC health certificate holds a CBOR {type(value).__name__}")


def _refused_tag(message: str) -> Callable[..., Any]:
    def refuse(*_: object) -> Any:
        raise CwtInvalid(message)
    return refuse


# A DCC is JSON (its schema is a JSON schema), which CBOR can say more than:
# * value sharing (RFC 8746's tags 28 and 29) lets a value be referenced again and again: cbor2
#   decodes the references as one object, and the walk below would copy it at each one — 8
#   references on each of 7 levels, 210 bytes, were 2 million values; 40 would never end;
# * a bignum (tags 2 and 3) is an integer of any size: a dose number of 20 000 bits passed schema
#   1.3 (a positive integer, no maximum) and crashed writing the verdict's "dose".
# * the tags whose meaning costs more than their bytes (decode.COSTLY_TAGS: a regular expression
#   is compiled, ...), kept inert before the signature is checked, are not JSON either.
# Each is refused while the payload is decoded (cbor2 calls these for the tags; no cost otherwise),
# so every integer of a DCC is one of CBOR's plain integers (at most 64 bits).
_REFUSED_TAGS = {
    29: _refused_tag("EU DCC CWT payload holds a CBOR shared reference (tag 29): JSON data shares no values"),
    2: _refused_tag("EU DCC CWT payload holds a CBOR bignum (tag 2): its integers fit in 64 bits"),
    3: _refused_tag("EU DCC CWT payload holds a CBOR bignum (tag 3): its integers fit in 64 bits"),
    **{tag: _refused_tag(f"EU DCC CWT payload holds CBOR tag {tag} (a decimal, bigfloat, rational, regular "
                         "expression or MIME message): not JSON data") for tag in COSTLY_TAGS},
}


def read_cwt(payload: bytes) -> Cwt:
    claims = _cbor(payload, CwtInvalid, "CWT payload", _REFUSED_TAGS)
    if not (type(claims) is dict or isinstance(claims, Mapping)):      # cbor2 gives dicts: no ABC check
        raise CwtInvalid("EU DCC CWT payload is not a map")
    iss = claims.get(CWT_ISS)
    if iss is not None and (not isinstance(iss, str) or len(iss) > MAX_ISSUER_CHARS):
        raise CwtInvalid(f"EU DCC CWT issuer is not text of at most {MAX_ISSUER_CHARS} characters")
    hcert = claims.get(CWT_HCERT)
    dcc = hcert.get(1) if type(hcert) is dict or isinstance(hcert, Mapping) else None
    if not (type(dcc) is dict or isinstance(dcc, Mapping)):
        raise CwtInvalid("EU DCC CWT has no health certificate (claim -260, member 1)")
    return Cwt(iss, _numeric_date(claims.get(CWT_IAT), "iat"),
               _numeric_date(claims.get(CWT_EXP), "exp"), _json_safe(dcc))


def validate_dcc(dcc: dict) -> str:
    """Schema check under the declared version (:mod:`.dcc_schema`); the one entry type present
    (``v``, ``t`` or ``r``)."""
    return dcc_schema.validate(dcc)[0]


def _entry_time(kind: str, entry: dict) -> int:
    return _date(entry.get({"v": "dt", "t": "sc", "r": "df"}[kind])) or 0


def primary_entry(dcc: dict, kind: str) -> dict:
    """The entry a verdict describes: the latest one (a 1.0–1.2 certificate may list several
    vaccinations; 1.3 allows one)."""
    entries = dcc[kind]
    if len(entries) == 1:
        return entries[0]
    return max(entries, key=lambda entry: _entry_time(kind, entry))


def check_certificate_validity(cert: SignerCertificate, now: int) -> None:
    if not cert.not_before - CLOCK_SKEW <= now <= cert.not_after + CLOCK_SKEW:
        raise CertificateInvalid(f"the signer certificate is valid only from {standard.rfc3339(cert.not_before)}"
                                 f" to {standard.rfc3339(cert.not_after)}")


def check_key_usage(cert: SignerCertificate, kind: str) -> None:
    if kind not in cert.types:
        allowed = ", ".join(ENTRY_NAMES[t] for t in sorted(cert.types))
        raise KeyUsageMismatch(f"the signer certificate may sign {allowed} certificates, "
                               f"not a {ENTRY_NAMES[kind]} certificate")


# === DCC → events =================================================================================
def _date(value: object) -> int | None:
    """ISO date or date-time → epoch seconds (dates at 00:00 UTC); None if unreadable."""
    if not isinstance(value, str) or len(value) > 40:
        return None
    try:
        if len(value) == 10:        # whole days since 1970-01-01: what midnight UTC's timestamp is
            return (date.fromisoformat(value).toordinal() - _EPOCH_ORDINAL) * 86400
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
        return int((parsed if parsed.tzinfo else parsed.replace(tzinfo=timezone.utc)).timestamp())
    except (ValueError, OverflowError):
        return None


_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_COUNTRY = re.compile(r"[A-Z]{2}", re.ASCII)
_TEST_RESULTS: dict[object, str] = {TEST_NOT_DETECTED: "negative", TEST_DETECTED: "positive"}


def event_of(kind: str, entry: dict) -> Event | None:
    """The one entry of a DCC as a foreign_rules event; None when its dates are unreadable
    (such an entry never makes anyone green)."""
    if kind == "v":
        at = _date(entry.get("dt"))
        return None if at is None else Event("vaccination", at, complete=entry["dn"] >= entry["sd"])
    if kind == "t":
        at = _date(entry.get("sc"))
        result = _TEST_RESULTS.get(entry.get("tr"))
        return None if at is None or result is None else Event("test", at, result=result)
    valid_from, until = _date(entry.get("df")), _date(entry.get("du"))
    if valid_from is None or until is None:
        return None
    return Event("recovery", _date(entry.get("fr")) or valid_from, valid_from=valid_from,
                 valid_until=until + 86399)          # "valid until" a date: the whole day


def holder_name(dcc: dict) -> str:
    """"Given Family" as printed, else the ICAO transliteration."""
    nam = dcc.get("nam") or {}
    given = nam.get("gn") or (nam.get("gnt") or "").replace("<", " ")
    family = nam.get("fn") or (nam.get("fnt") or "").replace("<", " ")
    return " ".join(f"{given} {family}".split())


def name_parts(dcc: dict) -> tuple[str, str]:
    """(family, given) in ICAO 9303 letters (``fnt``/``gnt``, ``<`` as a space) as EU verifier
    apps show them; a certificate without a transliteration gives its names as printed."""
    nam = dcc.get("nam") or {}
    family, given = (" ".join(str(nam.get(k) or "").replace("<", " ").split()) for k in ("fnt", "gnt"))
    if family or given:
        return family, given
    return " ".join(str(nam.get("fn") or "").split()), " ".join(str(nam.get("gn") or "").split())


def transliterated_name(dcc: dict) -> str:
    """"FAMILY, GIVEN" in ICAO 9303 letters, as EU verifier apps show it."""
    return ", ".join(p for p in name_parts(dcc) if p) or holder_name(dcc)


def country(cwt: Cwt, entry: dict) -> str:
    """ISO 3166-1 alpha-2 of the issuing country: the CWT issuer, else the entry's country."""
    for value in (cwt.iss, entry.get("co")):
        if isinstance(value, str) and _COUNTRY.fullmatch(value):
            return value
    return "EU"


def to_claims(cwt: Cwt, kind: str, status: str, reasons: list, valid_until: int | None, now: int,
              ttl: int = DEFAULT_VERDICT_TTL, *, entry: dict | None = None, region: str | None = None,
              name_masked: str | None = None) -> dict:
    """The national claims; ``entry``, ``region`` and ``name_masked`` are :func:`primary_entry`,
    :func:`country` and the masked :func:`name_parts`, computed here unless the caller has them."""
    if entry is None:
        entry = primary_entry(cwt.dcc, kind)
    nam = cwt.dcc["nam"]
    return foreign_rules.national_claims(
        region=region or country(cwt, entry), sub=subject_id(nam.get("fnt"), nam.get("gnt"), cwt.dcc["dob"]),
        jti=code_id_for(entry["ci"]), issued=cwt.iat if cwt.iat is not None else now,
        expires=cwt.exp, valid_until=valid_until, status=status, reasons=reasons,
        name_masked=name_masked or foreign_rules.masked_name(*name_parts(cwt.dcc)), now=now, ttl=ttl)


def code_id_for(uvci: str) -> str:
    """The verdict's ``code_id`` for a certificate identifier (UVCI): what a data manager
    revokes, without the UVCI itself ever being stored."""
    return foreign_rules.digest_id(f"dcc:{uvci.strip()}", 22)


def subject_id(fnt: object, gnt: object, dob: object) -> str:
    return foreign_rules.digest_id(f"dcc:{fnt}|{gnt}|{dob}", 24)


