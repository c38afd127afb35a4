"""Ingest benchmark: N scan events into each store backend through ``add_scans``, in batches.

    .venv/bin/python -m bench.ingest                 # 1 000 000 events, batches of 5 000
    .venv/bin/python -m bench.ingest --n 100000 --backends sqlite,es

SQLite writes to a fresh file in a temporary directory.  Elasticsearch is the cluster in
HEALTHCODE_ES_URL (a random index prefix, deleted afterwards) or else a real single node started on
loopback by scripts/elasticsearch (tests/support/search.py); the store runs with its defaults
(refresh="wait_for" per bulk request), so this is what the gateway would see.  Events are spread over --days days, so the
daily scan indices are exercised.  Only the add_scans calls are timed; afterwards every backend
must count exactly N events.  For a local node its resident memory is sampled.  Each
backend's line also gives the wall time of the whole run (event generation, ingest, the final
count) and this process's peak resident memory; run one backend per invocation
(``--backends sqlite``, then ``--backends es``) for a peak that belongs to that backend alone.
"""
from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.search import drop_prefix, make_store, search_server  # noqa: E402
from store import ScanEvent  # noqa: E402
from store.sqlite import SqliteStore  # noqa: E402

T0 = 1_800_000_000
FORMATS = ("yuekang", "suishen", "tianfu", "jiankangbao", "national", "macau")
REGIONS = ("440000", "310000", "510000", "110000", "820000")
STATUSES = ("green", "green", "green", "green", "yellow", "red")


def batches(n: int, size: int, days: int, seed: int = 7):
    """Deterministic, realistic-looking events in time order, generated one batch at a time."""
    rng = random.Random(seed)
    step = days * 86400 / max(n, 1)
    for start in range(0, n, size):
        batch = []
        for i in range(start, min(n, start + size)):
            if rng.random() < 0.03:
                batch.append(ScanEvent(T0 + int(i * step), False, None, None, None, None, "format_unknown",
                                       f"place-{rng.randrange(500)}", f"dev-{rng.randrange(2000)}"))
            else:
                batch.append(ScanEvent(T0 + int(i * step), True, rng.choice(FORMATS), rng.choice(REGIONS),
                                       rng.choice(STATUSES), f"{rng.getrandbits(72):018x}",
                                       None, f"place-{rng.randrange(500)}", f"dev-{rng.randrange(2000)}"))
        yield batch


class MemorySampler:
    def __init__(self, server, every: float = 0.5):
        self.server, self.every, self.peak = server, every, 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            self.peak = max(self.peak, self.server.rss_mb() or 0.0)
            self._stop.wait(self.every)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()


def own_peak_mib() -> float:
    """Peak resident memory of this (client) process so far, in MiB (Linux: ru_maxrss is KiB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def ingest(store, n: int, size: int, days: int, label: str, memory=None, max_mib: float | None = None):
    """Returns (events/s, events stored, seconds in add_scans); stops early if ``memory()``
    passes ``max_mib``."""
    elapsed, done, next_report = 0.0, 0, n // 10
    for batch in batches(n, size, days):
        t0 = time.perf_counter()
        store.add_scans(batch)
        elapsed += time.perf_counter() - t0
        done += len(batch)
        if done >= next_report and done < n:
            rss = f", server RSS {memory():,.0f} MiB" if memory else ""
            print(f"  {label}: {done:>9,} events, {done / elapsed:>9,.0f}/s so far{rss}", file=sys.stderr, flush=True)
            next_report += n // 10
        if memory and max_mib and (memory() or 0) > max_mib:
            print(f"  {label}: server RSS above {max_mib:,.0f} MiB after {done:,} events; stopping early",
                  file=sys.stderr, flush=True)
            break
    count = store.count_scans()
    if count != done:
        raise SystemExit(f"{label}: stored {count} events, expected {done}")
    return done / elapsed, done, elapsed


def bench_sqlite(args) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        store = SqliteStore(Path(tmp) / "bench.sqlite3")
        try:
            rate, done, busy = ingest(store, args.n, args.batch, args.days, "sqlite")
        finally:
            store.close()
        size = sum(f.stat().st_size for f in Path(tmp).glob("bench.sqlite3*")) / 2**20
    wall = time.perf_counter() - start
    print(f"sqlite        {rate:>10,.0f} events/s   ({done:,} events; add_scans {busy:,.1f} s, wall {wall:,.1f} s; "
          f"file {size:,.0f} MiB; bench process peak RSS {own_peak_mib():,.0f} MiB)", flush=True)
    return rate


def bench_es(args) -> float:
    start = time.perf_counter()
    with search_server() as server:
        store = make_store(server, **({"refresh": args.refresh} if args.refresh is not None else {}))
        before = server.rss_mb()
        try:
            with MemorySampler(server) as mem:
                rate, done, busy = ingest(store, args.n, args.batch, args.days, server.kind,
                                    memory=server.rss_mb if server.run_dir else None,
                                    max_mib=args.max_server_mib)
            days = len(store.client.indices.get_alias(index=store.scans_pattern))
            after = server.rss_mb()
        finally:
            drop_prefix(store)
            store.close()
    wall = time.perf_counter() - start
    memory = (f"   (node RSS {before:,.0f} → {after:,.0f} MiB, peak {max(mem.peak, after or 0):,.0f} MiB)"
              if before is not None else "")
    partial = f", STOPPED after {done:,} events" if done < args.n else ""
    print(f"es/{server.kind:<9} {rate:>10,.0f} events/s   ({done:,} events in {days} daily indices{partial}; "
          f"add_scans {busy:,.1f} s, wall {wall:,.1f} s incl. server start/stop; "
          f"bench process peak RSS {own_peak_mib():,.0f} MiB){memory}", flush=True)
    return rate


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000, help="events per backend (default 1 000 000)")
    ap.add_argument("--batch", type=int, default=5_000, help="events per add_scans call (default 5 000)")
    ap.add_argument("--days", type=int, default=3, help="days the events are spread over (default 3)")
    ap.add_argument("--backends", default="sqlite,es", help="comma-separated: sqlite, es")
    ap.add_argument("--refresh", choices=["wait_for", "true", "false"], default=None,
                    help="the ES store's refresh mode (default: the store's default, wait_for)")
    ap.add_argument("--max-server-mib", type=float, default=12_000,
                    help="stop the run early above this node resident memory (default 12 000 MiB)")
    args = ap.parse_args(argv)
    if args.refresh is not None:
        args.refresh = {"wait_for": "wait_for", "true": True, "false": False}[args.refresh]
    wanted = [b.strip() for b in args.backends.split(",") if b.strip()]
    print(f"# ingest {args.n:,} scan events per backend, add_scans batches of {args.batch:,}", flush=True)
    rates = {}
    if "sqlite" in wanted:
        rates["sqlite"] = bench_sqlite(args)
    if "es" in wanted:
        rates["es"] = bench_es(args)
    if len(rates) == 2:
        print(f"ratio es/sqlite = {rates['es'] / rates['sqlite']:.2f}  "
              f"(sqlite/es = {rates['sqlite'] / rates['es']:.2f})")


if __name__ == "__main__":
    main()
