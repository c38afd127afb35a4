"""What the checkpoint page needs to verify codes with the network down: every configured
table format (adapters/<format>.py, as data) and the claims schema — generated from the same
objects the server verifies with, so the browser cannot drift from the adapters."""
from __future__ import annotations

import adapters
import standard
from adapters.base import JwsClaimFormat


def offline_tables(settings) -> dict:
    formats = [adapters.get(name) for name in settings.formats()]
    return {"formats": [f.table() for f in formats if isinstance(f, JwsClaimFormat)],
            "claims": standard.load_schema("code-claims.schema.json")}
