"""Signing keys, outside git: the index ``$HEALTHCODE_DATA/keys/<owner>/keys.json`` and the keys
in their custody (issuers/custody.py) — a PEM file per key beside the index (the default), or a
PKCS#11 token when the configuration's ``[custody]`` names one for the owner.

Each owner (a region code, or ``national`` for the trust-list signer) has one index.  Keys are
made on first use, rotated by adding a newer active key (the old one stays *retired*, in its
custody, and still verifies the codes it signed until they expire), and can be *revoked*, which
the trust list then announces.  Each index record names the custody that holds its key, so a
deployment that moves to a token keeps its older file keys' history.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from issuers.custody import FileCustody, KeyCustody
from toolkit import filelock
from standard import jose
from standard.errors import KeyCustodyUnavailable

if TYPE_CHECKING:                                   # the PKCS#11 library is loaded only when named
    from issuers.token_custody import TokenCustody

NATIONAL = "national"


@dataclass(frozen=True)
class Signer:
    owner: str
    kid: str
    alg: str
    private_key: object         # in memory (a key file), or a jose.HeldKey that signs in its token

    def public_jwk(self) -> dict:
        return jose.public_jwk(self.private_key)


@dataclass(frozen=True)
class KeyRecord:
    kid: str
    alg: str
    created: int
    status: str            # active | retired | revoked
    retired_at: int | None = None
    revoked_at: int | None = None
    custody: str = "file"       # file | pkcs11: where the key is held


class KeyStore:
    def __init__(self, data_dir: Path, token: TokenCustody | None = None):
        """``token``: the PKCS#11 token the configuration names (None: key files only)."""
        self.root = Path(data_dir) / "keys"
        self._cache: dict[str, tuple[tuple, Signer]] = {}    # owner → (index stamp, active signer)
        self.files = FileCustody(self.root)
        self.token = token

    # -- custody ----------------------------------------------------------------------------
    def check(self) -> None:
        """Raise KeyCustodyUnavailable unless the configured token opens with its PIN (the
        gateway calls this at start-up, so a missing token or wrong PIN stops it there)."""
        if self.token is not None:
            self.token.check()

    def custody_for(self, owner: str) -> KeyCustody:
        """Where ``owner``'s new keys are made."""
        if self.token is not None and self.token.holds(owner):
            return self.token
        return self.files

    def _held_by(self, owner: str, record: KeyRecord) -> KeyCustody:
        if record.custody == self.files.kind:
            return self.files
        if record.custody == "pkcs11" and self.token is not None:
            return self.token
        raise KeyCustodyUnavailable(f"key {record.kid} of {owner} is held in a {record.custody[:20]} token "
                                    "and the configuration names no [custody] token")

    # -- index ----------------------------------------------------------------------------
    def _dir(self, owner: str) -> Path:
        if not owner.replace("_", "").isalnum():
            raise ValueError("bad key owner")
        return self.root / owner

    def records(self, owner: str) -> list[KeyRecord]:
        index = self.index_path(owner)
        if not index.exists():
            return []
        return [KeyRecord(**r) for r in json.loads(index.read_text())]

    def _write_records(self, owner: str, records: list[KeyRecord]) -> None:
        # atomic: a crash never leaves half an index, a reader never sees one
        filelock.write_atomically(self._dir(owner) / "keys.json", json.dumps([r.__dict__ for r in records], indent=1))
        filelock.mark_changed(self.root.parent / filelock.TRUST_INPUTS_CHANGED)   # the trust list is made of it

    # -- keys -----------------------------------------------------------------------------
    def index_path(self, owner: str) -> Path:
        return self._dir(owner) / "keys.json"

    def _stamp(self, owner: str) -> tuple:
        """Identity of the index as written: os.replace makes a new inode on every write."""
        return filelock.file_stamp(self.index_path(owner))

    def signer(self, owner: str, alg: str | None = None) -> Signer:
        """The owner's active signing key, created on first use (of ``alg``, ES256 if not given).
        The cache is checked against the index file on every call (one stat): when another
        process rotated or revoked the key, this one stops signing with it at once — a code
        signed by a retired key is refused.  When ``alg`` is given and the active key is of
        another algorithm (the region now registers another), a new ``alg`` key replaces it as
        :meth:`rotate` does: no code is ever signed under an algorithm the region left."""
        stamp = self._stamp(owner)
        cached = self._cache.get(owner)
        if cached and cached[0] == stamp and alg in (None, cached[1].alg):
            return cached[1]
        active = [r for r in self.records(owner) if r.status == "active"]
        if not active or alg not in (None, active[-1].alg):
            return self.rotate(owner, alg or "ES256")
        record = active[-1]
        key = self._held_by(owner, record).signing_key(owner, record.kid, record.alg)
        signer = Signer(owner, record.kid, record.alg, key)
        self._cache[owner] = (stamp, signer)
        return signer

    def rotate(self, owner: str, alg: str = "ES256", now: int | None = None) -> Signer:
        """A new active key, made in the owner's custody (in the token: generated there); the
        active one before it is retired and stays where it is held."""
        now = int(now or time.time())
        folder = self._dir(owner)
        custody = self.custody_for(owner)
        kid, key = custody.generate(owner, alg)
        folder.mkdir(parents=True, exist_ok=True)
        with filelock.exclusive(folder / "keys.json"):        # a revocation elsewhere is never undone
            records = [KeyRecord(**{**r.__dict__, "status": "retired", "retired_at": now})
                       if r.status == "active" else r for r in self.records(owner)]
            records.append(KeyRecord(kid=kid, alg=alg, created=now, status="active", custody=custody.kind))
            self._write_records(owner, records)
        signer = Signer(owner, kid, alg, key)
        self._cache[owner] = (self._stamp(owner), signer)
        return signer

    def revoke(self, owner: str, kid: str, now: int | None = None) -> None:
        now = int(now or time.time())
        with filelock.exclusive(self._dir(owner) / "keys.json"):
            records = self.records(owner)
            if kid not in {r.kid for r in records}:
                raise KeyError(kid)
            self._write_records(owner, [
                KeyRecord(**{**r.__dict__, "status": "revoked", "revoked_at": now}) if r.kid == kid else r
                for r in records])
        self._cache.pop(owner, None)

    def forget(self) -> None:
        """Drop every cached signer: the next :meth:`signer` re-reads the index files."""
        self._cache.clear()

    def public_jwks(self, owner: str) -> list[dict]:
        """Every key the owner ever had, with status, as JWKs for the trust list."""
        out = []
        for record in self.records(owner):
            jwk = self._held_by(owner, record).public_jwk(owner, record.kid)
            jwk.update(kid=record.kid, alg=record.alg, use="sig", status=record.status,
                       nbf=record.created)
            if record.retired_at:
                jwk["retired_at"] = record.retired_at
            if record.revoked_at:
                jwk["revoked_at"] = record.revoked_at
            out.append(jwk)
        return out
