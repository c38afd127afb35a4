"""Who may call what: bearer credentials with one role each.

Roles follow the separation of duties (三权分治) plus the field devices:

* ``issuer``       a regional issuer's system (bound to one region)
* ``kiosk``        an ID-card kiosk (lookup by card)
* ``helper``       a volunteer or clerk doing assisted lookups (ID number + name)
* ``operator``     issues codes, runs lookups, binds dependents, prints cards
* ``data_manager`` keys, regions, retention
* ``auditor``      reads and verifies the audit log, nothing else

Only a SHA-256 of each token is stored (``$HEALTHCODE_DATA/secrets/credentials.json``); the token
is shown once when made.  Regional issuer tokens are kept in clear in ``issuer-tokens.json``
because the gateway itself presents them when it calls a region's issuer.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from standard.errors import BadRequest, Forbidden, Unauthorized

ROLES = ("issuer", "kiosk", "helper", "operator", "data_manager", "auditor")


@dataclass(frozen=True)
class Principal:
    role: str
    id: str
    region: str | None = None

    def as_actor(self) -> dict:
        return {"role": self.role, "id": self.id, **({"region": self.region} if self.region else {})}


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _write_private_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)


class Credentials:
    def __init__(self, data_dir: Path, region_codes):
        self.secrets = Path(data_dir) / "secrets"
        self.region_codes = tuple(region_codes)
        self._lock = threading.Lock()
        self._issuer_tokens: dict[str, str] | None = None

    # -- regional issuer tokens ------------------------------------------------------------
    def issuer_tokens(self) -> dict[str, str]:
        with self._lock:
            if self._issuer_tokens is None:
                path = self.secrets / "issuer-tokens.json"
                tokens = json.loads(path.read_text()) if path.exists() else {}
                missing = [code for code in self.region_codes if code not in tokens]
                if missing:
                    tokens.update({code: secrets.token_urlsafe(24) for code in missing})
                    _write_private_json(path, tokens)
                self._issuer_tokens = tokens
            return self._issuer_tokens

    # -- other roles ---------------------------------------------------------------------------
    def _path(self) -> Path:
        return self.secrets / "credentials.json"

    def _load(self) -> dict:
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def add(self, role: str, principal_id: str, region: str | None = None) -> str:
        if role not in ROLES or role == "issuer":
            raise BadRequest(f"role must be one of {', '.join(r for r in ROLES if r != 'issuer')}")
        if not principal_id or len(principal_id) > 64:
            raise BadRequest("id must be 1-64 characters")
        token = f"{role[:3]}_{secrets.token_urlsafe(24)}"
        with self._lock:
            records = self._load()
            records[_digest(token)] = {"role": role, "id": principal_id, "region": region}
            _write_private_json(self._path(), records)
        return token

    def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthorized("send Authorization: Bearer <token>")
        for region, issuer_token in self.issuer_tokens().items():
            if hmac.compare_digest(issuer_token, token):
                return Principal("issuer", f"issuer-{region}", region)
        record = self._load().get(_digest(token))
        if record is None:
            raise Unauthorized("token not recognised")
        return Principal(record["role"], record["id"], record.get("region"))


def require(principal: Principal, *roles: str, region: str | None = None) -> Principal:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not do this")
    if region is not None and principal.role == "issuer" and principal.region != region:
        raise Forbidden(f"this token may act only for region {principal.region}")
    return principal
