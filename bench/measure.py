"""What every benchmark section measures with: rates, interleaved rounds, the bare signature check
a verify cannot beat, the summary rows, and the people and data directory the sections share."""
from __future__ import annotations

import sys
import time
from pathlib import Path

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from tongsuopy.crypto import hashes as sm_hashes
from tongsuopy.crypto.asymciphers import ec as sm_ec

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

import residents  # noqa: E402
from support.cli import run_cli  # noqa: E402
from support.live import config_with_limits  # noqa: E402
from standard import jose  # noqa: E402

PEOPLE = {"440000": residents.GD_ELDER, "310000": residents.SH_ELDER, "510000": residents.SC_RESIDENT,
          "110000": residents.BJ_ADULT, "330000": residents.ZJ_RESIDENT, "820000": residents.MO_RESIDENT}
ECDSA = ec.ECDSA(hashes.SHA256())
SM2_WITH_SM3 = sm_ec.ECDSA(sm_hashes.SM3())       # on an SM2 key Tongsuo signs SM2 with SM3 (standard/sm2.py)
ROWS: list[tuple[str, str, str, str]] = []           # (figure, measured, ratio, goal) for the summary


def row(figure: str, measured: str, ratio: float, goal: str, met: bool) -> None:
    ROWS.append((figure, measured, f"{ratio:.2f}", f"{goal} {'met' if met else 'NOT met'}"))
    print(f"  → {figure}: {measured}; ratio {ratio:.2f} (goal {goal}: {'met' if met else 'NOT met'})", flush=True)


def rate(fns, n: int) -> float:
    """Calls per second of ``fns`` taken in turn, ``n`` calls in all."""
    count = len(fns)
    start = time.perf_counter()
    for i in range(n):
        fns[i % count]()
    return n / (time.perf_counter() - start)


def rate_of(fn, n: int) -> float:
    return rate([fn], n)


def latencies(fn, n: int) -> list[float]:
    out = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t0)
    return sorted(out)


def pct(values, q):
    return values[min(len(values) - 1, int(q * len(values)))]


def interleaved(a, b, n: int, rounds: int = 20) -> tuple[float, float]:
    """Rates of ``a`` and ``b`` measured in alternating short rounds; returns the median rates,
    scaled so their ratio is the median of the per-round ratios: a neighbour's burst on the
    shared machine hits a round of both sides, and a bad round does not move the median."""
    pairs = [(rate(a, max(1, n // rounds)), rate(b, max(1, n // rounds))) for _ in range(rounds)]
    median = lambda xs: sorted(xs)[len(xs) // 2]           # noqa: E731
    bare = median([x for x, _ in pairs])
    return bare, bare * median([y / x for x, y in pairs])


def bare_jws_check(text: str, prefix: str, trust):
    """The signature check alone, straight on ``cryptography`` (Tongsuo for SM2SM3): what a
    verify cannot beat."""
    parsed = jose.parse(text[len(prefix):])
    key = trust.key(parsed.kid).public_key
    if parsed.alg in ("ES256", "SM2SM3"):
        der = encode_dss_signature(int.from_bytes(parsed.signature[:32], "big"),
                                   int.from_bytes(parsed.signature[32:], "big"))
        scheme = ECDSA if parsed.alg == "ES256" else SM2_WITH_SM3
        return lambda: key.verify(der, parsed.signing_input, scheme)
    return lambda: key.verify(parsed.signature, parsed.signing_input)


def served_data(tmp: Path) -> tuple[Path, dict, str]:
    """A data directory with no verification limits and one 粤康码 code: (directory, env, code)."""
    data = tmp / "template"
    data.mkdir()
    config = config_with_limits(data, anonymous_verifications_per_minute=10**9,
                                kiosk_lookups_per_minute=10**9, kiosk_lookups_per_hour=10**9)
    env = {"HEALTHCODE_CONFIG": str(config)}
    id_number, name, _ = PEOPLE["440000"]
    text = run_cli("issue", "--region", "440000", "--id-number", id_number, "--name", name, "--kind",
                   "offline", data_dir=data, check=True, env=env).stdout.strip()
    return data, env, text
