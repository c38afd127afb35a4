"""`make run` as a newcomer runs it: on the port and host given (PORT, HOST), the address
checked before anything is seeded, a sheet of the pages, how to get each credential and the
fictional demo residents in full, and online codes that point at the address served."""
from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import time

import pytest
import requests

from support.cli import run_cli
from support.live import free_port
from support.paths import BIN, ROOT
from gateway.demo import DEMO_RESIDENTS

pytestmark = pytest.mark.server          # `make run` starts `healthcode serve` itself


def make_run(data, port, host="127.0.0.1", **env):
    """`make run` with this checkout's venv (`-o venv`: use it as it is, never rebuild it)."""
    environ = {k: v for k, v in os.environ.items() if k != "HEALTHCODE_ONLINE_URL"}
    environ.update(HEALTHCODE_DATA=str(data), PYTHONPATH=str(ROOT), **env)
    return subprocess.Popen(["make", "-s", "-C", str(ROOT), "-o", "venv", "run", f"BIN={BIN}", f"PORT={port}",
                             f"HOST={host}"], env=environ, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, start_new_session=True)


def wait_until_up(proc, url, seconds=90):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()
        try:
            if requests.get(f"{url}/healthz", timeout=1).ok:
                return
        except requests.RequestException:
            time.sleep(0.3)
    pytest.fail("make run did not answer")


def stop(proc):
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        return proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        return proc.communicate()


@pytest.fixture(scope="module")
def running(tmp_path_factory):
    data, port = tmp_path_factory.mktemp("make-run") / "data", free_port()
    home = data.parent / "home"
    home.mkdir()
    proc = make_run(data, port, HOME=str(home), XDG_RUNTIME_DIR=str(home))
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until_up(proc, url)
        yield proc, url, port, data
    finally:
        if proc.poll() is None:
            stop(proc)


def test_make_run_serves_with_gunicorn_workers_and_no_control_socket(running):
    """A production server, as `make bench` measures it — and no runtime control socket in the
    user's home, which every instance on the host would share and anyone reaching it could use
    to stop the gateway."""
    proc, url, port, data = running
    assert requests.get(f"{url}/healthz", timeout=5).json()["status"] == "ok"
    workers = subprocess.run(["pgrep", "-f", f"healthcode serve --demo --host 127.0.0.1 --port {port} --workers 2"],
                             capture_output=True, text=True).stdout.split()
    assert len(workers) == 3, workers                  # gunicorn's master and its two workers
    assert list((data.parent / "home").rglob("*")) == []


def test_make_run_serves_on_port_and_prints_pages_credentials_and_residents(running):
    proc, url, port, data = running
    sheet = ""
    while DEMO_RESIDENTS[-1]["id_number"] not in sheet:          # the sheet's last line
        line = proc.stdout.readline()
        assert line, "make run stopped before printing its sheet"
        sheet += line
    for page in (f"{url}/\n", f"{url}/checkpoint ", f"{url}/kiosk?kiosk_id=kiosk-demo#token=",
                 f"{url}/ops#token="):
        assert page in sheet, page
    assert "credentials add --role kiosk --id kiosk-demo" in sheet
    assert "credentials add --role data_manager --id ops-demo" in sheet and " tokens " in sheet
    rows = {line.split()[2]: line.split()[3] for line in sheet.splitlines() if re.match(r"  \d{6} ", line)}
    assert rows == {"440305193606300643": "green", "440106199901056850": "red", "440604195508203320": "green",
                    "310115193302201761": "yellow",
                    "510107199501013071": "green", "110101197612039635": "yellow",
                    "330102195203154120": "green"}
    assert set(rows) == {r["id_number"] for r in DEMO_RESIDENTS}
    sample = re.search(r"```text\n(demo residents.*?)```", (ROOT / "README.md").read_text(encoding="utf-8"), re.S)
    assert all(line in sheet.splitlines() for line in sample.group(1).splitlines()), "README's sample differs"
    shown = sum(1 for line in sample.group(1).splitlines() if re.match(r"  \d{6} ", line))
    assert f"here {shown} of the {len(DEMO_RESIDENTS)})" in (ROOT / "README.md").read_text(encoding="utf-8")
    # The credentials the sheet names open the kiosk and the operations figures.
    kiosk = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "kiosk-demo", data_dir=data,
                               check=True).stdout)["token"]
    looked_up = requests.post(f"{url}/v1/kiosk/lookup", headers={"Authorization": f"Bearer {kiosk}"},
                              json={"id_number": "440106199901056850", "kiosk_id": "kiosk-demo"}, timeout=30)
    assert looked_up.ok and looked_up.json()["status"] == "red", looked_up.text
    ops = json.loads(run_cli("credentials", "add", "--role", "data_manager", "--id", "ops-demo", data_dir=data,
                             check=True).stdout)["token"]
    assert requests.get(f"{url}/v1/admin/stats", headers={"Authorization": f"Bearer {ops}"}, timeout=30).ok


def test_online_codes_point_at_the_address_served(running):
    _, url, port, data = running
    token = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["440000"]
    issued = requests.post(f"{url}/v1/issuers/440000/codes", headers={"Authorization": f"Bearer {token}"},
                           json={"id_number": "440103198805121233", "name": "黄志强", "format": "online"},
                           timeout=30).json()
    assert issued["qr_text"].startswith(f"{url}/v1/status/440000/"), issued
    verdict = requests.post(f"{url}/v1/verify", json={"payload": issued["qr_text"]}, timeout=30).json()
    assert verdict["valid"], verdict
    configured = run_cli("issue", "--region", "440000", "--id-number", "440103198805121233", "--name", "黄志强",
                         "--format", "online", data_dir=data, check=True,
                         env={"HEALTHCODE_ONLINE_URL": "https://status.example.cn/gd"}).stdout
    assert configured.startswith("https://status.example.cn/gd/v1/status/440000/")


def test_a_taken_port_is_named_before_anything_is_seeded(running, tmp_path):
    _, url, port, _ = running
    second = make_run(tmp_path / "gateway-twice", port)
    out, err = second.communicate(timeout=120)
    assert second.returncode != 0 and out == ""
    assert f"error: port_in_use: a healthcode gateway (version " in err and f"already answers on {url}/" in err
    assert not (tmp_path / "gateway-twice").exists()               # nothing seeded, no keys made
    with socket.socket() as other:                                  # not a gateway: another program
        other.bind(("127.0.0.1", 0))
        other.listen()
        taken = other.getsockname()[1]
        third = make_run(tmp_path / "other-program", taken)
        out, err = third.communicate(timeout=120)
    assert third.returncode != 0 and out == ""
    assert f"error: port_in_use: another program already listens on http://127.0.0.1:{taken}/" in err
    assert not (tmp_path / "other-program").exists()


@pytest.mark.parametrize("port", ["99999", "0", "-1", "eighty"])
def test_ports_outside_the_range_are_one_line(port, tmp_path):
    result = run_cli("serve", "--port", port, data_dir=tmp_path / "data")
    assert result.returncode == 2 and result.stdout == ""
    assert re.fullmatch(r"error: bad_request: --port must be (a number )?from 1 to 65535, not \S+\n", result.stderr)
    assert not (tmp_path / "data").exists()


def test_serve_check_says_whether_the_address_is_free(running, tmp_path):
    _, url, port, _ = running
    taken = run_cli("serve", "--check", "--port", str(port), data_dir=tmp_path / "d")
    assert taken.returncode == 2 and taken.stderr.startswith("error: port_in_use: a healthcode gateway")
    free = run_cli("serve", "--check", "--port", str(free_port()), data_dir=tmp_path / "d")
    assert free.returncode == 0 and free.stderr == "" and not (tmp_path / "d").exists()
