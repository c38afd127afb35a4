"""Section 3: verify-batch, CLI and HTTP, against a one-core in-process verify of the same code
run in alternation with each batch run (goal ≥ 1.5 on 2 cores), and the machine's own ceiling
for any such ratio (two processes of a plain loop).  The HTTP goal's figure keeps two batch
requests in flight; the one-at-a-time figure is reported beside it (docs/benchmarks.md, "Batch
round 4")."""
from __future__ import annotations

import http.client
import json
import os
import subprocess
import threading
import time
from pathlib import Path

import orjson

from bench import http_load
from bench.measure import ROWS, bare_jws_check, rate_of, row
from config.settings import load_settings
from gateway.services import Services
from support.paths import BIN

BATCH_ITEMS = 500
HTTP_BATCHES = 40         # ~1 s a run on two idle cores


def _burn(n: int) -> int:
    x = 0
    for i in range(n):
        x += i * i
    return x


def two_process_ceiling(pool, n: int = 3_000_000) -> float:
    """What two processes get over one on this machine right now: the same pure-Python loop run
    once in one process, then twice at once in two.  On a shared machine with the kernel's
    autogroup scheduling (one share per session, however many processes it runs), busy
    neighbours hold this far below 2.0 — and no batch can beat it."""
    start = time.perf_counter()
    _burn(n)
    one = time.perf_counter() - start
    start = time.perf_counter()
    pool.map(_burn, [n, n])
    return 2 * one / (time.perf_counter() - start)


def bench_batch(data: Path, env: dict, text: str, one_core_rate: float, lines: int = 40_000, rounds: int = 5) -> None:
    """Each batch run alternates with a one-core in-process run of the same code (~1 s) and a
    one-core run of its bare signature check, and the figure is the median of the per-round
    ratios: section 1's rate was measured minutes earlier, and a neighbour's burst in between
    moved the batch ratio by half (0.52 vs 1.08 in two runs).  The CLI's figures include its
    start-up (the issue's goal); the rate after it is given beside them."""
    print(f"\n# 3. batches against a one-core in-process verify of the same code, alternating "
          f"({rounds} rounds; section 1 measured {one_core_rate:,.0f}/s), {os.cpu_count()} cores", flush=True)
    svc = Services(load_settings(data_dir=data))
    trust = svc.trust.trust_list()
    assert svc.verification.verifier.verify(text, trust).valid
    adapter = next(a for a in svc.verification.verifier.adapters if a.detect(text))
    bare_check = bare_jws_check(text, adapter.prefix, trust)

    import multiprocessing
    burners = multiprocessing.get_context("fork").Pool(2)
    ceilings: list[float] = []

    def serial() -> tuple[float, float]:
        """(one-core verify/s, one-core bare signature checks/s), measured now; the two-process
        ceiling of this round is noted in ``ceilings``."""
        ceilings.append(two_process_ceiling(burners))
        return rate_of(lambda: svc.verification.verifier.verify(text, trust), 15_000), rate_of(bare_check, 15_000)

    def cli_run(count: int) -> float:
        """Seconds of ``verify-batch`` over ``count`` lines, fed and read as bytes (the lines encoded
        before the clock starts, the answers counted without decoding them)."""
        stdin = "".join(json.dumps({"id": i, "payload": text}) + "\n" for i in range(count)).encode()
        start = time.perf_counter()
        out = subprocess.run([str(BIN / "healthcode"), "verify-batch"], input=stdin, capture_output=True,
                             env={**os.environ, "HEALTHCODE_DATA": str(data), **env}, check=True, timeout=600).stdout
        assert out.count(b'"valid": true') == count
        return time.perf_counter() - start

    startup = cli_run(1)                     # the command's start-up (imports, keys, trust list, pool)
    cli_rounds = []
    for _ in range(rounds):
        base, bare = serial()
        wall = cli_run(lines)
        cli_rounds.append((lines / wall, base, bare, lines / (wall - startup)))
    cli, base, bare, after = sorted(cli_rounds, key=lambda r: r[0] / r[1])[rounds // 2]
    row("verify-batch CLI / one-core verify, start-up included (alternating)",
        f"{lines:,} lines at {cli:,.0f}/s with the {startup:.1f} s start-up ({after:,.0f}/s after it: "
        f"{after / base:.2f}) vs {base:,.0f}/s; round ratios " + " ".join(f"{c / b:.2f}" for c, b, _, _ in cli_rounds),
        cli / base, "≥ 1.5", cli / base >= 1.5)
    ROWS.append(("verify-batch CLI / one core's bare signature checks, start-up included",
                 f"{cli:,.0f}/s vs {bare:,.0f}/s ({after / bare:.2f} after start-up)", f"{cli / bare:.2f}",
                 "(2 cores: the limit is 2.0)"))
    body = orjson.dumps({"items": [{"id": i, "payload": text} for i in range(BATCH_ITEMS)]})
    print(f"HTTP: {HTTP_BATCHES} POSTs of one {BATCH_ITEMS}-item body (encoded once; each answer checked whole "
          "with orjson) a run, two requests in flight for the goal's figure (since issue 22's fourth batch "
          "round; it was one at a time), then one at a time, in each round", flush=True)
    with http_load.Server(data, env, "--workers", "2") as server:
        post_batches(server.port, body, 8, 2)         # both workers and their pools warm
        http_rounds = []
        for _ in range(rounds):
            base, bare = serial()
            two = post_batches(server.port, body, HTTP_BATCHES, 2)
            one = post_batches(server.port, body, HTTP_BATCHES, 1)
            http_rounds.append((two, base, bare, one))
    svc.close()
    burners.close()
    ROWS.append(("two processes / one, a pure-Python loop (the machine's ceiling for any batch ratio)",
                 "rounds " + " ".join(f"{c:.2f}" for c in ceilings), f"{sorted(ceilings)[len(ceilings) // 2]:.2f}",
                 "(2.0 on two idle cores)"))
    http, base, bare, one = sorted(http_rounds, key=lambda r: r[0] / r[1])[rounds // 2]
    row(f"verify-batch HTTP ({BATCH_ITEMS} items, two requests in flight) / one-core verify (alternating)",
        f"{http:,.0f} items/s vs {base:,.0f}/s; round ratios " + " ".join(f"{h / b:.2f}" for h, b, _, _ in http_rounds),
        http / base, "≥ 1.5", http / base >= 1.5)
    ones = sorted(o / b for _, b, _, o in http_rounds)
    ROWS.append((f"verify-batch HTTP ({BATCH_ITEMS} items, one request at a time: the client waits) / one-core verify",
                 f"{one:,.0f} items/s in the same round; round ratios "
                 + " ".join(f"{o / b:.2f}" for _, b, _, o in http_rounds), f"{ones[len(ones) // 2]:.2f}",
                 "(beside the goal's figure: the client's and the gateway's serial steps between batches)"))
    ROWS.append((f"verify-batch HTTP ({BATCH_ITEMS} items, two in flight) / one core's bare signature checks",
                 f"{http:,.0f}/s vs {bare:,.0f}/s", f"{http / bare:.2f}", "(2 cores: the limit is 2.0)"))


def post_batches(port: int, body: bytes, batches: int, in_flight: int) -> float:
    """Items a second of ``batches`` POSTs of ``body`` to /v1/verify/batch, ``in_flight`` at a
    time (one keep-alive connection each, as an uploader of a checkpoint's offline backlog keeps
    a request in flight while it reads the last answer).  The body is encoded once (the same
    batch each time); each answer is checked whole: status 200, one result an item in order, and
    every verdict valid (orjson: the client's share of the two cores stays ~1.5 µs an item)."""
    count = len(orjson.loads(body)["items"])
    expected_ids = list(range(count))

    def client(n: int) -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        try:
            for _ in range(n):
                conn.request("POST", "/v1/verify/batch", body, {"Content-Type": "application/json"})
                answer = conn.getresponse()
                data = answer.read()
                assert answer.status == 200, (answer.status, data[:300])
                results = orjson.loads(data)["results"]
                assert [r["id"] for r in results] == expected_ids and all(r["valid"] is True for r in results)
        finally:
            conn.close()

    shares = [batches // in_flight + (i < batches % in_flight) for i in range(in_flight)]
    errors: list[BaseException] = []

    def run(n: int) -> None:
        try:
            client(n)
        except BaseException as exc:        # noqa: BLE001 — raised below, in the caller
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(n,)) for n in shares]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if errors:
        raise errors[0]
    return batches * count / elapsed
