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

from standard import KINDS, MAX_LIFETIME, ONLINE_FORMAT, PROJECT_ROOT
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
    "anonymous_verifications_per_minute": 600,    # per client (address or credential), per process
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
    parent: str = ""            # a city: its province's code (it issues under that province's delegation)

    def as_public(self) -> dict:
        return {"code": self.code, "name": self.name, "name_en": self.name_en, "format": self.format}


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


def load_settings(config_path: str | os.PathLike | None = None,
                  data_dir: str | os.PathLike | None = None) -> Settings:
    path = Path(config_path or os.environ.get("HEALTHCODE_CONFIG") or DEFAULT_CONFIG)
    with open(path, "rb") as fh:
        try:
            raw = tomllib.load(fh)
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigInvalid(f"{path}: not a TOML configuration ({exc})") from None
    defaults = raw.get("defaults", {})
    regions = tuple(_region(entry, defaults) for entry in raw.get("region", []))
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
                    trusted_proxies=trusted_proxies(os.environ.get("HEALTHCODE_TRUSTED_PROXIES", "")))
