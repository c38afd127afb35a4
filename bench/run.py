"""Benchmarks: speed goals live here, printed as ratios, not as timed unit tests.

    make bench            # or: .venv/bin/python -m bench.run [--quick]

1. verify in-process, per format (regional, EU DCC, SMART Health Card), against the bare
   signature check it cannot beat; an EU DCC with imported business rules against without;
2. verify over HTTP (threaded Flask server) against GET /healthz on the same server;
3. batch of 500 against 500 single requests;
4. kiosk lookup (gateway → issuer over HTTP → verify) against the 2 s card-reader budget;
5. an online code asked of its region over HTTP, and with the answer cache, against the signed
   code of the same region (bench/online.py).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from conftest import LiveServer, config_with_limits, run_cli  # noqa: E402
from standard import jose
from standard.settings import load_settings  # noqa: E402
from issuers import make_person  # noqa: E402
from gateway.service import Service  # noqa: E402

PEOPLE = {"440000": ("440305193606300643", "陈秀英", "resident"), "310000": ("310115193302201761", "王桂兰", "resident"),
          "510000": ("510107199501013071", "张伟", "resident"), "110000": ("110101197612039635", "刘建国", "resident"),
          "330000": ("330102195203154120", "钱淑芬", "resident"),
          "820000": ("1234567(8)", "陳大文", "macau_id")}


def rate(fn, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return n / (time.perf_counter() - start)


def latencies(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return sorted(out)


def pct(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]


def bench_in_process(svc: Service, n: int) -> None:
    print(f"\n# 1. verify in-process ({n} codes each)")
    key = jose.generate_private_key("ES256")
    msg = b"x" * 400
    sig = jose.sign("ES256", key, msg)
    bare = rate(lambda: jose.verify("ES256", key.public_key(), msg, sig), n)
    print(f"bare ES256 signature check: {bare:,.0f}/s")
    for region, (id_number, name, id_type) in PEOPLE.items():
        text = svc.issue(region, make_person(id_number, name, id_type)).qr_text
        r = rate(lambda: svc.verifier.verify(text, svc.trust_list()), n)
        fmt = svc.settings.region(region).format
        print(f"{fmt:12s} verify: {r:8,.0f}/s   ratio to bare signature check: {r / bare:.2f}")


def other_signers(count: int) -> list[dict]:
    """Self-signed P-256 certificates standing in for the EU gateway's few hundred signers."""
    import base64
    import datetime as dt
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.x509.oid import NameOID
    out = []
    for i in range(count):
        key = jose.generate_private_key("ES256")
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"DSC {i}")])
        cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                .serial_number(i + 1).not_valid_before(dt.datetime(2020, 1, 1))
                .not_valid_after(dt.datetime(2030, 1, 1)).sign(key, hashes.SHA256()))
        out.append({"type": "x509", "der_b64": base64.b64encode(cert.public_bytes(serialization.Encoding.DER)).decode()})
    return out


def bench_foreign(n: int) -> None:
    """EU DCC (ES256 and PS256) and a SMART Health Card, from the shared vectors."""
    import json
    from conftest import vectors_dir
    import standard
    from standard.trustlist import TrustList
    from adapters.verifier import Verifier
    key = jose.generate_private_key("ES256")
    sig = jose.sign("ES256", key, b"x" * 400)
    bare = rate(lambda: jose.verify("ES256", key.public_key(), b"x" * 400, sig), n)
    verifier = Verifier(["eu_dcc", "shc"])
    print(f"\n# 1b. foreign certificates in-process ({n} each), ratio to the bare ES256 check")
    for label, name in (("eu_dcc ES256", "CO3"), ("eu_dcc PS256", "CO1")):
        case = json.loads((vectors_dir() / "dcc" / "common" / f"{name}.json").read_text())
        trust = TrustList({}, ({"type": "x509", "der_b64": case["TESTCTX"]["CERTIFICATE"]},))
        at = standard.parse_rfc3339(case["TESTCTX"]["VALIDATIONCLOCK"])
        assert verifier.verify(case["PREFIX"], trust, at).valid
        r = rate(lambda: verifier.verify(case["PREFIX"], trust, at), n)
        print(f"{label:12s} verify: {r:8,.0f}/s   ratio: {r / bare:.2f}")
    many = TrustList({}, trust.anchors + tuple(other_signers(300)))
    assert verifier.verify(case["PREFIX"], many, at).valid          # builds the kid index once
    r = rate(lambda: verifier.verify(case["PREFIX"], many, at), n)
    print(f"{label} with 301 trusted signers: {r:8,.0f}/s   ratio to one signer: {r / rate(lambda: verifier.verify(case['PREFIX'], trust, at), n):.2f}")
    shc_dir = vectors_dir() / "shc"
    jwks = json.loads((shc_dir / "issuer-jwks.json").read_text())["keys"]
    trust = TrustList({}, tuple({"type": "jwk", "jwk": k} for k in jwks))
    card = (shc_dir / "example-00-d-jws.txt").read_text().strip()
    assert verifier.verify(card, trust).valid
    r = rate(lambda: verifier.verify(card, trust), n)
    print(f"{'shc':12s} verify: {r:8,.0f}/s   ratio: {r / bare:.2f}")


def bench_business_rules(n: int) -> None:
    """EU DCC verify with Germany's imported business rules (CertLogic) against without them."""
    import json
    from conftest import vectors_dir
    from standard import dccrules
    from standard.trustlist import TrustList
    from adapters.verifier import Verifier
    rules = [json.loads(p.read_text()) for p in sorted((vectors_dir() / "dcc-rules" / "DE").glob("*/rule.json"))]
    value_sets = [json.loads(p.read_text()) for p in sorted((vectors_dir() / "dcc-valuesets").glob("*.json"))]
    section = {"rules": {"DE": dccrules.parse_rule_set(rules, "DE")},
               "value_sets": dccrules.parse_value_sets(value_sets)}
    from test_dcc import NOW as at, dcc_test, dcc_vaccination, issue, signer
    key, der, anchor = signer()
    plain, ruled = TrustList({}, (anchor,)), TrustList({"dcc_rules": section}, (anchor,))
    verifier = Verifier(["eu_dcc"], options={"eu_dcc": {"country_of_arrival": "DE"}})
    print(f"\n# 1c. EU DCC with Germany's business rules ({n} scans), ratio to the same without rules")
    for label, text in (("vaccination", issue(key, der, dcc_vaccination(2, 2, "2025-01-10"))),
                        ("PCR test", issue(key, der, dcc_test(at - 3600), exp=at + 365 * 86400))):
        verdict = verifier.verify(text, ruled, at)
        assert verdict.status == "green", verdict
        without = rate(lambda: verifier.verify(text, plain, at), n)
        with_rules = rate(lambda: verifier.verify(text, ruled, at), n)
        print(f"{label:12s} + {verdict.extra['business_rules']['checked']} rules: {with_rules:8,.0f}/s   "
              f"ratio: {with_rules / without:.2f}   (a test's green end is searched: the timed rules re-run ~14 times)")


def bench_http(n: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        # one client hammering the server on purpose: lift the per-client limits for the bench
        config = config_with_limits(data, anonymous_verifications_per_minute=10**9,
                                    kiosk_lookups_per_minute=10**9, kiosk_lookups_per_hour=10**9)
        env = {"HEALTHCODE_CONFIG": str(config)}
        server = LiveServer(data, env)
        try:
            id_number, name, _ = PEOPLE["440000"]
            text = run_cli("issue", "--region", "440000", "--id-number", id_number, "--name", name,
                           "--kind", "offline", data_dir=data, check=True, env=env).stdout.strip()
            session = requests.Session()
            print(f"\n# 2. HTTP, one client, keep-alive ({n} requests)")
            base = latencies(lambda: session.get(server.url + "/healthz"), n)
            ver = latencies(lambda: session.post(server.url + "/v1/verify", json={"payload": text}), n)
            print(f"GET /healthz      p50 {pct(base, .5) * 1000:6.2f} ms  p95 {pct(base, .95) * 1000:6.2f} ms")
            print(f"POST /v1/verify   p50 {pct(ver, .5) * 1000:6.2f} ms  p95 {pct(ver, .95) * 1000:6.2f} ms"
                  f"   ratio p50 to healthz: {pct(ver, .5) / pct(base, .5):.2f}")
            print(f"scans per hour one checkpoint can do (p95): {3600 / pct(ver, .95):,.0f}")
            print("\n# 3. batch of 500 vs 500 single requests")
            items = [{"id": i, "payload": text} for i in range(500)]
            t0 = time.perf_counter()
            session.post(server.url + "/v1/verify/batch", json={"items": items}).raise_for_status()
            batch = time.perf_counter() - t0
            single = sum(ver[:500]) if len(ver) >= 500 else statistics.mean(ver) * 500
            print(f"batch {batch * 1000:,.0f} ms vs singles {single * 1000:,.0f} ms   ratio: {batch / single:.2f}")
            print("\n# 4. kiosk lookup: gateway → issuer over HTTP → verify")
            token = __import__("json").loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "bench",
                                                     data_dir=data, check=True, env=env).stdout)["token"]
            for region, (id_number, name, id_type) in PEOPLE.items():
                if id_type == "resident":
                    run_cli("issue", "--region", region, "--id-number", id_number, "--name", name,
                            data_dir=data, check=True, env=env)
            residents = [p for p in PEOPLE.values() if p[2] == "resident"]
            calls = iter(range(10 ** 9))
            kiosk = latencies(lambda: session.post(
                server.url + "/v1/kiosk/lookup", headers={"Authorization": f"Bearer {token}"},
                json={"id_number": residents[next(calls) % len(residents)][0], "kiosk_id": "bench"}), min(n, 200))
            print(f"kiosk lookup      p50 {pct(kiosk, .5) * 1000:6.1f} ms  p95 {pct(kiosk, .95) * 1000:6.1f} ms"
                  f"   ratio p95 to the 2 s budget: {pct(kiosk, .95) / 2.0:.3f}")
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer iterations")
    args = parser.parse_args()
    n = 200 if args.quick else 2000
    with tempfile.TemporaryDirectory() as tmp:
        svc = Service(load_settings(data_dir=tmp))
        bench_in_process(svc, n)
    bench_foreign(n)
    bench_business_rules(n)
    bench_http(min(n, 1000))
    from bench.online import bench_online
    bench_online(min(n, 500), rate, latencies, pct)


if __name__ == "__main__":
    main()
