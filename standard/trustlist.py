"""The national trust list: every region's public keys in one document signed by a national key.

A verifier needs only the pinned national public key and a cached copy of this document to check
any code offline.  Keys carry a status: *active*, *retired* (still verifies codes issued before
its retirement) or *revoked* (verifies nothing).  Foreign trust anchors (EU DCC signer
certificates, SMART Health Card issuer keys) ride along as ``anchors``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Iterable, Protocol, TypeVar

from standard import MAX_LIFETIME, delegation, jose
from standard import ONLINE_FORMAT, revocation_file
from standard.errors import HealthCodeError, KeyRevoked, Malformed, TrustListFull, TrustListInvalid, UnknownKey

T = TypeVar("T")

TYP = "hc-trust-list+jwt"
DEFAULT_TTL = 7 * 86400
MAX_TTL = 7 * 86400          # no list lives longer than this from its ``iat``, whatever its ``exp`` says
CLOCK_SKEW = 60              # an ``iat`` at most this far ahead of the verifier's clock
SEQ_LEAD = 3600              # a ``seq`` at most this far ahead of the list's own ``iat``


_NO_DELEGATION_NEEDED = object()      # a province's entry: its codes need no delegation (§7.1)


@dataclass(frozen=True)
class TrustedKey:
    kid: str
    region: str
    alg: str
    public_key: object = field(repr=False)
    status: str = "active"
    nbf: int = 0
    retired_at: int | None = None
    revoked_at: int | None = None

    def check_usable(self, issued_at: int) -> None:
        """A revoked key verifies nothing; a retired one only what it signed before retiring."""
        if self.status == "revoked":
            raise KeyRevoked(f"signing key {self.kid} was revoked")
        if self.retired_at is not None and issued_at > self.retired_at:
            raise KeyRevoked(f"signing key {self.kid} was retired before this code was issued")


class VerifyingKey:
    """Everything the trust list says of one key that a code signed under it is checked against,
    gathered once per list (:meth:`TrustList.verifying_key`): the signature check under the one
    algorithm its region registered for it, its region, the formats that region issues, how long
    its codes may live, until when it may have signed, and its region's delegation (a city's).
    Nothing here depends on a code, so a code pays only for the checks themselves."""

    __slots__ = ("key", "kid", "region", "check_signature", "formats", "lifetimes", "signed_until",
                 "delegated")

    def __init__(self, trust: "TrustList", key: TrustedKey) -> None:
        self.key = key
        self.kid = key.kid
        self.region = key.region
        registered = set(trust.algorithms(key.region)) & {key.alg} & set(jose.NATIONAL_ALGORITHMS)
        self.check_signature = jose.KeyCheck(key.public_key, registered, low_s=True)
        # None where the entry cannot be read ahead: each code then asks issues() and lifetime()
        self.formats: frozenset[str] | None
        self.lifetimes: dict[str, int] | None
        try:
            self.formats = frozenset(fmt for fmt in trust.issued_formats(key.region))
        except Exception:       # noqa: BLE001
            self.formats = None
        try:
            self.lifetimes = {kind: trust.lifetime(key.region, kind) for kind in MAX_LIFETIME}
        except Exception:       # noqa: BLE001
            self.lifetimes = None
        # a code issued after this is refused by key.check_usable (revoked: every code)
        self.signed_until: float = (float("-inf") if key.status == "revoked" else
                                    key.retired_at if key.retired_at is not None else float("inf"))
        # its codes go through TrustList.check_delegation (a city's, or one whose entry could
        # not be judged here: each code then fails where check_delegation fails)
        try:
            self.delegated = trust.delegation_held(key.region) is not _NO_DELEGATION_NEEDED
        except Exception:       # noqa: BLE001 — decided per code, as without this record
            self.delegated = True


class TrustList:
    def __init__(self, payload: dict, anchors: tuple = ()):
        self.payload = payload
        self.revocation_file: "revocation_file.Held | None" = None    # attached once its hash is checked
        self.seq = payload.get("seq", 0)
        self.expires = payload.get("exp", 0)
        self.regions: dict[str, dict] = {}
        self.keys: dict[str, TrustedKey] = {}
        for issuer in payload.get("issuers", []):
            self.regions[issuer["region"]] = issuer
            for jwk in issuer.get("keys", []):
                self.keys[jwk["kid"]] = TrustedKey(
                    kid=jwk["kid"], region=issuer["region"], alg=jwk["alg"],
                    public_key=jose.public_key_from_jwk(jwk), status=jwk.get("status", "active"),
                    nbf=jwk.get("nbf", 0), retired_at=jwk.get("retired_at"),
                    revoked_at=jwk.get("revoked_at"))
        self.revoked_jti = frozenset(payload.get("revoked_jti", ()))
        self.anchors = tuple(payload.get("anchors", ())) + tuple(anchors)
        self.foreign_revocations = payload.get("foreign_revocations") or {}
        self._anchor_indexes: dict = {}
        self._grants: dict[str, object] = {}     # region → its checked delegation, refusal, or none needed
        self._verifying_keys: dict[str, VerifyingKey] = {}     # kid → what the list says of it (once)
        self._city_issuers: dict[str, dict | None] = {}

    def verifying_key(self, kid: str | None) -> VerifyingKey:
        """:class:`VerifyingKey` of ``kid``, built on its first code; the errors of :meth:`key`."""
        found = self._verifying_keys.get(kid) if isinstance(kid, str) else None
        if found is None:
            found = VerifyingKey(self, self.key(kid))
            self._verifying_keys[found.kid] = found          # only listed kids: bounded by the list
        return found

    def key(self, kid: str | None) -> TrustedKey:
        if not kid:
            raise Malformed("code has no key id")
        try:
            return self.keys[kid]
        except KeyError:
            raise UnknownKey("code was signed by a key that is not on the national trust list") from None

    def algorithms(self, region: str) -> tuple[str, ...]:
        return tuple(self.regions.get(region, {}).get("algorithms", ()))

    def lifetime(self, region: str, kind: str) -> int:
        """The longest life a ``kind`` code of ``region`` may have: what the region registered,
        never more than the standard's cap (a list without ``lifetimes`` gets the cap)."""
        cap = MAX_LIFETIME.get(kind, 0)
        registered = self.regions.get(region, {}).get("lifetimes", {}).get(kind)
        return min(cap, registered) if isinstance(registered, int) and not isinstance(registered, bool) else cap

    def check_delegation(self, region: str, claims: dict, fmt: str, now: int) -> None:
        """A code of a city (an entry with a ``parent``, or a code below province level) verifies
        only under a delegation from its province that covers it (§7.1); a province's code passes.
        What each region needs is decided once per list (the delegation's signature included);
        only the cover is checked per code."""
        held = self.delegation_held(region)
        if held is _NO_DELEGATION_NEEDED:
            return
        if isinstance(held, HealthCodeError):
            raise held.__class__(held.message)
        assert isinstance(held, delegation.Grant)
        delegation.check_code(held, claims, fmt, now)

    def delegation_held(self, region: str) -> object:
        """What ``region``'s codes need, decided once per list: a checked :class:`delegation.Grant`,
        the refusal (a HealthCodeError, raised anew for each code), or no delegation at all."""
        held = self._grants.get(region)
        if held is None:
            entry = self.regions.get(region)
            if entry is None or not delegation.is_city_entry(entry):
                held = _NO_DELEGATION_NEEDED
            else:
                try:
                    held = delegation.check_entry(entry, self)
                except HealthCodeError as exc:
                    held = exc
            self._grants[region] = held
        return held

    def city_issuer(self, region: str | None) -> dict | None:
        """For a city's region, the city and the province it issues under, by code and name as
        the list registers them (``{"region", "name", "parent", "parent_name"}``); else None.
        Read once per region and list; each caller gets its own dict."""
        key = region or ""
        if key not in self.regions:
            return None
        if key not in self._city_issuers:               # bounded by the list's regions
            self._city_issuers[key] = self._read_city_issuer(region)
        found = self._city_issuers[key]
        return dict(found) if found is not None else None

    def _read_city_issuer(self, region: str | None) -> dict | None:
        entry = self.regions.get(region or "", {})
        parent = entry.get("parent")
        if not parent:
            return None
        return {"region": region, "name": entry.get("name"), "parent": parent,
                "parent_name": self.regions.get(parent, {}).get("name")}

    def region_format(self, region: str) -> str | None:
        return self.regions.get(region, {}).get("format")

    def issued_formats(self, region: str) -> tuple[str, ...]:
        """The formats :meth:`issues` says ``region`` issues."""
        entry = self.regions.get(region, {})
        return tuple(fmt for fmt in (entry.get("format"), entry.get("online", {}).get("format"))
                     if isinstance(fmt, str))

    def issues(self, region: str, fmt: str) -> bool:
        """Does ``region`` issue codes of ``fmt``: its signed format, or its online one."""
        entry = self.regions.get(region, {})
        return fmt == entry.get("format") or fmt == entry.get("online", {}).get("format")

    def online_url(self, region: str) -> str | None:
        """Where ``region`` registered its status interface for online codes (None: it has none).
        Signed with the rest of the list, so a QR cannot name another address."""
        url = self.regions.get(region, {}).get("online", {}).get("status_url")
        return url if isinstance(url, str) and url else None

    def anchors_for(self, kind: str) -> list[dict]:
        """Foreign trust anchors of one kind: ``x509`` ({"der_b64"}) or ``jwk`` ({"jwk", "iss"?})."""
        return [a for a in self.anchors if a.get("type") == kind]

    def anchor_index(self, kind: str, build: Callable[[list[dict]], T]) -> T:
        """``build(anchors of kind)``, computed once per trust list: a format indexes its anchors
        (by DCC kid, by JWK thumbprint) once instead of parsing every anchor on every scan.  Two
        threads may both build it; the results are equal, so either may win."""
        key = (kind, build)
        if key not in self._anchor_indexes:
            self._anchor_indexes[key] = build(self.anchors_for(kind))
        return self._anchor_indexes[key]

    def section_index(self, name: str, build: Callable[[Any], T]) -> T:
        """``build(payload[name] or {})``, computed once per trust list, like :meth:`anchor_index`
        (imported EU business rules and foreign revocation lists are parsed once, not per scan)."""
        key = ("section", name, build)
        if key not in self._anchor_indexes:
            self._anchor_indexes[key] = build(self.payload.get(name) or {})
        return self._anchor_indexes[key]

    def with_anchors(self, anchors: Iterable[dict]) -> "TrustList":
        """A copy that also trusts ``anchors`` (e.g. a test file's signer certificate)."""
        copy = TrustList(self.payload, tuple(self.anchors) + tuple(anchors))
        copy.revocation_file = self.revocation_file
        copy._grants = self._grants
        copy._verifying_keys = self._verifying_keys
        copy._city_issuers = self._city_issuers
        return copy


# --- building and signing (gateway side) -----------------------------------------------------
class RegisteredRegion(Protocol):
    """What a region's trust-list entry says of it (``config.settings.Region`` is one)."""

    @property
    def code(self) -> str: ...

    @property
    def name(self) -> str: ...

    @property
    def format(self) -> str: ...

    @property
    def algorithms(self) -> tuple[str, ...]: ...

    @property
    def dynamic_ttl(self) -> int: ...

    @property
    def offline_ttl(self) -> int: ...

    @property
    def online_url(self) -> str: ...

    @property
    def parent(self) -> str: ...


def issuer_entry(region: RegisteredRegion, jwks: list[dict], delegated: dict | None = None) -> dict:
    """One region's entry: what it issues, how, and its keys (a settings.Region and its JWKs); a
    city's names the province it issues under as ``parent``, and carries ``delegated``: its
    delegation from that province or the withdrawal (§7.1)."""
    return {"region": region.code, "name": region.name,
            **({"parent": region.parent, **(delegated or {})} if region.parent else {}),
            "format": region.format,
            "algorithms": list(region.algorithms),
            "lifetimes": {"dynamic": region.dynamic_ttl, "offline": region.offline_ttl},
            "keys": list(jwks),
            **({"online": {"format": ONLINE_FORMAT, "status_url": region.online_url}}
               if region.online_url else {})}


def build_payload(issuers: list[dict], now: int, revoked_jti: Iterable[str] = (), anchors: Iterable[dict] = (),
                  ttl: int = DEFAULT_TTL, foreign_revocations: dict | None = None,
                  dcc_rules: dict | None = None) -> dict:
    """``dcc_rules``: imported EU business rules per country and value sets
    (``{"rules": {country: [rule]}, "value_sets": {id: [codes]}}``), present only when some are;
    ``foreign_revocations``: imported EU DCC and SHC revocation lists, likewise."""
    now = int(now)
    payload = {"typ": "hc-trust-list", "ver": "1.0", "seq": now, "iat": now, "exp": now + ttl,
               "issuers": list(issuers), "revoked_jti": sorted(revoked_jti), "anchors": list(anchors)}
    if foreign_revocations:
        payload["foreign_revocations"] = foreign_revocations
    if dcc_rules:
        payload["dcc_rules"] = dcc_rules
    return payload


def sign(payload: dict, signer: jose.SigningKey) -> str:
    """``signer``: the national key."""
    header = {"alg": signer.alg, "kid": signer.kid, "typ": TYP}
    body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return jose.encode(body, header, signer.private_key)


# --- loading (verifier side) -----------------------------------------------------------------
MAX_TRUST_LIST_CHARS = 5_000_000


SIGNED_OVERHEAD = 2 + 200 + 86    # two dots, a header of at most 200 base64url characters, a
                                  # 64-byte signature (ES256 or EdDSA, the national algorithms)


def signed_chars(payload: dict) -> int:
    """At most how many characters :func:`sign` makes of ``payload``: its JSON exactly as
    :func:`sign` writes it, in unpadded base64url, plus :data:`SIGNED_OVERHEAD`."""
    body = len(json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode())
    return (4 * body + 2) // 3 + SIGNED_OVERHEAD


def fits(payload: dict) -> bool:
    """Would the signed list of ``payload`` be accepted by every verifier (its size)?"""
    return signed_chars(payload) <= MAX_TRUST_LIST_CHARS


def check_fits(payload: dict, change: str = "this change") -> None:
    """Refuse (TrustListFull) a change whose resulting list would not fit: run it on the
    payload the change would produce, before the change is stored, at every write."""
    size = signed_chars(payload)
    if size > MAX_TRUST_LIST_CHARS:
        raise TrustListFull(f"{change} would make the signed trust list {size:,} characters; verifiers "
                            f"accept at most {MAX_TRUST_LIST_CHARS:,}. Nothing was changed.")


def national_key_usable(jwk: dict, issued_at: int) -> str | None:
    """Why the pinned national key ``jwk`` may not vouch for a list issued at ``issued_at``, or
    None: the regional rule — a revoked key verifies nothing, a retired one only what it signed
    before it was retired (with :data:`MAX_TTL`, a list backdated under a stolen retired key is
    dead at most 7 days after the retirement)."""
    if jwk.get("status") == "revoked":
        return f"national key {jwk.get('kid')} was revoked"
    retired_at = jwk.get("retired_at")
    if jwk.get("status") == "retired" and not isinstance(retired_at, int):
        return f"national key {jwk.get('kid')} is retired"
    if isinstance(retired_at, int) and issued_at > retired_at:
        return f"national key {jwk.get('kid')} was retired before this list was issued"
    return None


def effective_min_seq(min_seq: int, now: int) -> int:
    """The ``seq`` floor a verifier applies: the highest it accepted before — unless that is
    further ahead than any list accepted under :func:`parse`'s rules can be (``now +
    CLOCK_SKEW + SEQ_LEAD``).  Such a floor came from a list signed before these rules (a
    far-future ``seq``) and would refuse every genuine list for ever; it is dropped, and the next
    accepted list sets a new one."""
    return 0 if int(min_seq) > int(now) + CLOCK_SKEW + SEQ_LEAD else int(min_seq)


def _int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def parse(token: str, national_keys: dict, now: int | None = None, min_seq: int = 0) -> TrustList:
    """Check the national signature and freshness, then index the keys.  ``min_seq`` is the
    highest ``seq`` this verifier has accepted before: an older list, even one still inside its
    7 days, would bring back codes and keys revoked since, so it is refused.

    A list is refused when its national key is revoked, or retired before the list's ``iat``;
    when its ``iat`` is ahead of ``now`` (more than :data:`CLOCK_SKEW`), its ``seq`` more than
    :data:`SEQ_LEAD` ahead of its ``iat``, or ``exp`` more than :data:`MAX_TTL` after ``iat``.
    So a list can carry no ``seq`` a genuine list signed later would not beat."""
    now = int(now or time.time())
    try:
        if not isinstance(token, str):
            raise Malformed("trust list is not text")
        parsed = jose.parse(token.strip(), MAX_TRUST_LIST_CHARS)
        if parsed.header.get("typ") != TYP:
            raise Malformed("not a trust list")
        pinned = {k["kid"]: k for k in national_keys.get("keys", []) if k.get("status") != "revoked"}
        jwk = pinned.get(parsed.kid)
        if jwk is None:
            raise UnknownKey("trust list signed by an unknown national key")
        allowed = {jwk.get("alg", "ES256")} & set(jose.NATIONAL_ALGORITHMS)
        jose.check_signature(parsed, jose.public_key_from_jwk(jwk), allowed, low_s=True)
        payload = jose.json_payload(parsed)
    except (Malformed, UnknownKey) as exc:
        raise TrustListInvalid(f"trust list rejected: {exc.message}") from None
    except Exception as exc:      # noqa: BLE001 — any failure here means "do not trust"
        raise TrustListInvalid(f"trust list rejected: {getattr(exc, 'message', exc.__class__.__name__)}") from None
    iat, exp, seq = payload.get("iat"), payload.get("exp"), payload.get("seq")
    if not (isinstance(iat, int) and isinstance(exp, int) and isinstance(seq, int)) \
            or not (_int(iat) and _int(exp) and _int(seq)):
        raise TrustListInvalid("trust list rejected: iat, exp and seq must be integers")
    refused = national_key_usable(jwk, iat)
    if refused:
        raise TrustListInvalid(f"trust list rejected: {refused}")
    if iat > now + CLOCK_SKEW:
        raise TrustListInvalid("trust list rejected: issued in the future (iat ahead of this verifier's clock)")
    if exp - iat > MAX_TTL:
        raise TrustListInvalid(f"trust list rejected: it would live longer than {MAX_TTL // 86400} days")
    if seq > iat + SEQ_LEAD:
        raise TrustListInvalid("trust list rejected: its seq is far ahead of its iat")
    if exp < now:
        raise TrustListInvalid("trust list has expired; refresh it from the gateway")
    floor = effective_min_seq(min_seq, now)
    if seq < floor:
        raise TrustListInvalid(f"trust list seq {seq} is older than one this verifier already "
                               f"accepted ({floor}); a replayed list would bring back revoked codes")
    return TrustList(payload)
