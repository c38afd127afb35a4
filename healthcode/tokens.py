"""Bearer tokens for regional issuers, kept in ``$HEALTHCODE_DATA/secrets/issuer-tokens.json``.

Made on first use (one random token per region); an operator hands each region its own.
"""
from __future__ import annotations

import json
import os
import secrets


def issuer_tokens(settings) -> dict[str, str]:
    path = settings.data_dir / "secrets" / "issuer-tokens.json"
    tokens = json.loads(path.read_text()) if path.exists() else {}
    missing = [r.code for r in settings.regions if r.code not in tokens]
    if missing:
        tokens.update({code: secrets.token_urlsafe(24) for code in missing})
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            json.dump(tokens, fh, indent=1)
        os.replace(tmp, path)
    return tokens
