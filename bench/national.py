"""National day (issue 18.4): a simulated day at the seeds' rhythm, compressed to ``--day`` seconds,
driven through nginx (deploy/nginx, tests/support/deploy_stack.py) against 3 gateways on a 3-node
Elasticsearch cluster (scripts/elasticsearch) and against 3 gateways on one SQLite file, in the
same run, one after the other.

    .venv/bin/python -m bench.national                  # make bench BENCH_ARGS="--only national"
    .venv/bin/python -m bench.national --day 40 --load 20

The day: 24 "hours" of DAY/24 seconds each; the offered rate of each hour follows HOURLY (a night
trough, the morning and evening commutes, a peak hour several times the average); every request
is one of: a scan (POST /v1/verify of a real code with a device and a place: verified and recorded
as a scan event), a kiosk lookup (POST /v1/kiosk/lookup of a resident drawn at random from those
loaded: the real-time GET of the resident, a fresh code, its verification recorded as a scan, the
audit entry), an issuance (POST /v1/issuers/440000/codes) or a printed card (POST /v1/print, one
person, a PDF).  Requests are sent at their scheduled times by a pool of client threads; a
request whose time has passed is sent at once (the achieved rate then falls below the offered).

Before the day, as many residents as ``--load`` seconds allow are bulk-loaded into Elasticsearch
(sealed and pseudonymised with the data directory's own secrets, exactly as the issuer stores
them), and the same number into SQLite.  Reported per store: verifications a second (the whole
day and the peak hour), p50/p99 per kind, scan-ingest lag (how long the oldest answered scan
waited to be countable in the store, sampled each second, and how long the last one took after
the day ended), kiosk lookup p99 at that many residents, and bytes on disk per million scans and
per million residents (after the day, ``--scans`` more scan events in bulk, so the sizes are of
filled indices; Elasticsearch: index store size, primaries and with the replica;
SQLite: the pages of each table, dbstat).
"""
from __future__ import annotations

import argparse
import base64
import contextlib
import json
import os
import random
import secrets
import sqlite3
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from cryptography.hazmat.primitives.ciphers.aead import AESGCM  # noqa: E402
from elasticsearch import helpers  # noqa: E402

from support.cli import run_cli  # noqa: E402
from support.deploy_stack import Stack  # noqa: E402
from support.search import drop_prefix, new_prefix, start_local  # noqa: E402
from config.settings import load_settings  # noqa: E402
from gateway.services import Services  # noqa: E402
from bench import kiosk_scale  # noqa: E402

# Offered rate of each hour against the day's average (0:00 … 23:00): night trough, the morning
# commute peak (8:00), lunch, the evening commute.  Peak / average is printed with the figures.
HOURLY = [0.12, 0.08, 0.06, 0.06, 0.08, 0.25, 0.8, 2.2, 3.6, 2.0, 1.3, 1.4, 1.8, 1.3, 1.1, 1.1,
          1.4, 2.4, 2.9, 1.6, 0.9, 0.6, 0.35, 0.2]
MEAN = sum(HOURLY) / len(HOURLY)
MIX = (("scan", 0.92), ("kiosk", 0.045), ("issue", 0.03), ("print", 0.005))
LIMITS = {k: 10**9 for k in ("anonymous_verifications_per_minute", "kiosk_lookups_per_minute",
                             "kiosk_lookups_per_hour", "prints_per_credential_per_minute",
                             "prints_per_credential_per_hour")}
CLIENTS = 32


def pct(values, q):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * q))] if values else float("nan")


def _services(stack: Stack) -> Services:
    settings = load_settings(stack.env["HEALTHCODE_CONFIG"], stack.env["HEALTHCODE_DATA"])
    return Services(settings, store=stack.store())


def _resident_rows(svc: Services, lo: int, hi: int):
    """Residents lo..hi-1 of bench/kiosk_scale.py's synthetic population, as the issuer stores them."""
    pseudo, sealer = svc.issuing.pseudonymizer, svc.sealer
    kid = sealer._kids()[-1]
    aead = AESGCM(sealer._key(kid))
    now = svc.now()
    for i in range(lo, hi):
        region, id_number, name = kiosk_scale.person(i)
        sub = pseudo.subject("resident", id_number)
        nonce = secrets.token_bytes(12)
        sealed = aead.encrypt(nonce, json.dumps({"name": name, "id_number": id_number,
                                                 "id_type": "resident"}).encode(), sub.encode())
        yield (sub, region, pseudo.name_digest(name), kiosk_scale.STATUSES[i % len(kiosk_scale.STATUSES)], now,
               f"{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}")


def load_es_residents(stack: Stack, budget: float, chunk: int = 5000) -> tuple[int, float]:
    """Bulk-load residents into the cluster until ``budget`` seconds have passed; (count, seconds)."""
    from store.elasticsearch import _doc_id
    svc = _services(stack)
    store = svc.store
    index = store.index("residents")
    n, start = 0, time.perf_counter()
    try:
        while time.perf_counter() - start < budget:
            actions = [{"_index": index, "_id": _doc_id(sub, region),
                        "_source": {"sub": sub, "region": region, "name_hmac": name, "status": status, "reasons": [],
                                    "updated_at": at, "pii_sealed": sealed}}
                       for sub, region, name, status, at, sealed in _resident_rows(svc, n, n + chunk)]
            helpers.bulk(store.client, actions, chunk_size=chunk, request_timeout=120)
            n += chunk
    finally:
        svc.close()
    return n, time.perf_counter() - start


def load_sqlite_residents(stack: Stack, n: int) -> float:
    svc = _services(stack)
    try:
        start = time.perf_counter()
        conn = sqlite3.connect(svc.store.path, isolation_level=None, timeout=60)
        for lo in range(0, n, 50_000):
            rows = [(sub, region, name, status, "[]", at, sealed)
                    for sub, region, name, status, at, sealed in _resident_rows(svc, lo, min(n, lo + 50_000))]
            conn.execute("BEGIN")
            conn.executemany("INSERT OR REPLACE INTO residents VALUES (?,?,?,?,?,?,?)", rows)
            conn.execute("COMMIT")
        conn.close()
        return time.perf_counter() - start
    finally:
        svc.close()


def schedule(day: float, average: float, seed: int = 18) -> list[tuple[float, str]]:
    """(offset in seconds, kind) of every request of the day, Poisson arrivals at each hour's rate."""
    rng = random.Random(seed)
    kinds, weights = zip(*MIX)
    hour = day / 24
    out, t = [], 0.0
    for h, w in enumerate(HOURLY):
        rate = average * w / MEAN
        t = h * hour
        while True:
            t += rng.expovariate(rate)
            if t >= (h + 1) * hour:
                break
            out.append((t, rng.choices(kinds, weights)[0]))
    return out


class Day:
    """One simulated day against ``stack``: the requests, their latencies, the scan-ingest lag."""

    def __init__(self, stack: Stack, residents: int, day: float, average: float):
        self.stack, self.residents, self.day, self.average = stack, residents, day, average
        self.plan = schedule(day, average)
        self.lock = threading.Lock()
        self.next = 0
        self.lat: dict[str, list[float]] = {k: [] for k, _ in MIX}
        self.errors: dict[str, list] = {k: [] for k, _ in MIX}
        self.done_at: dict[str, list[float]] = {k: [] for k, _ in MIX}
        self.scanned: list[float] = []             # when each answer that records a scan came back
        env = stack.env
        data = Path(env["HEALTHCODE_DATA"])
        self.kiosk_token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "bench-kiosk",
                                              data_dir=data, env=env, check=True).stdout)["token"]
        session = stack.session()
        auth = {"Authorization": f"Bearer {stack.tokens['440000']}"}
        self.codes = []
        for i in range(8):                          # the codes the scanners see
            region, id_number, name = kiosk_scale.person(i * 5)
            r = session.post(f"{stack.url}/v1/issuers/440000/codes", headers=auth, timeout=60,
                             json={"id_number": id_number, "name": name, "id_type": "resident"})
            assert r.status_code == 201, r.text
            self.codes.append(r.json()["qr_text"])

    def _request(self, session, kind: str, rng: random.Random):
        url, auth = self.stack.url, {"Authorization": f"Bearer {self.stack.tokens['440000']}"}
        if kind == "scan":
            r = session.post(f"{url}/v1/verify", timeout=60, json={
                "payload": rng.choice(self.codes), "device": f"scanner-{rng.randrange(1000)}", "place": "bus-12"})
            return r.status_code == 200 and r.json().get("valid") is True, r
        if kind == "kiosk":
            region, id_number, _ = kiosk_scale.person(rng.randrange(self.residents))
            r = session.post(f"{url}/v1/kiosk/lookup", timeout=60, json={"id_number": id_number},
                             headers={"Authorization": f"Bearer {self.kiosk_token}"})
            return r.status_code == 200 and r.json().get("region") == region, r
        i = rng.randrange(self.residents // 5) * 5         # a loaded Guangdong resident (kiosk_scale.PREFIXES[0])
        _, id_number, name = kiosk_scale.person(i)
        if kind == "issue":
            r = session.post(f"{url}/v1/issuers/440000/codes", headers=auth, timeout=60,
                             json={"id_number": id_number, "name": name, "id_type": "resident"})
            return r.status_code == 201, r
        r = session.post(f"{url}/v1/print", headers=auth, timeout=60,
                         json={"people": [{"region": "440000", "id_number": id_number, "name": name}]})
        return r.status_code == 200 and r.content.startswith(b"%PDF"), r

    def _client(self, n: int, start: float) -> None:
        session = self.stack.session(f"127.0.{1 + n // 200}.{1 + n % 200}")
        rng = random.Random(n)
        while True:
            with self.lock:
                if self.next >= len(self.plan):
                    return
                due, kind = self.plan[self.next]
                self.next += 1
            wait = start + due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            t0 = time.perf_counter()
            try:
                good, answer = self._request(session, kind, rng)
            except Exception as exc:                       # noqa: BLE001 — counted, shown below
                good, answer = False, exc
            t1 = time.perf_counter()
            with self.lock:
                if good:
                    self.lat[kind].append(t1 - t0)
                    self.done_at[kind].append(t1 - start)
                    if kind in ("scan", "kiosk"):
                        self.scanned.append(t1)
                else:
                    self.errors[kind].append(getattr(answer, "text", repr(answer))[:200])

    def run(self) -> dict:
        store = self.stack.store()
        try:
            base = store.count("scans")
            samples: list[float] = []
            stop = threading.Event()

            def sample() -> None:
                while not stop.wait(1.0):
                    t, stored = time.perf_counter(), store.count("scans") - base
                    with self.lock:
                        answered = sorted(self.scanned)
                    samples.append(t - answered[stored] if stored < len(answered) else 0.0)

            sampler = threading.Thread(target=sample, daemon=True)
            start = time.perf_counter()
            sampler.start()
            threads = [threading.Thread(target=self._client, args=(n, start)) for n in range(CLIENTS)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            ended = time.perf_counter()
            stop.set()
            sampler.join()
            expected = len(self.scanned)
            while store.count("scans") - base < expected and time.perf_counter() - ended < 120:
                time.sleep(0.2)
            drained = time.perf_counter() - max(self.scanned)
            stored = store.count("scans") - base
        finally:
            store.close()
        hour = self.day / 24
        peak_hour = HOURLY.index(max(HOURLY))
        peak = sum(1 for t in self.done_at["scan"] if peak_hour * hour <= t < (peak_hour + 1) * hour) / hour
        return {"wall": ended - start, "scans": len(self.lat["scan"]), "per_s": len(self.lat["scan"]) / (ended - start),
                "peak_per_s": peak, "lag_p50": pct(samples, 0.5), "lag_max": max(samples, default=0.0),
                "drained": drained, "stored": stored, "expected": expected,
                "lat": {k: (len(v), pct(v, 0.5), pct(v, 0.99)) for k, v in self.lat.items()},
                "errors": {k: (len(v), v[:2]) for k, v in self.errors.items() if v}}


def es_bytes(stack: Stack) -> dict:
    store = stack.store()
    try:
        store.client.indices.refresh(index=f"{store.prefix}-*")
        store.client.indices.flush(index=f"{store.prefix}-*")
        out = {}
        for kind, pattern in (("scans", store.scans_pattern), ("residents", store.index("residents"))):
            stats = store.client.indices.stats(index=pattern, metric=["store", "docs"])["_all"]
            out[kind] = (stats["primaries"]["docs"]["count"], stats["primaries"]["store"]["size_in_bytes"],
                         stats["total"]["store"]["size_in_bytes"])
        return out
    finally:
        store.close()


def sqlite_bytes(stack: Stack) -> dict:
    path = Path(stack.env["HEALTHCODE_DATA"]) / "healthcode.sqlite3"
    conn = sqlite3.connect(path)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        sizes = dict(conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name"))
        owners = dict(conn.execute("SELECT name, tbl_name FROM sqlite_master"))
        out = {}
        for kind, table in (("scans", "scan_events"), ("residents", "residents")):
            rows = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]    # noqa: S608 — fixed names
            size = sum(size for name, size in sizes.items() if owners.get(name) == table)
            out[kind] = (rows, size, size)
        return out
    finally:
        conn.close()


def bulk_scans(stack: Stack, n: int) -> tuple[int, float]:
    """``n`` more scan events through ``add_scans`` in batches of 5 000 (bench/ingest.py's events,
    over one day), so the bytes per scan are those of a filled index, not of a few thousand."""
    from bench.ingest import batches
    store = stack.store()
    try:
        start = time.perf_counter()
        for batch in batches(n, 5000, 1):
            store.add_scans(batch)
        return n, time.perf_counter() - start
    finally:
        store.close()


def audit_rate(stack: Stack, writers: int = 6, seconds: float = 10, threads_each: int = 1) -> float:
    """Audit appends a second from ``writers`` stores at once (as many gateways), each from
    ``threads_each`` threads (a gateway's request threads) appending as fast as they can: the one
    hash chain every issuance, lookup and print appends to.  Threads of one store share its head
    writes (group commit, store/elasticsearch/audit.py)."""
    from store.audit import AuditLog
    stores = [stack.store() for _ in range(writers)]
    counts = [0] * (writers * threads_each)
    stop = threading.Event()

    def append(n: int) -> None:
        log = AuditLog(stores[n % writers], time.time)
        while not stop.is_set():
            log.record({"role": "system", "id": f"bench-{n}"}, "bench_append", None)
            counts[n] += 1

    threads = [threading.Thread(target=append, args=(n,)) for n in range(writers * threads_each)]
    try:
        start = time.perf_counter()
        for thread in threads:
            thread.start()
        time.sleep(seconds)
        stop.set()
        for thread in threads:
            thread.join(60)
        return sum(counts) / (time.perf_counter() - start)
    finally:
        for store in stores:
            store.close()


def gateway_errors(folder: Path) -> dict[str, int]:
    """The exceptions the gateways logged (the last line of each traceback), counted."""
    found: dict[str, int] = {}
    for log in folder.glob("gateway-*.log"):
        lines = log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            if line.startswith("Traceback"):
                end = next((j for j in range(i + 1, len(lines)) if not lines[j].startswith((" ", "Traceback"))), None)
                if end is not None:
                    found[lines[end][:160]] = found.get(lines[end][:160], 0) + 1
    return found


def run_one(kind: str, folder: Path, env: dict, residents: int | None, load: float, day: float,
            average: float, scans: int = 100_000, log=print) -> dict:
    stack = Stack(folder, env, limits=LIMITS, gateways=3, threads=8)
    try:
        if kind == "es":
            n, seconds = load_es_residents(stack, load)
        else:
            n = residents
            seconds = load_sqlite_residents(stack, n)
        log(f"  {kind}: {n:,} residents loaded in {seconds:,.0f} s ({n / seconds:,.0f}/s)", file=sys.stderr)
        result = Day(stack, n, day, average).run()
        result["residents"], result["load_s"] = n, seconds
        result["bulk_scans"], result["bulk_scans_s"] = bulk_scans(stack, scans)
        result["audit_per_s"] = audit_rate(stack)
        result["audit_grouped_per_s"] = audit_rate(stack, threads_each=8)
        result["gateway_errors"] = gateway_errors(folder)
        result["bytes"] = es_bytes(stack) if kind == "es" else sqlite_bytes(stack)
        return result
    finally:
        stack.close()


def national(day: float = 120, average: float = 60, load: float = 90, scans: int = 100_000,
             log=print) -> dict[str, dict]:
    """The day on Elasticsearch (3 nodes) and then on SQLite, with the same residents count."""
    results: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        server = start_local(3)
        try:
            env = {"HEALTHCODE_STORE": "elasticsearch", "HEALTHCODE_ES_URL": ",".join(server.urls),
                   "HEALTHCODE_ES_PREFIX": new_prefix(), "HEALTHCODE_ES_REPLICAS": "1"}
            folder = Path(tmp) / "es"
            folder.mkdir()
            try:
                results["es"] = run_one("es", folder, env, None, load, day, average, scans, log)
                results["es"]["nodes"], results["es"]["rss_mb"] = len(server.urls), server.rss_mb()
            finally:
                with contextlib.suppress(Exception):
                    from store.elasticsearch import ElasticsearchStore
                    store = ElasticsearchStore(server.urls, prefix=env["HEALTHCODE_ES_PREFIX"])
                    drop_prefix(store)
                    store.close()
        finally:
            server.stop()
        folder = Path(tmp) / "sqlite"
        folder.mkdir()
        results["sqlite"] = run_one("sqlite", folder, {"HEALTHCODE_STORE": "sqlite"},
                                    results["es"]["residents"], load, day, average, scans, log)
    return results


def report(results: dict[str, dict], day: float, average: float, rows: list | None = None) -> None:
    peak = max(HOURLY) / MEAN
    print(f"day of {day:.0f} s (24 hours of {day / 24:.1f} s), offered {average:.0f} requests/s on average, "
          f"peak hour {peak:.1f}× the average; mix {', '.join(f'{k} {w:.1%}' for k, w in MIX)}; "
          f"{CLIENTS} client threads through nginx to 3 gateways ({os.cpu_count()} cores)")
    for kind, r in results.items():
        name = f"es {r.get('nodes', 3)} nodes" if kind == "es" else "sqlite"
        print(f"{name:<12} verifications {r['per_s']:7.1f}/s (peak hour {r['peak_per_s']:.1f}/s), "
              f"{r['scans']:,} in {r['wall']:.0f} s; residents {r['residents']:,}")
        for k, (count, p50, p99) in r["lat"].items():
            print(f"{'':12} {k:<6} {count:6,} ok   p50 {p50 * 1000:7.1f} ms   p99 {p99 * 1000:7.1f} ms")
        print(f"{'':12} scan-ingest lag p50 {r['lag_p50']:.2f} s, max {r['lag_max']:.2f} s; last scan stored "
              f"{r['drained']:.2f} s after its answer; stored {r['stored']:,} of {r['expected']:,}")
        for what, (docs, primary, total) in r["bytes"].items():
            if docs:
                print(f"{'':12} {what:<9} {docs:9,} rows: {primary / docs * 1e6 / 2**30:7.2f} GiB per million"
                      + (f" ({total / docs * 1e6 / 2**30:.2f} GiB with the replica)" if total != primary else ""))
        print(f"{'':12} then {r['bulk_scans']:,} scan events in bulk (add_scans, batches of 5 000): "
              f"{r['bulk_scans'] / r['bulk_scans_s']:,.0f}/s, for the bytes below")
        print(f"{'':12} audit chain: {r['audit_per_s']:,.0f} appends/s from 6 writers at once "
              "(one chain: every issuance, lookup and print appends to it); "
              f"{r['audit_grouped_per_s']:,.0f}/s from 6 writers × 8 threads (group commit)")
        if r["errors"]:
            print(f"{'':12} errors: {r['errors']}")
        if r.get("gateway_errors"):
            print(f"{'':12} gateway exceptions: {r['gateway_errors']}")
        if r.get("rss_mb"):
            print(f"{'':12} cluster resident memory {r['rss_mb']:,.0f} MiB")
    if rows is not None and "es" in results and "sqlite" in results:
        e, s = results["es"], results["sqlite"]

        def per_million(r, what):
            docs, primary, _ = r["bytes"][what]
            return primary / docs * 1e6 / 2**30 if docs else float("nan")

        rows.append(("national: verifications/s, ES 3 nodes / SQLite", f"{e['per_s']:.1f} vs {s['per_s']:.1f}",
                     f"{e['per_s'] / s['per_s']:.2f}", "(figure; offered load the same)"))
        rows.append(("national: scan p99, ES / SQLite", f"{e['lat']['scan'][2] * 1000:.1f} vs "
                     f"{s['lat']['scan'][2] * 1000:.1f} ms", f"{e['lat']['scan'][2] / s['lat']['scan'][2]:.2f}",
                     "(figure)"))
        rows.append((f"national: kiosk p99 with {e['residents']:,} residents, ES / SQLite",
                     f"{e['lat']['kiosk'][2] * 1000:.1f} vs {s['lat']['kiosk'][2] * 1000:.1f} ms",
                     f"{e['lat']['kiosk'][2] / s['lat']['kiosk'][2]:.2f}", "(figure)"))
        for what in ("scans", "residents"):
            rows.append((f"national: GiB per million {what} (primaries), ES / SQLite",
                         f"{per_million(e, what):.2f} vs {per_million(s, what):.2f}",
                         f"{per_million(e, what) / per_million(s, what):.2f}", "(figure)"))


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--day", type=float, default=120, help="seconds the 24 hours are compressed to")
    ap.add_argument("--average", type=float, default=60, help="offered requests a second, the day's average")
    ap.add_argument("--load", type=float, default=90, help="seconds of loading residents into Elasticsearch")
    ap.add_argument("--scans", type=int, default=100_000, help="scan events added in bulk after the day (bytes)")
    args = ap.parse_args(argv)
    results = national(args.day, args.average, args.load, args.scans)
    report(results, args.day, args.average)


if __name__ == "__main__":
    main()
