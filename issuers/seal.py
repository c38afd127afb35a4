"""Encryption at rest for the little personal data an issuer must keep (to reprint a card).

AES-256-GCM with a random 96-bit nonce; the key id is stored with each sealed value so keys can
rotate: new data is sealed with the newest key, old data still opens with its own key until it is
re-sealed or expires under the retention window.  Keys live in ``$HEALTHCODE_DATA/secrets/seal/``,
never in the store.
"""
from __future__ import annotations

import base64
import json
import os
import secrets
from pathlib import Path

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from standard.errors import HealthCodeError


class SealError(HealthCodeError):
    code = "seal_failed"
    http_status = 500


class Sealer:
    def __init__(self, folder: Path):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        if not self._kids():
            self.rotate()

    def _kids(self) -> list[str]:
        return sorted(p.stem for p in self.folder.glob("*.key"))

    def rotate(self) -> str:
        kid = f"k{len(self._kids()) + 1:04d}"
        fd = os.open(self.folder / f"{kid}.key", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_bytes(32).hex())
        return kid

    def _key(self, kid: str) -> bytes:
        path = self.folder / f"{kid}.key"
        if not kid.isalnum() or not path.exists():
            raise SealError("sealing key not found")
        return bytes.fromhex(path.read_text().strip())

    def seal(self, data: dict, context: str) -> str:
        """``context`` (e.g. the subject id) is bound as associated data: a sealed value copied
        onto another person's record will not open."""
        kid = self._kids()[-1]
        nonce = secrets.token_bytes(12)
        ct = AESGCM(self._key(kid)).encrypt(nonce, json.dumps(data).encode(), context.encode())
        return f"{kid}.{base64.urlsafe_b64encode(nonce + ct).decode()}"

    def open(self, sealed: str, context: str) -> dict:
        kid, _, blob = sealed.partition(".")
        raw = base64.urlsafe_b64decode(blob)
        try:
            return json.loads(AESGCM(self._key(kid)).decrypt(raw[:12], raw[12:], context.encode()))
        except InvalidTag:
            raise SealError("sealed value does not open (wrong key or record)") from None
