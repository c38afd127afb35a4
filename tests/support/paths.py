"""Where things are: the repository, the venv's commands, the shared test vectors."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
BIN = Path(sys.executable).parent


def vectors_dir() -> Path:
    return Path(os.environ.get("HEALTHCODE_VECTORS") or ROOT.parent / "shared" / "vectors")


def load_vector_json(*parts) -> dict:
    return json.loads(vectors_dir().joinpath(*parts).read_text(encoding="utf-8"))
