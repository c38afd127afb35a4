"""A fresh SoftHSM2 token of the test's own: a SoftHSM configuration and token directory in a
temporary folder (``SOFTHSM2_CONF`` points at it), initialised by ``softhsm2-util --init-token``
— the system's token store is never touched.  scripts/install-test-tools installs SoftHSM2.

A process reads ``SOFTHSM2_CONF`` when it initialises the PKCS#11 library, so in-process tests
call :meth:`SoftToken.load_in_this_process`, which sets it and initialises the library again;
a ``healthcode`` subprocess gets :attr:`SoftToken.env`."""
from __future__ import annotations

import os
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

from support.marks import needs
from support.paths import ROOT

MODULE = "/usr/lib/softhsm/libsofthsm2.so"
PIN = "246810"
SO_PIN = "13579111"
PIN_ENV = "HEALTHCODE_TEST_TOKEN_PIN"


@dataclass
class SoftToken:
    folder: Path
    label: str
    pin: str = PIN

    @property
    def conf(self) -> Path:
        return self.folder / "softhsm2.conf"

    @property
    def env(self) -> dict:
        """What a ``healthcode`` subprocess needs to find the token and its PIN."""
        return {"SOFTHSM2_CONF": str(self.conf), PIN_ENV: self.pin}

    def load_in_this_process(self, monkeypatch) -> None:
        import pkcs11
        for name, value in self.env.items():
            monkeypatch.setenv(name, value)
        pkcs11.lib(MODULE).reinitialize()           # SoftHSM reads SOFTHSM2_CONF here

    def custody_toml(self, *, owners: list[str] | None = None, pin_file: Path | None = None,
                     label: str | None = None, module: str = MODULE) -> str:
        pin = f'pin_file = "{pin_file}"' if pin_file else f'pin_env = "{PIN_ENV}"'
        lines = ["[custody]", 'kind = "pkcs11"', f'module = "{module}"', f'token_label = "{label or self.label}"', pin]
        if owners is not None:
            lines.append("owners = [" + ", ".join(f'"{o}"' for o in owners) + "]")
        return "\n".join(lines) + "\n"

    def config(self, folder: Path, **custody) -> Path:
        """A copy of config/regions.toml whose signing keys the token holds."""
        text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
        path = Path(folder) / "regions-token.toml"
        path.write_text(text + "\n" + self.custody_toml(**custody), encoding="utf-8")
        return path


@needs("slow")
def soft_token(folder: Path, label: str = "healthcode") -> SoftToken:
    """A new SoftHSM2 token labelled ``label`` in ``folder``: its own configuration and token
    directory; user PIN :data:`PIN`.  ``slow``: softhsm2-util runs in a subprocess, and SoftHSM
    takes a quarter of a second for each key it generates (it writes each object to disk)."""
    if not shutil.which("softhsm2-util") or not Path(MODULE).exists():
        pytest.fail("SoftHSM2 is missing: run `make test` (scripts/install-test-tools installs softhsm2)",
                    pytrace=False)
    folder.mkdir(parents=True, exist_ok=True)
    tokens = folder / "tokens"
    tokens.mkdir(exist_ok=True)
    token = SoftToken(folder, label)
    token.conf.write_text(f"directories.tokendir = {tokens}\nobjectstore.backend = file\n"
                          "log.level = ERROR\nslots.removable = false\n", encoding="utf-8")
    subprocess.run(["softhsm2-util", "--init-token", "--free", "--label", label, "--pin", PIN,
                    "--so-pin", SO_PIN], check=True, capture_output=True, timeout=60,
                   env={**os.environ, "SOFTHSM2_CONF": str(token.conf)})
    return token
