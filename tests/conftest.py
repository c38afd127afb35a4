"""Shared fixtures: a service on a temporary data directory with a settable clock, a real HTTP
server running ``healthcode serve`` in a subprocess, and the shared test vectors."""
from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent


def vectors_dir() -> Path:
    return Path(os.environ.get("HEALTHCODE_VECTORS") or ROOT.parent / "shared" / "vectors")


def load_vector_json(*parts) -> dict:
    return json.loads(vectors_dir().joinpath(*parts).read_text(encoding="utf-8"))


class Clock:
    """A clock tests can move; starts at the real time so issued codes look ordinary."""

    def __init__(self, start: float | None = None):
        self.value = float(start if start is not None else int(time.time()))

    def __call__(self) -> float:
        return self.value

    def advance(self, seconds: float) -> None:
        self.value += seconds


@pytest.fixture
def data_dir(tmp_path) -> Path:
    path = tmp_path / "data"
    path.mkdir()
    return path


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def settings(data_dir):
    from config.settings import load_settings
    return load_settings(data_dir=data_dir)


@pytest.fixture
def service(settings, clock):
    from gateway.services import Services
    svc = Services(settings, clock=clock)
    yield svc
    svc.store.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class LiveServer:
    """``healthcode serve`` on a free port (or ``port``); ``args`` add options (``--workers 2``)."""

    def __init__(self, data_dir: Path, extra_env: dict | None = None, args: tuple = (),
                 port: int | None = None):
        self.data = Path(data_dir)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "HEALTHCODE_DATA": str(data_dir), **(extra_env or {})}
        # The server's log goes to a file: an unread pipe fills up and blocks the server.
        self.log_path = Path(data_dir) / f"server-{self.port}.log"
        self._log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "healthcode"), "serve", "--host", "127.0.0.1", "--port", str(self.port), *args],
            env=env, stdout=self._log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(self.log_path.read_text(errors="replace"))
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.1)
        raise RuntimeError("gateway did not start")

    def stop(self, timeout: float = 10) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


@pytest.fixture(scope="module")
def live_data(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("live-data")


@pytest.fixture(scope="module")
def live_server(live_data):
    server = LiveServer(live_data)
    yield server
    server.stop()


def config_with_limits(folder: Path, **limits) -> Path:
    """A copy of config/regions.toml with some ``[limits]`` changed (tests reach limits quickly)."""
    import re
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    for key, value in limits.items():
        line = f"{key} = {value}"
        text, found = re.subn(rf"^{key} = .*$", line, text, flags=re.M)
        if not found:
            text = text.replace("[limits]\n", f"[limits]\n{line}\n", 1)
    path = Path(folder) / "regions.toml"
    path.write_text(text, encoding="utf-8")
    return path


def run_cli(*args, data_dir: Path, stdin: str | None = None, check: bool = False, env: dict | None = None):
    env = {**os.environ, "HEALTHCODE_DATA": str(data_dir), **(env or {})}
    return subprocess.run([str(BIN / "healthcode"), *args], input=stdin, capture_output=True,
                          text=True, env=env, check=check, timeout=120)


# --- CI runs strict: a test that would skip (a missing browser, server or tool) fails instead,
# so a green CI run means every test really ran.  `.ci/run` sets HEALTHCODE_STRICT=1.
@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if os.environ.get("HEALTHCODE_STRICT") == "1" and report.skipped and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        report.outcome = "failed"
        report.longrepr = f"skipped in strict mode (HEALTHCODE_STRICT=1): {reason}"
