"""Kiosk lookup at scale: N residents in SQLite, then kiosk lookups of random ones among them.

    .venv/bin/python -m bench.kiosk_scale                  # 1 000 000 residents (make bench)
    .venv/bin/python -m bench.kiosk_scale --residents 10000000

Residents are status records exactly as the issuer stores them (``IssuingService.issue`` →
``Store.upsert_resident``): the subject id is the HMAC pseudonym of a synthetic but valid ID
number, the name a keyed digest, the name and ID number AES-GCM-sealed to the subject — made
with the data directory's own secrets, so a lookup opens them as it opens any real record.  They
are loaded in transactions of 50 000 rows on a bulk connection.  Then ``--lookups`` kiosk
lookups of residents drawn at random go through the whole in-process path
(``PeopleService.lookup``: per-credential limits, the region's issuer re-signs the code, the
verifier checks it, the audit entry); p50/p99 are reported against the 10 ms goal.
"""
from __future__ import annotations

import argparse
import base64
import json
import random
import secrets
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from support.live import config_with_limits  # noqa: E402
from standard.idcard import check_char  # noqa: E402
from config.settings import load_settings  # noqa: E402
from issuers import make_person  # noqa: E402
from gateway.services import Services  # noqa: E402

PREFIXES = (("440604", "440000"), ("310115", "310000"), ("510107", "510000"), ("110101", "110000"),
            ("330102", "330000"))
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英华建国淑兰"
STATUSES = ("green",) * 17 + ("yellow", "yellow", "red")
DAYS = 32_000                 # birth dates from 1930 on: with 3 sequence digits, ~32 M numbers per prefix
CHUNK = 50_000


def person(i: int) -> tuple[str, str, str]:
    """The i-th synthetic resident: (region, ID number, name); valid check character."""
    prefix, region = PREFIXES[i % len(PREFIXES)]
    j = i // len(PREFIXES)
    birth = time.gmtime(-1_262_304_000 + (j % DAYS) * 86400)          # from 1930-01-01
    body = f"{prefix}{birth.tm_year:04d}{birth.tm_mon:02d}{birth.tm_mday:02d}{j // DAYS:03d}"
    rng = random.Random(i)
    name = rng.choice(SURNAMES) + "".join(rng.choice(GIVEN) for _ in range(rng.choice((1, 2, 2))))
    return region, body + check_char(body), name


def load(svc: Services, n: int, progress=None) -> float:
    """Insert n residents; returns seconds."""
    pseudo, sealer = svc.issuing.pseudonymizer, svc.sealer
    kid = sealer._kids()[-1]                                 # the sealer's current key, read once
    aead = AESGCM(sealer._key(kid))
    now = svc.now()
    conn = sqlite3.connect(svc.store.path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("PRAGMA cache_size=-1000000")               # 1 GB: the primary-key index stays hot
    start = time.perf_counter()
    for lo in range(0, n, CHUNK):
        rows = []
        for i in range(lo, min(n, lo + CHUNK)):
            region, id_number, name = person(i)
            sub = pseudo.subject("resident", id_number)
            nonce = secrets.token_bytes(12)
            sealed = aead.encrypt(nonce, json.dumps({"name": name, "id_number": id_number,
                                                     "id_type": "resident"}).encode(), sub.encode())
            rows.append((sub, region, pseudo.name_digest(name), STATUSES[i % len(STATUSES)], "[]", now,
                         f"{kid}.{base64.urlsafe_b64encode(nonce + sealed).decode()}"))
        conn.execute("BEGIN")
        conn.executemany("INSERT OR REPLACE INTO residents VALUES (?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
        if progress and (lo // CHUNK) % 20 == 19:
            progress(lo + len(rows), time.perf_counter() - start)
    conn.close()
    return time.perf_counter() - start


class Kiosk:
    """A kiosk credential on ``svc`` and lookups of its residents, one at a time."""

    def __init__(self, svc: Services, n_residents: int, seed: int = 5):
        token = svc.administration.add_credential("kiosk", "bench-kiosk", {"role": "system", "id": "bench"},
                                   kiosk_id="bench-kiosk")
        self.svc, self.n, self.rng = svc, n_residents, random.Random(seed)
        self.principal = svc.credentials.caller(token)
        self.latencies: list[float] = []

    def lookup(self) -> None:
        region, id_number, _ = person(self.rng.randrange(self.n))
        t0 = time.perf_counter()
        result = self.svc.people.lookup(self.principal, make_person(id_number, None, name_required=False),
                                 assisted=False, kiosk_id="bench-kiosk")
        self.latencies.append(time.perf_counter() - t0)
        assert result["valid"] and result["region"] == region, result

    def percentile(self, q: float) -> float:
        lat = sorted(self.latencies)
        return lat[min(len(lat) - 1, int(len(lat) * q))]


SMALL = 10_000


def _service(data: Path) -> Services:
    config = config_with_limits(data, kiosk_lookups_per_minute=10**9, kiosk_lookups_per_hour=10**9)
    svc = Services(load_settings(config_path=config, data_dir=data))
    svc.verification.group_scan_writes()                          # as `healthcode serve` does
    return svc


def run(n: int, count: int, log=print) -> dict:
    """Load ``n`` residents (and ``SMALL`` in a second store), then ``count`` lookups on each,
    alternating, so the shared machine's noise hits both: p99 at scale against p99 small."""
    with tempfile.TemporaryDirectory() as big_dir, tempfile.TemporaryDirectory() as small_dir:
        big, small = _service(Path(big_dir)), _service(Path(small_dir))
        try:
            seconds = load(big, n, lambda done, s: log(f"  residents: {done:>11,} loaded, {done / s:,.0f}/s",
                                                      file=sys.stderr))
            load(small, SMALL)
            size = sum(f.stat().st_size for f in Path(big_dir).glob("healthcode.sqlite3*")) / 2**20
            at_scale, baseline = Kiosk(big, n), Kiosk(small, SMALL)
            for _ in range(count):
                at_scale.lookup()
                baseline.lookup()
        finally:
            big.close()
            small.close()
    return {"residents": n, "load_s": seconds, "size_mib": size, "lookups": count,
            "p50": at_scale.percentile(0.5), "p99": at_scale.percentile(0.99),
            "small_p50": baseline.percentile(0.5), "small_p99": baseline.percentile(0.99)}


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--residents", type=int, default=1_000_000)
    ap.add_argument("--lookups", type=int, default=2_000)
    args = ap.parse_args(argv)
    r = run(args.residents, args.lookups)
    print(f"kiosk lookup, {r['residents']:,} residents in SQLite: load {r['load_s']:,.0f} s "
          f"({r['residents'] / r['load_s']:,.0f}/s), file {r['size_mib']:,.0f} MiB; "
          f"p50 {r['p50'] * 1000:.1f} ms, p99 {r['p99'] * 1000:.1f} ms (ratio to the 10 ms goal "
          f"{r['p99'] / 0.010:.2f}); {SMALL:,} residents alternately: p50 {r['small_p50'] * 1000:.1f} ms, "
          f"p99 {r['small_p99'] * 1000:.1f} ms (ratio at scale / small {r['p99'] / r['small_p99']:.2f})")


if __name__ == "__main__":
    main()
