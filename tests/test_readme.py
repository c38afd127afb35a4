"""The README's walk-through, run as a new user would paste it: one block, in bash, from the
repository root — on a free port and a fresh data directory, with its /tmp files in a temporary
folder.  It must reach every result the README shows."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess

import pytest
import requests

from gateway.demo import DEMO_RESIDENTS
from support.cli import run_cli
from support.live import free_port
from support.marks import needs
from support.paths import BIN, ROOT, vectors_dir


def walk_through() -> str:
    """The walk-through block and the online-code block after it."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    marker = text.index("<!-- walk-through:")
    blocks = re.findall(r"```sh\n(.*?)```", text[marker:], re.S)
    return blocks[0] + blocks[1]


def compact(text: str) -> str:
    """JSON spacing aside: the API answers compact JSON, the CLI spaced."""
    return re.sub(r'([:,]) (?=["\[{tfn0-9…-])', r"\1", text)


def samples(block: str) -> list[str]:
    """The block's `# → ` samples of output, each with its `#    ` continuation lines."""
    found = []
    for line in block.splitlines():
        if line.startswith("# → "):
            found.append(line[len("# → "):])
        elif line.startswith("#    ") and found:
            found[-1] += line[len("#    "):]
    return found


def test_every_sample_is_a_line_of_real_output(walked):
    """Each sample, its `…` standing for what differs from run to run, is a whole line the block
    printed — the QR prefixes, the member order and the spacing included."""
    block, out = walked[:2]
    lines = [compact(line) for line in out.splitlines()]
    found = samples(block)
    assert len(found) >= 14
    for sample in found:
        pattern = re.compile(".*?".join(re.escape(part) for part in compact(sample).split("…")))
        assert any(pattern.fullmatch(line) for line in lines), f"no output line is like: {sample}"


@needs("server")                          # the README block starts `healthcode serve` itself
def pasted(tmp_path, port: int) -> subprocess.Popen:
    """The block as bash runs it, on ``port``, with its /tmp files in ``tmp_path``.  A checkout
    whose tests run in another checkout's venv (a git worktree) uses that venv as it is."""
    block = walk_through().replace("8080", str(port)).replace("/tmp/", f"{tmp_path}/")
    if BIN != ROOT / ".venv" / "bin":
        block = block.replace("make venv", "true").replace(".venv/bin/", f"{BIN}/")
    if vectors_dir().resolve() != (ROOT.parent / "shared" / "vectors").resolve():
        block = block.replace("../shared/vectors", str(vectors_dir()))
    env = {k: v for k, v in os.environ.items() if k not in ("HEALTHCODE_ONLINE_URL", "HEALTHCODE_CONFIG")}
    env["HEALTHCODE_DATA"] = str(tmp_path / "data")
    return subprocess.Popen(["bash", "-e", "-o", "pipefail", "-c", block], cwd=ROOT, env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)


@pytest.fixture(scope="module")
def walked(tmp_path_factory):
    """(the block as run, what it printed), once for the tests below."""
    tmp_path = tmp_path_factory.mktemp("walk-through")
    port = free_port()
    proc = pasted(tmp_path, port)
    data = tmp_path / "data"
    try:
        out, err = proc.communicate(timeout=240)
        colours = demo_colours(data, port) if proc.returncode == 0 else {}
    finally:
        pid = tmp_path / "healthcode.pid"
        if pid.exists():
            os.kill(int(pid.read_text()), signal.SIGTERM)       # the gateway the block left running
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGTERM)
    assert proc.returncode == 0, f"{out[-3000:]}\n{err[-3000:]}"
    return proc.args[-1], out, colours, port, tmp_path


def test_the_walk_through_works_pasted_as_one_block(walked):
    _, out, colours, port, tmp_path = walked
    assert "NOTE:" not in out
    # The walk-through leaves every demo resident with the colour `make run` prints for them.
    assert colours == {"440305193606300643": "green", "440106199901056850": "red", "440604195508203320": "green",
                       "310115193302201761": "yellow",
                       "510107199501013071": "green", "110101197612039635": "yellow",
                       "330102195203154120": "green"}
    flat = re.sub(r'([:,]) (?=["\[{tfn0-9-])', r"\1", out)     # the API answers compact JSON, the CLI spaced
    assert '"status":"red"' in flat and '"reasons":["close_contact"]' in flat and '"李*"' in flat
    assert "algorithm_not_allowed" in flat and "format_unknown" in flat
    assert "code expired at 2022-01-28T07:47:53Z" in flat                    # HTTP: the server's clock
    assert '"status":"green","region":"DE","format":"eu_dcc"' in flat and '"reasons":["recovered"]' in flat
    assert '"name_transliterated":"MUSTERMANN, ERIKA"' in flat and '"birth_date_masked":"1964-**-**"' in flat
    assert re.search(r"^\d+ scans; \{", out, re.M)
    assert (tmp_path / "card.pdf").read_bytes()[:5] == b"%PDF-"
    assert re.search(rf"^http://127.0.0.1:{port}/v1/status/440000/\S+$", out, re.M)     # served address
    assert '{"jws":' in flat and '"format":"online"' in flat
    assert "440106199901056850" not in out


def demo_colours(data, port) -> dict:
    """Each demo resident's colour as a kiosk sees it now, from the block's running gateway."""
    token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-check", data_dir=data,
                               check=True).stdout)["token"]
    colours = {}
    for resident in DEMO_RESIDENTS:
        answer = requests.post(f"http://127.0.0.1:{port}/v1/kiosk/lookup", headers={"Authorization": f"Bearer {token}"},
                               json={"id_number": resident["id_number"], "kiosk_id": "kiosk-check"}, timeout=30)
        colours[resident["id_number"]] = answer.json().get("status")
    return colours


def test_the_walk_through_says_plainly_when_its_port_is_taken(tmp_path):
    """With something already on the port, the block stops at its check, naming what answers
    there — never a run of answers from some other server."""
    with socket.socket() as other:
        other.bind(("127.0.0.1", 0))
        other.listen()
        port = other.getsockname()[1]
        proc = pasted(tmp_path, port)
        out, err = proc.communicate(timeout=240)
    assert proc.returncode == 2
    assert f"error: port_in_use: another program already listens on http://127.0.0.1:{port}/" in err
    assert "qr_text" not in out and not (tmp_path / "healthcode.pid").exists()


def test_the_configuration_table_names_every_environment_variable_the_code_reads():
    read = re.compile(r"""(?:environ|env)(?:\.get\(|\[)["'](HEALTHCODE_[A-Z_]+)|getenv\(["'](HEALTHCODE_[A-Z_]+)""")
    used = set()
    for package in ("standard", "toolkit", "config", "store", "adapters", "issuers", "gateway", "tools", "tests",
                    "bench"):
        for path in (ROOT / package).rglob("*.py"):
            used |= {name for pair in read.findall(path.read_text(encoding="utf-8")) for name in pair if name}
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    table = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    documented = {name for line in table.splitlines() if line.startswith("| `")
                  for name in re.findall(r"`(HEALTHCODE_[A-Z_]+)`", line.split("|")[1])}
    assert len(used) >= 12
    assert used == documented, (sorted(used - documented), sorted(documented - used))


def test_readme_is_short_and_keeps_only_the_latest_benchmarks():
    """Under 300 lines; the benchmark history lives in docs/benchmarks.md, and every document
    the README links to exists."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    assert len(text.splitlines()) < 300
    section = text.split("## Benchmarks", 1)[1].split("\n## ", 1)[0]
    assert section.count("| figure (issue 12) |") == 1 and "(docs/benchmarks.md)" in section
    history = (ROOT / "docs" / "benchmarks.md").read_text(encoding="utf-8")
    assert "## Earlier rounds" in history and "Second round" in history and "Second round" not in text
    for link in re.findall(r"\]\(((?:docs|gateway)/[^)#]+)", text):
        assert (ROOT / link).exists(), link


def test_the_readme_names_every_system_package_make_test_installs():
    """A newcomer without root learns from the README what `make test` would apt-install."""
    script = (ROOT / "scripts" / "install-test-tools").read_text(encoding="utf-8")
    packages = set(re.findall(r"missing\+=\(([\w.+-]+)\)", script))
    assert {"chromium", "nginx", "curl"} <= packages
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    paragraph = text[text.index("`make test` also installs"):text.index("(`scripts/install-test-tools`)")]
    assert set(re.findall(r"`([\w.+-]+)`", paragraph)) == packages
