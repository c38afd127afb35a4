"""Deployment configuration: which regions exist, their rules, and where data lives.

Read once from ``config/regions.toml`` (or ``$HEALTHCODE_CONFIG``) into frozen objects, so code
paths never re-read files while verifying.
"""
from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from standard import KINDS, MAX_LIFETIME, ONLINE_FORMAT, PROJECT_ROOT, SEVERITY
from standard import MAX_IMAGE_BYTES, MAX_PAYLOAD_CHARS  # noqa: F401 — the standard's limits, read with the config's
from standard.errors import ConfigInvalid, UnknownRegion
from standard.jose import NATIONAL_ALGORITHMS

DEFAULT_CONFIG = PROJECT_ROOT / "config" / "regions.toml"

# Constant-size limits on everything a stranger can send us.
MAX_BATCH_ITEMS = 500
MAX_REQUEST_BYTES = 8_000_000


DEFAULT_LIMITS = {
    # Every limit is keyed on the caller's credential (or, for anonymous verification, the
    # client address the server saw) — never on anything the caller writes in the body.
    "kiosk_lookups_per_hour": 600,          # per kiosk: a card read every 6 s
    "kiosk_lookups_per_minute": 30,         # ... and no bursts faster than one every 2 s
    "assisted_per_helper_per_hour": 20,     # ID number + name guessing stops here
    "assisted_per_helper_per_minute": 5,
    "dependent_binds_per_hour": 20,         # per helper/operator credential
    "dependents_per_holder": 10,            # one person may carry at most this many others' codes
    "anonymous_verifications_per_minute": 600,    # per client (address or credential), all processes on the data directory together
    "anonymous_verifications_per_ipv6_48_per_minute": 6000,   # all the /64s of one IPv6 /48 together
    "prints_per_credential_per_minute": 10,  # print requests (each ≤ 200 cards) per credential
    "prints_per_credential_per_hour": 60,
}


@dataclass(frozen=True)
class Region:
    code: str
    name: str
    name_en: str
    format: str
    algorithms: tuple[str, ...]
    dynamic_ttl: int
    offline_ttl: int
    rules: dict = field(default_factory=dict, hash=False, compare=False)
    issuer_url: str = ""
    online_url: str = ""        # base URL of its status interface for online codes ("" = none)
    renew_at: str = ""          # where its people get a new printed card ("" = the card's generic words)
    renew_at_en: str = ""
    parent: str = ""            # the province a city issues under ("" = a province-level region)

    @property
    def area_prefix(self) -> str:
        """The leading digits of the resident ID numbers (GB/T 2260 division) this region serves:
        a province's two (44 → 440000), a city's four (4401 → 440100)."""
        return self.code[:4] if self.parent else self.code[:2]

    def as_public(self) -> dict:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "format": self.format,
                **({"parent": self.parent} if self.parent else {})}


CUSTODY_KINDS = ("file", "pkcs11")
# What a PKCS#11 token can hold and sign with here (CKM_ECDSA on P-256, CKM_EDDSA on Ed25519);
# SM2 and RSA-PSS keys stay in key files.  docs/security.md, "Key custody".
TOKEN_ALGORITHMS = ("ES256", "EdDSA")
NATIONAL_OWNER = "national"


@dataclass(frozen=True)
class TokenCustody:
    """``[custody]`` with ``kind = "pkcs11"``: which token holds the signing keys of ``owners``
    (``national`` and region codes; unset in the file = the national key and every region whose
    first algorithm is in :data:`TOKEN_ALGORITHMS`, so an SM2 region keeps key files).  The PIN is read when the token is
    opened, from the environment variable ``pin_env`` or the file ``pin_file`` — never from
    this configuration."""
    module: str
    token_label: str
    pin_env: str = ""
    pin_file: str = ""
    owners: tuple[str, ...] = ()

    def holds(self, owner: str) -> bool:
        return not self.owners or owner in self.owners


@dataclass(frozen=True)
class Settings:
    regions: tuple[Region, ...]
    data_dir: Path
    retention_days: int = 30
    extra_formats: tuple[str, ...] = ()     # foreign formats verified but not issued here
    format_options: dict = field(default_factory=dict, hash=False, compare=False)
    limits: dict = field(default_factory=dict, hash=False, compare=False)
    issuer_url: str = ""                    # default base URL of regional issuers
    document_regions: dict = field(default_factory=dict, hash=False, compare=False)
    # Peers whose X-Real-IP / X-Forwarded-For name the client (gateway/proxy.py); none by default,
    # so a client connecting directly can never choose the address its limits are keyed on.
    trusted_proxies: tuple = ()
    # Where new signing keys are made and kept: None = key files under data/keys (the default)
    custody: TokenCustody | None = None

    def issuer_url_for(self, region: "Region") -> str:
        return region.issuer_url or self.issuer_url

    def formats(self) -> tuple[str, ...]:
        """Every format this deployment reads, national first, each once."""
        names = ["national", *(r.format for r in self.regions),
                 *(ONLINE_FORMAT for r in self.regions if r.online_url), *self.extra_formats]
        return tuple(dict.fromkeys(names))

    def region(self, code: str) -> Region:
        for region in self.regions:
            if region.code == code:
                return region
        # Repeated only when it has a region code's shape (six digits): a caller who swapped
        # fields may have sent an ID number here (§10: no error repeats personal data).
        shown = repr(code) if isinstance(code, str) and re.fullmatch(r"[0-9]{6}", code) else "given"
        raise UnknownRegion(f"region {shown} is not configured")

    def region_codes(self) -> list[str]:
        return [r.code for r in self.regions]

    def region_for_division(self, division: str) -> str:
        """The region that serves people of a GB/T 2260 division (an ID number's first six
        digits): the city configured for its first four digits, else its province (which may
        not be configured: the caller's ``region`` lookup then says ``region_unknown``)."""
        for region in self.regions:
            if region.parent and division[:4] == region.area_prefix:
                return region.code
        return division[:2] + "0000"


REGION_REQUIRED = ("code", "name", "format")


def _region(entry: dict, defaults: dict) -> Region:
    missing = [key for key in REGION_REQUIRED if entry.get(key) in (None, "")]
    if missing:
        raise ConfigInvalid(f"region {str(entry.get('code', '?'))[:20]}: {', '.join(missing)} required "
                            "(a [[region]] needs code, name and format)")
    if not isinstance(entry["format"], str) or not isinstance(entry["name"], str):
        raise ConfigInvalid(f"region {str(entry['code'])[:20]}: name and format must be text")
    return _checked(Region(
        code=str(entry["code"]),
        name=entry["name"],
        name_en=entry.get("name_en", entry["name"]),
        format=entry["format"],
        algorithms=tuple(entry.get("algorithms", ["ES256"])),
        dynamic_ttl=int(entry.get("dynamic_ttl", defaults.get("dynamic_ttl", 300))),
        offline_ttl=int(entry.get("offline_ttl", defaults.get("offline_ttl", 604800))),
        rules=dict(entry.get("rules", {})),
        issuer_url=entry.get("issuer_url", ""),
        online_url=_online_url(entry),
        renew_at=str(entry.get("renew_at", "")).strip(),
        renew_at_en=str(entry.get("renew_at_en", "")).strip(),
        parent=str(entry.get("parent", "")),
    ))


def _online_url(entry: dict) -> str:
    """A region that offers online codes registers where its status interface is; the
    ``HEALTHCODE_ONLINE_URL`` override (a deployment behind a proxy, tests on a free port)
    moves every such region at once.  Only a plain http(s) origin with an optional path."""
    url = entry.get("online_url", "")
    if url and os.environ.get("HEALTHCODE_ONLINE_URL"):
        url = os.environ["HEALTHCODE_ONLINE_URL"]
    if not url:
        return ""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment \
            or parts.username or parts.password:
        raise ConfigInvalid(f"region {entry.get('code')}: online_url must be an http(s) URL without "
                            "query, fragment or credentials")
    return url.rstrip("/")


def _checked(region: Region) -> Region:
    """A region may be stricter than the standard, never looser (§4.1, §4.2): refuse to start
    rather than issue codes that every other verifier refuses."""
    bad = [alg for alg in region.algorithms if alg not in NATIONAL_ALGORITHMS]
    if not region.algorithms or bad:
        raise ConfigInvalid(f"region {region.code}: algorithms must be among "
                            f"{', '.join(NATIONAL_ALGORITHMS)} (not {', '.join(bad) or 'none'})")
    if bool(region.renew_at) != bool(region.renew_at_en) or len(region.renew_at) > 24 or len(region.renew_at_en) > 56:
        raise ConfigInvalid(f"region {region.code}: renew_at and renew_at_en go together, at most 24 and 56 "
                            "characters (each is one line of the printed card)")
    for kind in KINDS:
        ttl = getattr(region, f"{kind}_ttl")
        if not 0 < ttl <= MAX_LIFETIME[kind]:
            raise ConfigInvalid(f"region {region.code}: {kind}_ttl must be 1..{MAX_LIFETIME[kind]} s "
                                f"(the standard's cap), not {ttl}")
    return region


def _regions(entries: list, defaults: dict) -> tuple[Region, ...]:
    """Every ``[[region]]`` in the file's order.  A city (``parent``) takes what it does not set
    itself from its province: lifetimes, and each rule it does not name."""
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        raise ConfigInvalid("[[region]] entries must be tables")
    built = [None if entry.get("parent") else _region(entry, defaults) for entry in entries]
    provinces = {region.code: region for region in built if region is not None}
    regions = []
    for entry, region in zip(entries, built):
        province = provinces.get(str(entry["parent"])) if region is None else None
        if region is None and province is not None:
            own_rules = entry.get("rules", {})
            if not isinstance(own_rules, dict):
                raise ConfigInvalid(f"region {str(entry.get('code'))[:20]}: [region.rules] must be a table")
            inherited = {**defaults, "dynamic_ttl": province.dynamic_ttl, "offline_ttl": province.offline_ttl}
            region = _region({**entry, "rules": {**province.rules, **own_rules}}, inherited)
        regions.append(region or _region(entry, defaults))
    return _checked_cities(tuple(regions))


def _checked_cities(regions: tuple[Region, ...]) -> tuple[Region, ...]:
    """A city issues under a province configured here, inside it, and by rules that may be
    stricter than the province's but never looser: a person must not get a greener code, or
    one that lives longer, by living in the city."""
    by_code = {r.code: r for r in regions}
    if len(by_code) < len(regions):
        twice = next(r.code for r in regions if sum(o.code == r.code for o in regions) > 1)
        raise ConfigInvalid(f"region {twice[:20]} is configured twice")
    for city in regions:
        if not city.parent:
            continue
        province = by_code.get(city.parent)
        if province is None or province.parent:
            raise ConfigInvalid(f"region {city.code}: parent {city.parent[:20]!r} must be a province-level "
                                "region configured here")
        if not re.fullmatch(r"[0-9]{4}00", city.code) or city.code.endswith("0000") \
                or city.code[:2] != province.code[:2]:
            raise ConfigInvalid(f"region {city.code}: a city's code is a prefecture-level GB/T 2260 code "
                                f"inside its province {province.code} (same first two digits, ending in 00)")
        looser = _looser_than(city, province)
        if looser:
            raise ConfigInvalid(f"region {city.code}: a city's rules may be stricter than its province's "
                                f"({province.code}), never looser: {looser}")
    return regions


def _looser_than(city: Region, province: Region) -> str:
    """What of ``city`` is looser than ``province`` ("" when nothing is)."""
    for kind in KINDS:
        mine, theirs = getattr(city, f"{kind}_ttl"), getattr(province, f"{kind}_ttl")
        if mine > theirs:
            return f"{kind}_ttl {mine} s is longer than {theirs} s"
    mine_rules, theirs_rules = city.rules, province.rules
    for fact, default in (("positive_test", "red"), ("close_contact", "red"), ("symptoms", "yellow")):
        mine, theirs = mine_rules.get(fact, default), theirs_rules.get(fact, default)
        if SEVERITY.get(str(mine), -1) < SEVERITY.get(str(theirs), 0):
            return f"{fact} gives {mine!r} where the province gives {theirs!r}"
    for travel in ("high_risk_travel", "medium_risk_travel"):
        theirs = theirs_rules.get(travel)
        if not isinstance(theirs, dict) or not theirs:
            continue
        own = mine_rules.get(travel)
        trip: dict = own if isinstance(own, dict) else {}
        if SEVERITY.get(str(trip.get("status")), -1) < SEVERITY.get(str(theirs.get("status")), 0):
            return f"{travel} gives {trip.get('status')!r} where the province gives {theirs.get('status')!r}"
        if not isinstance(trip.get("days"), int) or not isinstance(theirs.get("days", 0), int) \
                or trip["days"] < theirs.get("days", 0):
            return f"{travel} counts {trip.get('days')} days where the province counts {theirs.get('days')}"
    mine_days, theirs_days = mine_rules.get("test_required_days", 0), theirs_rules.get("test_required_days", 0)
    if theirs_days and not (isinstance(mine_days, int) and 0 < mine_days <= theirs_days):
        return f"test_required_days {mine_days} where the province requires a test within {theirs_days} days"
    return ""


def trusted_proxies(text: str) -> tuple:
    """``HEALTHCODE_TRUSTED_PROXIES``: addresses or networks, comma- or space-separated
    (``127.0.0.1``, ``10.0.0.0/24``, ``::1``).  Anything else refuses to start."""
    networks = []
    for item in re.split(r"[,\s]+", text.strip()):
        if not item:
            continue
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ConfigInvalid("HEALTHCODE_TRUSTED_PROXIES must list IP addresses or networks "
                                f"(e.g. 127.0.0.1, 10.0.0.0/24), not {item[:60]!r}") from None
    return tuple(networks)


def _custody(entry: object, regions: tuple[Region, ...]) -> TokenCustody | None:
    if entry is None:
        return None
    if not isinstance(entry, dict):
        raise ConfigInvalid("[custody] must be a table")
    unknown = set(entry) - {"kind", "module", "token_label", "pin_env", "pin_file", "owners"}
    if unknown:
        raise ConfigInvalid(f"[custody]: unknown setting {sorted(unknown)[0][:40]!r}")
    kind = entry.get("kind", "file")
    if kind not in CUSTODY_KINDS:
        raise ConfigInvalid(f"[custody] kind must be one of {', '.join(CUSTODY_KINDS)}, not {str(kind)[:20]!r}")
    if kind == "file":
        return None
    texts = {k: entry.get(k, "") for k in ("module", "token_label", "pin_env", "pin_file")}
    if not all(isinstance(v, str) for v in texts.values()):
        raise ConfigInvalid("[custody] module, token_label, pin_env and pin_file must be text")
    if not texts["module"] or not texts["token_label"]:
        raise ConfigInvalid("[custody] kind = \"pkcs11\" needs module (the PKCS#11 library) and token_label")
    if bool(texts["pin_env"]) == bool(texts["pin_file"]):
        raise ConfigInvalid("[custody] needs exactly one of pin_env (an environment variable) and pin_file "
                            "(a file) for the token's user PIN; the PIN is never written in the configuration")
    owners = entry.get("owners", [])
    if not isinstance(owners, list) or not all(isinstance(o, str) for o in owners):
        raise ConfigInvalid("[custody] owners must be a list of region codes and \"national\"")
    known = {NATIONAL_OWNER, *(r.code for r in regions)}
    stray = [o for o in owners if o not in known]
    if stray:
        raise ConfigInvalid(f"[custody] owners: {stray[0][:20]!r} is neither \"national\" nor a configured region")
    if not owners:          # unset: the national key and every region whose keys a token can hold
        owners = [NATIONAL_OWNER] + [r.code for r in regions if r.algorithms[0] in TOKEN_ALGORITHMS]
    custody = TokenCustody(owners=tuple(owners), **texts)
    for region in regions:
        if custody.holds(region.code) and region.algorithms[0] not in TOKEN_ALGORITHMS:
            raise ConfigInvalid(f"region {region.code}: its keys are to be held in the PKCS#11 token, which "
                                f"holds {', '.join(TOKEN_ALGORITHMS)} keys, not {region.algorithms[0][:20]}")
    return custody


def load_settings(config_path: str | os.PathLike | None = None,
                  data_dir: str | os.PathLike | None = None) -> Settings:
    path = Path(config_path or os.environ.get("HEALTHCODE_CONFIG") or DEFAULT_CONFIG)
    with open(path, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigInvalid(f"{path}: not a TOML configuration ({exc})") from None
    defaults = raw.get("defaults", {})
    regions = _regions(raw.get("region", []), defaults)
    data = Path(data_dir or os.environ.get("HEALTHCODE_DATA") or "data").resolve()
    retention = int(os.environ.get("HEALTHCODE_RETENTION_DAYS") or defaults.get("retention_days", 30))
    formats = raw.get("format", {})
    if not isinstance(formats, dict) or not all(isinstance(v, dict) for v in formats.values()):
        raise ConfigInvalid("[format.<name>] entries must be tables of options")
    extra_formats = defaults.get("extra_formats", [])
    if not isinstance(extra_formats, list) or not all(isinstance(f, str) for f in extra_formats):
        raise ConfigInvalid("extra_formats must be a list of format names")
    return Settings(regions=regions, data_dir=data, retention_days=retention,
                    extra_formats=tuple(extra_formats),
                    format_options=dict(formats),
                    limits={**DEFAULT_LIMITS, **raw.get("limits", {})},
                    issuer_url=os.environ.get("HEALTHCODE_ISSUER_URL", ""),
                    document_regions=dict(raw.get("document_regions", {})),
                    trusted_proxies=trusted_proxies(os.environ.get("HEALTHCODE_TRUSTED_PROXIES", "")),
                    custody=_custody(raw.get("custody"), regions))
