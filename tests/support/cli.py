"""The ``healthcode`` command in a subprocess, as an operator runs it.  Each call starts an
interpreter and imports the gateway (~0.5 s of CPU), so a test that runs it is ``slow``: the fast
inner loop stays in-process."""
from __future__ import annotations

import os
import subprocess
from pathlib import Path

from support.marks import needs
from support.paths import BIN


@needs("slow")
def run_cli(*args, data_dir: Path, stdin: str | None = None, check: bool = False, env: dict | None = None):
    env = {**os.environ, "HEALTHCODE_DATA": str(data_dir), **(env or {})}
    return subprocess.run([str(BIN / "healthcode"), *args], input=stdin, capture_output=True,
                          text=True, env=env, check=check, timeout=120)


def add_credential(role: str, principal: str, *extra: str, data_dir: Path, env: dict | None = None) -> str:
    """``healthcode credentials add`` → the new bearer token (shown once)."""
    import json
    out = run_cli("credentials", "add", "--role", role, "--id", principal, *extra, data_dir=data_dir,
                  check=True, env=env)
    return json.loads(out.stdout)["token"]
