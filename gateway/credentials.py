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
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import filelock
from standard import idcard
from standard.errors import BadRequest, Forbidden, NotFound, Unauthorized

ROLES = ("issuer", "kiosk", "helper", "operator", "data_manager", "auditor")
_ID = re.compile(r"[A-Za-z0-9._-]{1,64}", re.ASCII)
# The actor ids of the host's own audit entries: the command line (gateway/cli/common.py) and
# the gateway itself (gateway/services/trust.py SYSTEM); no credential may be audited as them.
RESERVED_IDS = frozenset({"cli", "healthcode"})


def bearer(authorization: str) -> str:
    """The token of an ``Authorization: Bearer <token>`` header ("" for any other)."""
    scheme, _, token = authorization.partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""


@dataclass(frozen=True)
class Principal:
    role: str
    id: str
    region: str | None = None
    kiosk_id: str | None = None          # kiosks: the device this credential is bound to

    def as_actor(self) -> dict:
        return {"role": self.role, "id": self.id, **({"region": self.region} if self.region else {}),
                **({"kiosk": self.kiosk_id} if self.kiosk_id else {})}

    def device(self, claimed: str | None) -> str | None:
        """The kiosk this request comes from: a kiosk credential's own, whatever the body says.
        A body naming another kiosk is refused — limits and audit follow the credential.  Any
        other caller's claim is kept in the audit log, which is never purged: it must be a device
        id (the credential-id syntax), never a name or other free text."""
        if claimed is not None and not (isinstance(claimed, str) and _ID.fullmatch(claimed)):
            raise BadRequest("kiosk_id must be 1-64 letters, digits, '.', '_' or '-'")
        if claimed is not None and idcard.is_valid(claimed):
            raise BadRequest("kiosk_id must name a device, not a person")
        if self.role != "kiosk":
            return claimed
        own = self.kiosk_id or self.id
        if claimed is not None and claimed != own:
            raise Forbidden("kiosk_id does not match this kiosk's credential")
        return own


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def _same(a: str, b: str) -> bool:
    """Constant-time comparison of any two strings (compare_digest refuses non-ASCII str)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"), b.encode("utf-8", "surrogatepass"))


def _write_private_json(path: Path, data) -> None:
    filelock.write_atomically(path, json.dumps(data, indent=1), mode=0o600)


class Credentials:
    def __init__(self, data_dir: Path, region_codes):
        self.secrets = Path(data_dir) / "secrets"
        self.region_codes = tuple(region_codes)
        self._lock = threading.Lock()
        self._issuer_tokens: dict[str, str] | None = None
        self._issuer_stamp: tuple = ()
        self._records: dict | None = None
        self._records_stamp: tuple = ()

    # -- regional issuer tokens ------------------------------------------------------------
    def _issuer_path(self) -> Path:
        return self.secrets / "issuer-tokens.json"

    def issuer_tokens(self) -> dict[str, str]:
        """Each region's issuer token, re-read when the file changes (a rotation in another
        process takes effect at once) and at least every second (a stamp may miss two writes
        within one clock tick)."""
        path = self._issuer_path()
        stamp = (*filelock.file_stamp(path), int(time.monotonic()))
        with self._lock:
            if self._issuer_tokens is None or stamp != self._issuer_stamp:
                tokens = json.loads(path.read_text()) if path.exists() else {}
                if any(code not in tokens for code in self.region_codes):
                    with filelock.exclusive(path):
                        tokens = json.loads(path.read_text()) if path.exists() else {}
                        missing = [code for code in self.region_codes if code not in tokens]
                        if missing:
                            tokens.update({code: secrets.token_urlsafe(24) for code in missing})
                            _write_private_json(path, tokens)
                    stamp = (*filelock.file_stamp(path), int(time.monotonic()))
                self._issuer_tokens, self._issuer_stamp = tokens, stamp
            return self._issuer_tokens

    def _rotate_issuer(self, region: str) -> None:
        """A leaked issuer token mints codes of any colour: revoking it gives the region a new
        one (``healthcode tokens`` shows it) and the old one stops working in every process."""
        path = self._issuer_path()
        with self._lock, filelock.exclusive(path):
            tokens = json.loads(path.read_text()) if path.exists() else {}
            tokens[region] = secrets.token_urlsafe(24)
            _write_private_json(path, tokens)
            self._issuer_tokens = None

    # -- other roles ---------------------------------------------------------------------------
    def _path(self) -> Path:
        return self.secrets / "credentials.json"

    def _load(self) -> dict:
        """The credential records, read from disk only when the file changed (any process's
        add or revoke takes effect at once) or a second has passed; never mutate the result."""
        path = self._path()
        stamp = (*filelock.file_stamp(path), int(time.monotonic()))
        with self._lock:
            if self._records is None or stamp != self._records_stamp:
                self._records = json.loads(path.read_text()) if path.exists() else {}
                self._records_stamp = stamp
            return self._records

    def _read(self) -> dict:
        """The records as on disk now, for a change made under the file's lock."""
        path = self._path()
        return json.loads(path.read_text()) if path.exists() else {}

    def add(self, role: str, principal_id: str, region: str | None = None, kiosk_id: str | None = None,
            now: int = 0) -> str:
        """A new token for ``principal_id``; an earlier token of the same id stops working (a lost
        kiosk is re-enrolled by adding it again).  Kiosks are bound to ``kiosk_id`` (default:
        their id), which is what their requests are limited and audited as."""
        if role not in ROLES or role == "issuer":
            raise BadRequest(f"role must be one of {', '.join(r for r in ROLES if r != 'issuer')}")
        for what, value in (("id", principal_id), ("kiosk_id", kiosk_id)):
            if value is not None and (not isinstance(value, str) or not _ID.fullmatch(value)):
                raise BadRequest(f"{what} must be 1-64 letters, digits, '.', '_' or '-'")
            if value is not None and idcard.is_valid(value):       # kept, and named in every entry
                raise BadRequest(f"{what} must name a device or a member of staff, not an ID number")
        if principal_id is None:
            raise BadRequest("id must be 1-64 letters, digits, '.', '_' or '-'")
        if principal_id.startswith("issuer-"):
            raise BadRequest("ids issuer-<region> are the regional issuers' own")
        if principal_id.lower() in RESERVED_IDS:      # else its requests are audited as the host's own
            raise BadRequest(f"id {principal_id} names the gateway's host (its command line, its own work) "
                             "in the audit log; choose another")
        if kiosk_id is not None and role != "kiosk":
            raise BadRequest("only kiosk credentials are bound to a kiosk_id")
        token = f"{role[:3]}_{secrets.token_urlsafe(24)}"
        record = {"role": role, "id": principal_id, "region": region, "created": now}
        if role == "kiosk":
            record["kiosk_id"] = kiosk_id or principal_id
        with self._lock, filelock.exclusive(self._path()):          # other workers, the CLI
            records = {d: r for d, r in self._read().items() if r["id"] != principal_id}
            records[_digest(token)] = record
            _write_private_json(self._path(), records)
            self._records = None
        return token

    def role_of(self, principal_id: str) -> str | None:
        """The role of the credential held by ``principal_id`` now, or None."""
        return next((r["role"] for r in self._read().values() if r["id"] == principal_id), None)

    def list(self) -> list[dict]:
        """Who holds a credential (never a token or its hash), regional issuers included."""
        issuers = [{"role": "issuer", "id": f"issuer-{code}", "region": code} for code in self.region_codes]
        return sorted(issuers + [{k: v for k, v in r.items() if v is not None} for r in self._load().values()],
                      key=lambda r: (r["role"], r["id"]))

    def revoke(self, principal_id: str) -> dict:
        """Withdraw ``principal_id``'s credential at once, in every process (the file is read on
        every request, through a cache that notices the file's change).  ``issuer-<region>`` replaces that region's issuer token."""
        region = principal_id.removeprefix("issuer-") if isinstance(principal_id, str) else None
        if principal_id != region and region in self.region_codes:
            self._rotate_issuer(region)
            return {"id": principal_id, "role": "issuer"}
        with self._lock, filelock.exclusive(self._path()):          # other workers, the CLI
            records = self._read()
            kept = {d: r for d, r in records.items() if r["id"] != principal_id}
            if len(kept) == len(records):
                raise NotFound("no credential with this id")
            gone = next(r for r in records.values() if r["id"] == principal_id)
            _write_private_json(self._path(), kept)
            self._records = None
        return {"id": gone["id"], "role": gone["role"]}

    def caller(self, token: str) -> Principal | None:
        """Who ``token`` belongs to, or None (anonymous or unknown) — never raises."""
        try:
            return self.authenticate(token) if token else None
        except Unauthorized:
            return None

    def authenticate(self, token: str) -> Principal:
        if not token:
            raise Unauthorized("send Authorization: Bearer <token>")
        if len(token) > 256:
            raise Unauthorized("token not recognised")
        for region, issuer_token in self.issuer_tokens().items():
            if _same(issuer_token, token):
                return Principal("issuer", f"issuer-{region}", region)
        record = self._load().get(_digest(token))
        if record is None:
            raise Unauthorized("token not recognised")
        return Principal(record["role"], record["id"], record.get("region"), record.get("kiosk_id"))


def require(principal: Principal, *roles: str, region: str | None = None) -> Principal:
    if principal.role not in roles:
        raise Forbidden(f"the {principal.role} role may not do this")
    if region is not None and principal.role == "issuer" and principal.region != region:
        raise Forbidden(f"this token may act only for region {principal.region}")
    return principal
