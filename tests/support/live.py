"""A live gateway: ``healthcode serve`` in a subprocess on a free port (every test using it is
marked ``server``), a copy of the configuration with smaller limits, and an HTTP call as a role."""
from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import requests

from support.marks import needs
from support.paths import BIN, ROOT
from support.waiting import wait_until


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@needs("server")
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

    def _healthy(self) -> bool:
        if self.proc.poll() is not None:
            raise RuntimeError(self.log_path.read_text(errors="replace"))
        try:
            return requests.get(self.url + "/healthz", timeout=2).status_code == 200
        except requests.ConnectionError:
            return False

    def _wait(self) -> None:
        if not wait_until(self._healthy, timeout=30, interval=0.1):
            raise RuntimeError("gateway did not start")

    def stop(self, timeout: float = 10) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
        self._log.close()


def config_with_limits(folder: Path, **limits) -> Path:
    """A copy of config/regions.toml with some ``[limits]`` changed (tests reach limits quickly)."""
    text = (ROOT / "config" / "regions.toml").read_text(encoding="utf-8")
    for key, value in limits.items():
        line = f"{key} = {value}"
        text, found = re.subn(rf"^{key} = .*$", line, text, flags=re.M)
        if not found:
            text = text.replace("[limits]\n", f"[limits]\n{line}\n", 1)
    path = Path(folder) / "regions.toml"
    path.write_text(text, encoding="utf-8")
    return path


def call(server, method, path, role=None, **kw):
    """An HTTP request to ``server`` (anything with ``.url`` and ``.cred``, role → token) as ``role``."""
    headers = kw.pop("headers", {})
    if role:
        headers["Authorization"] = f"Bearer {server.cred[role]}"
    return requests.request(method, server.url + path, headers=headers, timeout=30, **kw)
