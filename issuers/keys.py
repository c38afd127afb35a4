"""Signing keys on disk, outside git: ``$HEALTHCODE_DATA/keys/<owner>/``.

Each owner (a region code, or ``national`` for the trust-list signer) has a ``keys.json`` index
and one PEM file per key.  Keys are made on first use, rotated by adding a newer active key
(the old one stays *retired* and still verifies the codes it signed until they expire), and can
be *revoked*, which the trust list then announces.
"""
from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from toolkit import filelock
from standard import jose

NATIONAL = "national"


@dataclass(frozen=True)
class Signer:
    owner: str
    kid: str
    alg: str
    private_key: object

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


class KeyStore:
    def __init__(self, data_dir: Path):
        self.root = Path(data_dir) / "keys"
        self._cache: dict[str, tuple[tuple, Signer]] = {}    # owner → (index stamp, active signer)

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
        pem = (self._dir(owner) / f"{record.kid}.pem").read_bytes()
        signer = Signer(owner, record.kid, record.alg, jose.private_key_from_pem(pem))
        self._cache[owner] = (stamp, signer)
        return signer

    def rotate(self, owner: str, alg: str = "ES256", now: int | None = None) -> Signer:
        now = int(now or time.time())
        key = jose.generate_private_key(alg)
        kid = jose.short_kid(jose.public_jwk(key))
        folder = self._dir(owner)
        folder.mkdir(parents=True, exist_ok=True)
        pem_path = folder / f"{kid}.pem"
        fd = os.open(pem_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(jose.private_key_to_pem(key))
        with filelock.exclusive(folder / "keys.json"):        # a revocation elsewhere is never undone
            records = [KeyRecord(**{**r.__dict__, "status": "retired", "retired_at": now})
                       if r.status == "active" else r for r in self.records(owner)]
            records.append(KeyRecord(kid=kid, alg=alg, created=now, status="active"))
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
            pem = (self._dir(owner) / f"{record.kid}.pem").read_bytes()
            jwk = jose.public_jwk(jose.private_key_from_pem(pem))
            jwk.update(kid=record.kid, alg=record.alg, use="sig", status=record.status,
                       nbf=record.created)
            if record.retired_at:
                jwk["retired_at"] = record.retired_at
            if record.revoked_at:
                jwk["revoked_at"] = record.revoked_at
            out.append(jwk)
        return out
