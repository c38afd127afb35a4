"""The gateway's client for remote regional issuers, against real loopback HTTP servers:
a circuit breaker per issuer, a bounded read of the answer, nonsense never a colour."""
from __future__ import annotations

import http.server
import threading
import time

import pytest

from gateway.issuer_client import CircuitBreaker, IssuerClient
from standard.errors import UpstreamUnavailable
from support.clock import Clock


class Upstream:
    """A real HTTP server on loopback answering every POST with ``body`` and ``status``."""

    def __init__(self, status: int, body: bytes):
        self.hits = 0
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                outer.hits += 1
                self.rfile.read(int(self.headers.get("Content-Length") or 0))
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                try:
                    self.wfile.write(body)
                except OSError:
                    pass

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True).start()   # quick shutdown

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def broken():
    upstream = Upstream(500, b'{"oops": true}')
    yield upstream
    upstream.close()


def test_the_breaker_opens_after_repeated_failures_and_probes_after_the_cooldown(broken):
    clock = Clock()
    client = IssuerClient(retries=0, breaker=CircuitBreaker(failures=3, cooldown=0.3, clock=clock))
    assert IssuerClient(clock=clock).breaker.clock is clock           # the default breaker takes the clock
    for _ in range(3):
        with pytest.raises(UpstreamUnavailable):
            client.lookup(broken.url, "440000", "t", {"id_number": "x"})
    assert broken.hits == 3
    t0 = time.perf_counter()
    for _ in range(20):                                  # open: fail fast, the issuer is not asked
        with pytest.raises(UpstreamUnavailable):
            client.lookup(broken.url, "440000", "t", {"id_number": "x"})
    assert broken.hits == 3 and time.perf_counter() - t0 < 0.3
    clock.advance(0.35)
    with pytest.raises(UpstreamUnavailable):             # half-open: one probe reaches the issuer
        client.lookup(broken.url, "440000", "t", {"id_number": "x"})
    assert broken.hits == 4


def test_a_healthy_answer_closes_the_breaker():
    good = Upstream(200, b'{"qr_text": "YKM1:x"}')
    try:
        breaker = CircuitBreaker(failures=1, cooldown=0.0)
        breaker.record(good.url, ok=False)
        client = IssuerClient(retries=0, breaker=breaker)
        assert client.lookup(good.url, "440000", "t", {})["qr_text"] == "YKM1:x"
        assert breaker.allow(good.url) and breaker._state == {}
    finally:
        good.close()


def test_an_oversized_answer_is_refused_without_reading_it_all():
    huge = Upstream(200, b'{"qr_text": "' + b"A" * 5_000_000 + b'"}')
    try:
        with pytest.raises(UpstreamUnavailable, match="nonsense"):
            IssuerClient(retries=0).lookup(huge.url, "440000", "t", {})
    finally:
        huge.close()


@pytest.mark.parametrize("status,body", [(200, b"not json"), (200, b"[1, 2]"), (400, b'{"error": "flat"}'),
                                         (418, b'{"error": {"code": 7}}')])
def test_nonsense_from_an_issuer_is_issuer_unavailable(status, body):
    upstream = Upstream(status, body)
    try:
        with pytest.raises(UpstreamUnavailable):
            IssuerClient(retries=0).lookup(upstream.url, "440000", "t", {})
    finally:
        upstream.close()
