"""Pseudonymous subject ids: a keyed hash of the normalized ID number.

The secret lives in ``$HEALTHCODE_DATA/secrets/pseudonym.key`` (or ``$HEALTHCODE_PSEUDONYM_KEY``,
hex), never in the store, so a leaked database cannot be reversed by hashing all 10^17 IDs.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from standard.jose import b64url_encode


def load_or_create_secret(data_dir: Path) -> bytes:
    env = os.environ.get("HEALTHCODE_PSEUDONYM_KEY")
    if env:
        return bytes.fromhex(env)
    path = Path(data_dir) / "secrets" / "pseudonym.key"
    if path.exists():
        return bytes.fromhex(path.read_text().strip())
    path.parent.mkdir(parents=True, exist_ok=True)
    secret = secrets.token_bytes(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(secret.hex())
    return secret


class Pseudonymizer:
    def __init__(self, secret: bytes):
        if len(secret) < 16:
            raise ValueError("pseudonym secret too short")
        self._secret = secret

    def subject(self, id_type: str, number: str) -> str:
        digest = hmac.new(self._secret, f"{id_type}:{number}".encode(), hashlib.sha256).digest()
        return b64url_encode(digest[:18])          # 24 characters, 144 bits

    def name_digest(self, name: str) -> str:
        """Keyed hash of a name, so a helper's typing can be checked without keeping names readable."""
        import unicodedata
        normal = "".join(unicodedata.normalize("NFKC", str(name)).split()).casefold()
        digest = hmac.new(self._secret, f"name:{normal}".encode(), hashlib.sha256).digest()
        return b64url_encode(digest[:18])
