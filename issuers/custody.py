"""Key custody: where a signing key is made, kept and used.  Issuing and trust-list signing see
only :class:`issuers.keys.Signer` — a ``kid``, an ``alg`` and a key that signs through PyJWT —
whichever custody holds the key.

- :class:`FileCustody` (the default): a PEM file per key under ``$HEALTHCODE_DATA/keys/<owner>/``,
  mode 0600; signs with ES256, EdDSA and PS256.
- :class:`issuers.token_custody.TokenCustody`: a PKCS#11 token; the key is generated inside it,
  non-extractable and sensitive, and signs there (ES256 by CKM_ECDSA, EdDSA by CKM_EDDSA).

The key index (``keys.json``: status, dates) is the same file for both; each record names the
custody that holds its key.  docs/security.md, "Key custody".
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

from standard import jose


class KeyCustody(Protocol):
    kind: str                                   # written in each key's index record
    algorithms: tuple[str, ...]                 # what it can generate and sign with

    def check(self) -> None:
        """Raise KeyCustodyUnavailable unless keys can be made and used now."""

    def generate(self, owner: str, alg: str) -> tuple[str, object]:
        """A new key for ``owner``: its kid (short JWK thumbprint) and the signing key."""

    def signing_key(self, owner: str, kid: str, alg: str) -> object:
        """The key ``kid`` as something :func:`standard.jose.encode` signs with."""

    def public_jwk(self, owner: str, kid: str) -> dict:
        """The key's public JWK members."""


class FileCustody:
    kind: str = "file"
    algorithms: tuple[str, ...] = jose.ALGORITHMS

    def __init__(self, root: Path):
        self.root = root                        # $HEALTHCODE_DATA/keys

    def check(self) -> None:
        return None

    def _pem(self, owner: str, kid: str) -> Path:
        return self.root / owner / f"{kid}.pem"

    def generate(self, owner: str, alg: str) -> tuple[str, object]:
        key = jose.generate_private_key(alg)
        kid = jose.short_kid(jose.public_jwk(key))
        path = self._pem(owner, kid)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(jose.private_key_to_pem(key))
        return kid, key

    def signing_key(self, owner: str, kid: str, alg: str) -> object:
        return jose.private_key_from_pem(self._pem(owner, kid).read_bytes())

    def public_jwk(self, owner: str, kid: str) -> dict:
        return jose.public_jwk(self.signing_key(owner, kid, ""))
