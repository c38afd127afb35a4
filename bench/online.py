"""Benchmark 5: an online code resolved at its region over HTTP, against the signed code of the
same region verified in-process (what a checkpoint pays for keeping personal data out of the QR),
and with the short answer cache."""
from __future__ import annotations

import json
import tempfile
from pathlib import Path

import requests

import residents
from support.cli import run_cli
from support.live import LiveServer, free_port
from adapters.verifier import Verifier
from standard import trustlist


def bench_online(n: int, rate, latencies, pct) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data, port = Path(tmp), free_port()
        url = f"http://127.0.0.1:{port}"
        server = LiveServer(data, {"HEALTHCODE_ONLINE_URL": url}, port=port)
        try:
            token = json.loads(run_cli("tokens", data_dir=data, check=True).stdout)["440000"]
            person = {"id_number": residents.GD_ELDER.id_number, "name": residents.GD_ELDER.name, "status": "green"}
            codes = {fmt: requests.post(f"{url}/v1/issuers/440000/codes", json={**person, "format": fmt},
                                        headers={"Authorization": f"Bearer {token}"}, timeout=10).json()["qr_text"]
                     for fmt in ("native", "online")}
            keys = requests.get(url + "/v1/trust-list/national-keys", timeout=5).json()
            trust = trustlist.parse(requests.get(url + "/v1/trust-list", timeout=5).json()["jws"], keys)
            formats = ["national", "yuekang", "online"]
            uncached = Verifier(formats, options={"online": {"cache_seconds": 0}})
            cached = Verifier(formats)
            print(f"\n# 7. online code (checkpoint → region over HTTP), {n} scans")
            signed = rate(lambda: cached.verify(codes["native"], trust), n)
            asked = latencies(lambda: uncached.verify(codes["online"], trust), n)
            warm = rate(lambda: cached.verify(codes["online"], trust), n)
            print(f"signed YKM1 code in-process: {signed:8,.0f}/s")
            print(f"online, asked every scan    p50 {pct(asked, .5) * 1000:6.2f} ms  p95 {pct(asked, .95) * 1000:6.2f} ms"
                  f"   ratio p50 to the signed code: {pct(asked, .5) * signed:.1f}")
            print(f"online, answer cached (10 s): {warm:8,.0f}/s   ratio to the signed code: {warm / signed:.2f}")
        finally:
            server.stop()
