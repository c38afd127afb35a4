"""HTTP load for the benchmark: ``healthcode serve`` in a subprocess, ``wrk`` against it.

wrk (Debian package ``wrk``; ``scripts/install-bench-tools`` installs it when missing, as
``make bench`` does) keeps ``connections`` keep-alive connections busy from its own threads,
so the client is C, not Python, and the server is what is measured.  ``--latency`` gives the
percentiles; a Lua script turns requests into POSTs with a JSON body.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))
from support.live import LiveServer  # noqa: E402

UNITS = {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}


@dataclass
class Load:
    rps: float
    p50: float
    p99: float
    errors: int

    def __str__(self) -> str:
        errors = f", {self.errors} non-2xx/errors" if self.errors else ""
        return f"{self.rps:8,.0f}/s  p50 {self.p50 * 1000:6.2f} ms  p99 {self.p99 * 1000:6.2f} ms{errors}"


class Server(LiveServer):
    """``healthcode serve`` with extra arguments (no hourly purge); a context manager."""

    def __init__(self, data: Path, env: dict, *args: str):
        super().__init__(data, env, ("--purge-every", "0", *args))

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop(30)


def wrk_path() -> str:
    path = shutil.which("wrk")
    if not path:
        raise SystemExit("wrk is not installed: run scripts/install-bench-tools (make bench does)")
    return path


def wrk(url: str, seconds: float, connections: int = 32, threads: int = 2, body: dict | None = None) -> Load:
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        if body is not None:
            script.write('wrk.method = "POST"\nwrk.headers["Content-Type"] = "application/json"\n'
                         f"wrk.body = {json.dumps(json.dumps(body, ensure_ascii=True))}\n")
    try:
        out = subprocess.run([wrk_path(), "-t", str(threads), "-c", str(connections), "-d", f"{max(1, round(seconds))}s",
                              "--latency", "-s", script.name, url],
                             capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    finally:
        os.unlink(script.name)
    return parse_wrk(out)


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()
    return float(number) * UNITS[unit]


def parse_wrk(out: str) -> Load:
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p50 = _seconds(re.search(r"^\s+50%\s+(\S+)", out, re.M).group(1))
    p99 = _seconds(re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1))
    errors = sum(int(n) for n in re.findall(r"Non-2xx or 3xx responses:\s+(\d+)", out))
    socket = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    if socket:
        errors += sum(int(n) for n in socket.groups())
    return Load(rps, p50, p99, errors)


def median(loads: list[Load]) -> Load:
    """Field by field median of several runs."""
    mid = lambda xs: sorted(xs)[len(xs) // 2]           # noqa: E731
    return Load(mid([x.rps for x in loads]), mid([x.p50 for x in loads]), mid([x.p99 for x in loads]),
                sum(x.errors for x in loads))
