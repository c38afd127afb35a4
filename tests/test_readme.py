"""The README's walk-through, run as a new user would paste it: one block, in bash, from the
repository root — on a free port and a fresh data directory, with its /tmp files in a temporary
folder.  It must reach every result the README shows."""
from __future__ import annotations

import os
import re
import signal
import subprocess

import pytest

from support.live import free_port
from support.paths import ROOT

pytestmark = pytest.mark.server          # the README block starts `healthcode serve` itself


def walk_through() -> str:
    """The walk-through block and the online-code block after it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- walk-through:")
    blocks = re.findall(r"```sh\n(.*?)```", text[marker:], re.S)
    return blocks[0] + blocks[1]


def test_the_walk_through_works_pasted_as_one_block(tmp_path):
    port = str(free_port())
    block = walk_through().replace("8080", port).replace("/tmp/", f"{tmp_path}/")
    data = tmp_path / "data"
    config = tmp_path / "regions.toml"                 # online codes name the gateway's address
    config.write_text((ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
                      .replace("http://127.0.0.1:8080", f"http://127.0.0.1:{port}"), encoding="utf-8")
    env = {**os.environ, "HEALTHCODE_DATA": str(data), "HEALTHCODE_CONFIG": str(config)}
    proc = subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", block], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
    try:
        out, err = proc.communicate(timeout=240)
    finally:
        pid = tmp_path / "healthcode.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), signal.SIGTERM)       # the gateway the block left running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"
    flat = re.sub(r'([:,]) (?=["\[{tfn0-9-])', r"\1", out)     # the API answers compact JSON, the CLI spaced
    assert '"status":"red"' in flat and '"reasons":["close_contact"]' in flat and '"李*"' in flat
    assert "algorithm_not_allowed" in flat and "format_unknown" in flat
    assert "code expired at 2022-01-28T07:47:53Z" in flat                    # HTTP: the server's clock
    assert '"status":"green","region":"DE","format":"eu_dcc"' in flat and '"reasons":["recovered"]' in flat
    assert '"name_transliterated":"MUSTERMANN, ERIKA"' in flat and '"birth_date_masked":"1964-**-**"' in flat
    assert re.search(r"^\d+ scans; \{", out, re.M)
    assert (tmp_path / "card.pdf").read_bytes()[:5] == b"%PDF-"
    assert re.search(rf"^http://127.0.0.1:{port}/v1/status/440000/\S+$", out, re.M)     # the online code
    assert '{"jws":' in flat and '"format":"online"' in flat
    assert "440106199901056850" not in out
