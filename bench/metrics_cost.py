"""Section 9: what one metrics increment costs on the verify path — in memory (one process) and
in prometheus_client's multiprocess files (``serve --workers``: gateway/metrics.py) — measured in
two fresh processes (the mode is chosen when prometheus_client is first imported), alternated.

    .venv/bin/python -m bench.run --only metrics
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _child(n: int) -> None:
    """In this process: the cost of ``count_outcome`` (a verification) and ``count_lookup`` (a
    lookup and its latency), best of five rounds, in µs."""
    from gateway import metrics

    def best(fn) -> float:
        rounds = []
        for _ in range(5):
            start = time.perf_counter()
            for _ in range(n):
                fn()
            rounds.append((time.perf_counter() - start) / n * 1e6)
        return min(rounds)
    verification = best(lambda: metrics.count_outcome("yuekang", "green"))
    lookup = best(lambda: metrics.count_lookup("kiosk_lookup", "ok", 0.003))
    print(json.dumps({"verification_us": verification, "lookup_us": lookup,
                      "in_files": bool(os.environ.get(metrics.DIRECTORY_VARIABLE))}))


def _measure(directory: str | None, n: int) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PROMETHEUS_MULTIPROC_DIR"}
    env["PYTHONPATH"] = str(ROOT)
    if directory:
        env["PROMETHEUS_MULTIPROC_DIR"] = directory
    out = subprocess.run([sys.executable, "-m", "bench.metrics_cost", str(n)], cwd=ROOT, env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def bench_metrics_cost(n: int, one_core: float | None, row, rows: list) -> None:
    print(f"\n# 9. one metrics increment on the verify path, in memory and in multiprocess files "
          f"({n:,} increments a round, best of 5, 3 alternated runs)", flush=True)
    memory, files = [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(3):
            directory = Path(tmp) / str(i)          # a fresh one a run, as a server start empties it
            directory.mkdir()
            memory.append(_measure(None, n))
            files.append(_measure(str(directory), n))
    assert all(f["in_files"] for f in files) and not any(m["in_files"] for m in memory)
    median = lambda xs: sorted(xs)[len(xs) // 2]           # noqa: E731
    mem_v, file_v = median([m["verification_us"] for m in memory]), median([f["verification_us"] for f in files])
    mem_l, file_l = median([m["lookup_us"] for m in memory]), median([f["lookup_us"] for f in files])
    print(f"verification count   memory {mem_v:6.3f} µs   files {file_v:6.3f} µs")
    print(f"lookup + latency     memory {mem_l:6.3f} µs   files {file_l:6.3f} µs")
    rows.append(("metrics increment in files / in memory (count_outcome)", f"{file_v:.2f} vs {mem_v:.2f} µs",
                 f"{file_v / mem_v:.2f}", "(figure; no goal)"))
    if one_core:
        per_cent = file_v / (1e6 / one_core) * 100
        row("metrics increment in files, % of one in-process verify 粤康码",
            f"{file_v:.2f} µs vs {1e6 / one_core:.0f} µs", per_cent, "≤ 2 %", per_cent <= 2)


if __name__ == "__main__":
    _child(int(sys.argv[1]))
