"""What deploy/ installs, run for real: nginx in front of three gateway processes on loopback.

The gateway believes X-Real-IP / X-Forwarded-For only from HEALTHCODE_TRUSTED_PROXIES
(gateway/proxy.py), so behind nginx anonymous limits are per client again and a client
connecting directly cannot choose its address.
"""
from __future__ import annotations

import datetime
import itertools
import json
import os
import re
import select
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from pathlib import Path

import pytest
import requests

from residents import GD_RESIDENT
from support.cli import run_cli
from support.deploy_stack import DEPLOY, Gateway, Stack, client
from support.live import config_with_limits
from config.settings import trusted_proxies
from gateway.proxy import client_address, limit_key
from standard.errors import ConfigInvalid

PROXY = trusted_proxies("127.0.0.1, 10.1.0.0/16 ::1")


@pytest.mark.parametrize("peer, real_ip, forwarded, expected", [
    ("203.0.113.5", "198.51.100.1", "198.51.100.2", "203.0.113.5"),    # not a proxy: headers ignored
    ("127.0.0.1", "198.51.100.1", "6.6.6.6, 198.51.100.2", "198.51.100.1"),   # X-Real-IP wins
    ("127.0.0.1", None, "6.6.6.6, 198.51.100.2", "198.51.100.2"),      # right-most hop, not the client's own
    ("127.0.0.1", None, "198.51.100.2, 10.1.2.3", "198.51.100.2"),     # trusted hops are skipped
    ("127.0.0.1", None, "10.1.2.3, 127.0.0.1", "10.1.2.3"),            # only proxies: the left-most
    ("127.0.0.1", "not-an-address", None, "127.0.0.1"),                # garbage: the proxy's own address
    ("127.0.0.1", None, "198.51.100.2, junk", "127.0.0.1"),
    ("127.0.0.1", None, None, "127.0.0.1"),
    ("::1", "2001:db8::7", None, "2001:db8::7"),
    ("::ffff:127.0.0.1", "198.51.100.9", None, "198.51.100.9"),       # IPv4-mapped peer is the same proxy
])
def test_the_client_address_is_read_from_headers_only_from_a_trusted_proxy(peer, real_ip, forwarded, expected):
    assert client_address(peer, real_ip, forwarded, PROXY) == expected


def test_no_proxy_is_trusted_by_default_and_a_bad_setting_refuses_to_start():
    assert client_address("127.0.0.1", "198.51.100.1", "198.51.100.2", trusted_proxies("")) == "127.0.0.1"
    with pytest.raises(ConfigInvalid, match="HEALTHCODE_TRUSTED_PROXIES"):
        trusted_proxies("127.0.0.1, nginx.local")


def test_the_app_keys_anonymous_limits_on_the_client_the_proxy_names(tmp_path, monkeypatch):
    from support.clock import Clock
    from config.settings import load_settings
    from gateway import create_app
    from gateway.services import Services
    monkeypatch.setenv("HEALTHCODE_TRUSTED_PROXIES", "127.0.0.1")
    settings = load_settings(config_with_limits(tmp_path, anonymous_verifications_per_minute=3),
                             data_dir=tmp_path)
    client = create_app(Services(settings, clock=Clock())).test_client()      # one minute throughout

    def verify(peer, **headers):
        return client.post("/v1/verify", json={"payload": "junk"}, headers=headers,
                           environ_base={"REMOTE_ADDR": peer}).status_code

    # through the proxy: two clients, a limit each
    assert [verify("127.0.0.1", **{"X-Real-IP": "198.51.100.1"}) for _ in range(4)] == [200, 200, 200, 429]
    assert verify("127.0.0.1", **{"X-Real-IP": "198.51.100.2"}) == 200
    # straight from a stranger: whatever it writes in the headers, it is itself
    assert [verify("203.0.113.5", **{"X-Real-IP": f"198.51.100.{50 + i}", "X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(4)] == [200, 200, 200, 429]


@pytest.mark.parametrize("address, key", [
    ("198.51.100.7", "addr:198.51.100.7"),
    ("::ffff:198.51.100.7", "addr:198.51.100.7"),                       # IPv4-mapped: the IPv4 client
    ("2001:db8:1:2:a:b:c:d", "net:2001:db8:1:2::/64"),
    ("2001:db8:1:2::1", "net:2001:db8:1:2::/64"),
    ("2001:db8:1:3::1", "net:2001:db8:1:3::/64"),
    ("", "addr:"), ("not an address", "addr:not an address"),
])
def test_anonymous_limits_count_an_ipv6_client_by_its_64_network(address, key):
    assert limit_key(address) == key


def test_a_host_moving_through_its_ipv6_network_meets_one_limit(tmp_path, monkeypatch):
    """A host picks any address of its /64 at will: a fresh address per request buys no fresh
    budget, on the fast path and in the framework alike; the next network is another client."""
    from support.clock import Clock
    from config.settings import load_settings
    from gateway import create_app
    from gateway.services import Services
    settings = load_settings(config_with_limits(tmp_path, anonymous_verifications_per_minute=4),
                             data_dir=tmp_path)
    client = create_app(Services(settings, clock=Clock())).test_client()

    def verify(peer, path="/v1/verify", body=None):
        return client.post(path, json=body or {"payload": "junk"}, environ_base={"REMOTE_ADDR": peer}).status_code

    answers = [verify(f"2001:db8:7:7::{i:x}") for i in range(1, 4)]
    answers.append(verify("2001:db8:7:7:ffff::9", "/v1/verify/batch", {"items": [{"payload": "junk"}]}))
    answers.append(verify("2001:db8:7:7:1234::1"))
    assert answers == [200, 200, 200, 200, 429]
    assert verify("2001:db8:7:8::1") == 200


# --- nginx (deploy/nginx/nginx.conf, rendered onto temporary paths and ports) in front of three
# `healthcode serve` processes sharing one store, named by store_env.

# The backends the three gateways are run on: every test here on SQLite, and the gateway-kill
# test on Elasticsearch as well (the session's server, a fresh index prefix dropped afterwards).
STORES = ["sqlite", pytest.param("elasticsearch", marks=pytest.mark.elasticsearch)]


def store_env(backend: str, request) -> dict:
    """The environment naming the one store every gateway shares (config/settings.py,
    store/__init__.py): SQLite in the shared data directory, or the session's Elasticsearch
    (conftest's ``es_server``) under a new index prefix."""
    if backend == "sqlite":
        return {"HEALTHCODE_STORE": "sqlite"}
    if backend == "elasticsearch":
        from support.search import new_prefix
        server = request.getfixturevalue("es_server")
        env = {"HEALTHCODE_STORE": "elasticsearch", "HEALTHCODE_ES_URL": ",".join(server.urls),
               "HEALTHCODE_ES_PREFIX": new_prefix()}
        if server.options.get("api_key"):
            env["HEALTHCODE_ES_API_KEY"] = server.options["api_key"]
        return env
    raise ValueError(f"no environment for store {backend!r}")


LIMIT = 1000                                     # anonymous verifications a minute per client and process


def person(i: int) -> dict:
    """A distinct valid resident of Guangdong (Foshan: no city issuer of its own) for each ``i``."""
    from standard.idcard import check_char
    born = datetime.date(1940, 1, 1) + datetime.timedelta(days=i % 20000)
    body = f"440604{born:%Y%m%d}{i % 1000:03d}"
    return {"id_number": body + check_char(body), "name": "陈秀英", "id_type": "resident"}


@pytest.fixture(scope="module")
def stack(request, tmp_path_factory):
    """Three gateways behind nginx on the store the test names (``indirect`` parametrisation;
    SQLite unless it does).  An Elasticsearch prefix is dropped afterwards."""
    backend = getattr(request, "param", "sqlite")
    stack = Stack(tmp_path_factory.mktemp(f"deploy-{backend}"), store_env(backend, request),
                  limits={"anonymous_verifications_per_minute": LIMIT})
    try:
        yield stack
    finally:
        stack.close()
        if backend == "elasticsearch":
            from support.search import drop_prefix
            store = stack.store()
            try:
                drop_prefix(store)
            finally:
                store.close()


@pytest.fixture(scope="module")
def code(stack) -> str:
    r = stack.session().post(f"{stack.url}/v1/issuers/440000/codes", json=person(0),
                             headers={"Authorization": f"Bearer {stack.tokens['440000']}"}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["qr_text"]


def in_one_minute(count) -> list:
    """``count(attempt)`` run until it starts and ends in the same minute (limits count in
    minute windows); each attempt should be a client of its own.  Its result."""
    for attempt in range(3):
        window = int(time.time()) // 60
        result = count(attempt)
        if int(time.time()) // 60 == window:
            return result
    raise AssertionError("three attempts each crossed a minute boundary")


JUNK_BATCH = {"items": [{"payload": f"junk-{i}"} for i in range(LIMIT // 2)]}    # weighs LIMIT/2


def test_tls_is_terminated_with_the_self_signed_example_and_plain_http_moves_to_it(stack, code):
    r = stack.session().post(f"{stack.url}/v1/verify", json={"payload": code}, timeout=10)
    assert r.status_code == 200 and r.json()["valid"] is True
    with pytest.raises(requests.exceptions.SSLError):        # not trusted without the pinned cert
        requests.get(f"{stack.url}/healthz", timeout=5)
    plain = requests.post(f"http://127.0.0.1:{stack.http_port}/v1/verify", json={"payload": code},
                          allow_redirects=False, timeout=5)
    assert plain.status_code == 308
    assert plain.headers["Location"] == f"https://127.0.0.1/v1/verify"


def test_a_client_header_sent_straight_to_a_gateway_is_ignored(stack):
    """127.0.0.2 is not a trusted proxy: whatever address it writes, its limit is its own."""
    def count(attempt: int) -> list:
        direct = client(f"127.0.0.{2 + attempt}", None)
        return [direct.post(f"{stack.gateways[0].url}/v1/verify/batch", json=JUNK_BATCH, timeout=30,
                            headers={"X-Real-IP": f"198.51.100.{i}", "X-Forwarded-For": f"203.0.113.{i}"})
                for i in range(3)]

    answers = in_one_minute(count)
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"


def test_through_nginx_the_anonymous_limit_is_per_client_and_cannot_be_spoofed(stack):
    def count(attempt: int) -> tuple[list, int]:
        a, b = stack.session(f"127.0.0.{20 + 2 * attempt}"), stack.session(f"127.0.0.{21 + 2 * attempt}")
        statuses = []
        for i in range(9):        # 2 batches are allowed, whichever of the 3 gateways answers, whatever the headers claim
            r = a.post(f"{stack.url}/v1/verify/batch", json=JUNK_BATCH, timeout=30,
                       headers={"X-Real-IP": f"198.51.100.{i}", "X-Forwarded-For": f"203.0.113.{i}"})
            statuses.append(r.status_code)
            if r.status_code == 429:
                assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
        # another client behind the same proxy still has its whole limit
        return statuses, b.post(f"{stack.url}/v1/verify/batch", json=JUNK_BATCH, timeout=30).status_code

    statuses, other = in_one_minute(count)
    assert statuses == [200, 200] + [429] * 7, statuses       # the gateways on one host count together
    assert other == 200, (statuses, other)


def test_nginx_refusals_are_json_errors_of_the_standard(stack):
    from standard.errors import GatewayUnavailable
    from config.settings import MAX_REQUEST_BYTES
    r = stack.session().post(f"{stack.url}/v1/verify", data=b"x" * (MAX_REQUEST_BYTES + 1),
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    # nginx's cap is the gateway's own: a body of exactly that size passes nginx and meets the gateway
    r = stack.session().post(f"{stack.url}/v1/verify", data=b" " * (MAX_REQUEST_BYTES - 7) + b'{"a":1}',
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    # a request line or headers nginx will not read: its JSON 400, never a gateway's or an HTML page
    r = stack.session().get(f"{stack.url}/v1/{'a' * 9000}", timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    r = stack.session().get(f"{stack.url}/healthz", headers={"X-Big": "a" * 10000}, timeout=10)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    for raw in (b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
                b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello"):
        context = ssl.create_default_context(cafile=stack.cert)
        with context.wrap_socket(socket.create_connection(("127.0.0.1", stack.https_port), timeout=10),
                                 server_hostname="127.0.0.1") as sock:
            sock.sendall(raw)
            answer = sock.recv(4096)
        assert answer.startswith(b"HTTP/1.1 400 ") and b'"code":"bad_request"' in answer
    # the error pages themselves cannot be asked for
    r = stack.session().get(f"{stack.url}/.healthcode-error/gateway_unavailable", timeout=10)
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    # every code nginx answers is one of the standard's, with the status the gateway gives it
    from support.standard_text import documented_error_codes
    text = (DEPLOY / "nginx" / "locations.conf").read_text()
    codes = re.findall(r'return (\d+) \'\{"error":\{"code":"(\w+)"', text)
    assert {code for _, code in codes} <= documented_error_codes() and len(codes) == 6
    assert ("503", GatewayUnavailable.code) in codes and str(GatewayUnavailable.http_status) == "503"


class Slowloris:
    """``count`` connections that send a request's headers one byte every ``every`` seconds and
    never finish them; one the server drops (nginx: client_header_timeout) is opened again, as an
    attacker would.  With ``cert``, each is TLS first (the attack on the proxy's public port)."""

    HEAD = (b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
            + b"".join(b"X-Slow-%d: %s\r\n" % (i, b"a" * 40) for i in range(200)))

    def __init__(self, port: int, count: int, sources=("127.0.0.1",), cert=None, every: float = 0.5):
        self.port, self.sources, self.every = port, sources, every
        self.context = ssl.create_default_context(cafile=cert) if cert else None
        self.open = [[self._connect(i), 0] for i in range(count)]      # [socket, bytes sent]
        self.dropped = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._dribble, daemon=True)
        self.thread.start()

    def _connect(self, i: int):
        sock = socket.create_connection(("127.0.0.1", self.port), timeout=5,
                                        source_address=(self.sources[i % len(self.sources)], 0))
        return self.context.wrap_socket(sock, server_hostname="127.0.0.1") if self.context else sock

    def holding(self) -> int:
        """Connections open now, each part-way through its headers."""
        return sum(1 for _, sent in self.open if sent > 0)

    def _dribble(self) -> None:
        while not self.stop.is_set():
            for i, entry in enumerate(self.open):
                sock, sent = entry
                try:
                    sock.send(self.HEAD[sent % len(self.HEAD):sent % len(self.HEAD) + 1])
                    entry[1] = sent + 1
                except OSError:                 # the server gave up on it: open another
                    sock.close()
                    self.dropped += 1
                    try:
                        self.open[i] = [self._connect(i), 0]
                    except OSError:
                        self.open[i] = [sock, 0]
                if self.stop.is_set():
                    return
            self.stop.wait(self.every)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(10)
        for sock, _ in self.open:
            sock.close()


def shipped_gateway_env() -> dict:
    """The variables deploy/gateway.env sets (what systemd's EnvironmentFile reads)."""
    lines = (DEPLOY / "gateway.env").read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if line.strip() and not line.startswith("#"))


def test_every_instance_of_the_shipped_env_publishes_one_online_address(tmp_path):
    """Instances on their own ports, from the shipped gateway.env: online codes and the trust list
    name the proxy's public origin, the same from each, never the instance's 127.0.0.1 port."""
    shipped = shipped_gateway_env()
    origin = shipped["HEALTHCODE_ONLINE_URL"]
    assert origin.startswith("https://")
    data = tmp_path / "data"
    data.mkdir()
    env = {**os.environ, **shipped, "HEALTHCODE_DATA": str(data), "HEALTHCODE_CONFIG": str(config_with_limits(tmp_path))}
    tokens = json.loads(run_cli("tokens", data_dir=data, check=True, env=env).stdout)
    gateways = [Gateway(tmp_path, env) for _ in range(2)]
    try:
        for gateway in gateways:
            gateway.wait()
        published = set()
        for gateway in gateways:
            listed = requests.get(f"{gateway.url}/v1/trust-list", timeout=30).json()["trust_list"]["issuers"]
            published |= {entry["online"]["status_url"] for entry in listed if "online" in entry}
            issued = requests.post(f"{gateway.url}/v1/issuers/440000/codes", timeout=30,
                                   headers={"Authorization": f"Bearer {tokens['440000']}"},
                                   json={"id_number": GD_RESIDENT.id_number, "name": GD_RESIDENT.name, "format": "online"})
            assert issued.status_code == 201 and issued.json()["qr_text"].startswith(f"{origin}/v1/status/440000/")
        assert published == {origin}
    finally:
        for gateway in gateways:
            gateway.stop()

def test_an_oversized_body_over_http2_is_the_same_json_413(stack, tmp_path):
    """Browsers speak HTTP/2 to the shipped TLS server: nginx checks the body's size again on the
    way to its error page, and without a cap of its own there answered an HTML 413."""
    from config.settings import MAX_REQUEST_BYTES
    if not shutil.which("curl"):
        pytest.fail("curl not found: run `make test` (scripts/install-test-tools)", pytrace=False)
    body = tmp_path / "body"
    body.write_bytes(b"x" * (MAX_REQUEST_BYTES + 1))
    answer = tmp_path / "answer"
    for streamed in (False, True):      # with a Content-Length, and without one (read as it comes)
        source = "@-" if streamed else f"@{body}"
        done = subprocess.run(
            ["curl", "-sS", "--http2", "--cacert", stack.cert, "-o", str(answer), "-w", "%{http_code} %{http_version}",
             "-X", "POST", "-H", "Content-Type: application/json", "--data-binary", source, f"{stack.url}/v1/verify"],
            stdin=body.open("rb") if streamed else subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        assert done.stdout == "413 2", (done.stdout, done.stderr)
        assert json.loads(answer.read_text())["error"]["code"] == "payload_too_large"

def test_slow_clients_starve_a_bare_gateway_but_not_the_gateways_behind_nginx(stack, code):
    """docs/security.md, slow clients: a handful of connections sending their headers byte by
    byte hold every thread of a gateway that faces clients itself; behind nginx hundreds of them
    (and 64 stalled bodies from one address) cost the gateways nothing."""
    bare = stack.gateways[0]
    attack = Slowloris(bare.port, 8)
    try:
        time.sleep(1)
        with pytest.raises(requests.Timeout):
            requests.post(f"{bare.url}/v1/verify", json={"payload": code}, timeout=(2, 3))
    finally:
        attack.close()
    assert requests.post(f"{bare.url}/v1/verify", json={"payload": code}, timeout=10).json()["valid"] is True

    sources = [f"127.0.0.{i}" for i in range(100, 104)]
    attack = Slowloris(stack.https_port, 300, sources=sources, cert=stack.cert)
    bodies = []
    context = ssl.create_default_context(cafile=stack.cert)
    try:
        # 70 bodies from one address, stalled after one byte: nginx holds 64 (limit_conn), refuses the rest
        for _ in range(70):
            sock = context.wrap_socket(socket.create_connection(("127.0.0.1", stack.https_port), timeout=5,
                                                                source_address=("127.0.0.110", 0)),
                                       server_hostname="127.0.0.1")
            sock.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
                         b"Content-Length: 100000\r\n\r\n{")
            bodies.append(sock)
        for sock in bodies:
            sock.setblocking(False)         # (a TLS 1.3 session ticket makes a socket readable too)
        refused, waiting, deadline = 0, list(bodies), time.time() + 5
        while refused < 6 and time.time() < deadline:
            time.sleep(0.2)
            for sock in list(waiting):
                try:
                    refused += b" 429 " in sock.recv(200)
                except (ssl.SSLWantReadError, BlockingIOError):
                    continue                # held by nginx, waiting for the rest of its body
                except OSError:
                    pass                    # closed without an answer: not a refusal
                waiting.remove(sock)
        assert refused == 6, f"{refused} of 70 stalled bodies from one address refused by limit_conn"

        holding = [attack.holding()]
        genuine, started = stack.session("127.0.0.1"), time.time()
        answered = 0
        while time.time() - started < 5:
            r = genuine.post(f"{stack.url}/v1/verify", json={"payload": code}, timeout=5)
            assert r.status_code == 200 and r.json()["valid"] is True, r.text
            answered += 1
            time.sleep(0.02)        # a checkpoint's pace: well inside LIMIT a minute however fast the gateways are
        issued = genuine.post(f"{stack.url}/v1/issuers/440000/codes", json=person(1), timeout=10,
                              headers={"Authorization": f"Bearer {stack.tokens['440000']}"})
        assert issued.status_code == 201
        holding.append(attack.holding())
        assert min(holding) >= 290, f"the attack held only {holding} connections"
    finally:
        attack.close()
        for sock in bodies:
            sock.close()
    assert answered >= 20


def _load_then_kill(stack, code, victim: Gateway, numbers) -> tuple[list, list, list]:
    """Verifications (single and batches) and issuances from 10 clients through nginx; after
    2 s ``victim`` is frozen (SIGSTOP) for 0.5 s, then SIGKILLed (master, worker, pool), and the
    load goes on 2.5 s more."""
    stop = threading.Event()
    verified, failed, issued = [], [], []
    lock = threading.Lock()

    def verifying(n: int) -> None:
        # as many clients as it takes to stay within LIMIT a minute each however fast the gateways
        # answer: every request comes from the next of 40 addresses (each its own client for nginx)
        sessions = itertools.cycle([stack.session(f"127.0.{10 + n}.{k}") for k in range(1, 41)])
        batch = {"items": [{"payload": code}] * 10}
        while not stop.is_set():
            session = next(sessions)
            path, body = ("/v1/verify/batch", batch) if n % 3 == 0 else ("/v1/verify", {"payload": code})
            try:
                r = session.post(stack.url + path, json=body, timeout=20)
                answer = r.json()
                good = r.status_code == 200 and all(v["valid"] for v in answer.get("results", [answer]))
            except (requests.RequestException, ValueError) as exc:
                good, answer = False, repr(exc)
            (verified if good else failed).append((path, answer if not good else None))

    def issuing(n: int) -> None:
        session = stack.session(f"127.0.0.{40 + n}")
        while not stop.is_set():
            with lock:
                i = next(numbers)
            try:
                r = session.post(f"{stack.url}/v1/issuers/440000/codes", json={**person(i), "png": True},
                                 headers={"Authorization": f"Bearer {stack.tokens['440000']}"}, timeout=20)
                answer = r.json()
                issued.append((r.status_code, answer.get("code_id") or answer["error"]["code"],
                               r.headers.get("Retry-After")))
            except (requests.RequestException, ValueError, KeyError) as exc:
                issued.append(("no answer", repr(exc), None))

    threads = [threading.Thread(target=verifying, args=(n,)) for n in range(6)]
    threads += [threading.Thread(target=issuing, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(2)
        # frozen first, so that requests are certainly in flight to it when it dies: nginx has
        # sent them (the kernel accepts the connections) and no answer will ever come
        victim.signal(signal.SIGSTOP)
        time.sleep(0.5)
        victim.signal(signal.SIGKILL)
        victim.proc.wait(10)
        time.sleep(2.5)
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return verified, failed, issued


@pytest.mark.parametrize("stack", STORES, indirect=True)
def test_a_gateway_killed_under_load_fails_no_verification_and_duplicates_no_issuance(stack, code):
    """SIGKILL one of three gateways while verifications and issuances stream through nginx.
    Verifications in flight to it are retried on the others (deploy/nginx/locations.conf): none
    fails.  An issuance in flight is not retried: it is answered 201 or 503 gateway_unavailable,
    and no request ever made two codes.  The gateway is restarted (as systemd's Restart=always
    does) and killed again until nginx was caught retrying a verification the dead gateway had
    already been sent — at most 3 rounds; freezing it before the kill makes one enough."""
    numbers = iter(range(1000, 20000))
    verified, failed, issued = [], [], []
    for round_ in range(3):
        victim = stack.gateways[1]
        v, f, i = _load_then_kill(stack, code, victim, numbers)
        verified, failed, issued = verified + v, failed + f, issued + i
        lines = stack.access_log()
        retried = [line for line in lines if "," in line["upstream"]]
        # sent, then retried elsewhere: bytes went to the first gateway, which answered nothing
        sent_then_retried = [line for line in retried if int(line["usent"].split(",")[0]) > 0]
        if any(line["uri"].startswith("/v1/verify") for line in sent_then_retried):
            break
        stack.gateways[1] = Gateway(stack.folder, stack.env, port=victim.port)
        stack.gateways[1].wait()
        victim.log.close()

    assert not failed, f"{len(failed)} verifications failed, e.g. {failed[:3]}"
    assert len(verified) > 50
    assert any(line["uri"].startswith("/v1/verify") for line in sent_then_retried), \
        "in 3 rounds no verification was in flight to the killed gateway"
    # an issuance is moved to another gateway only when the dead one had been sent nothing
    assert all(line["uri"].startswith("/v1/verify") for line in sent_then_retried), sent_then_retried
    # each issuance answered gateway_unavailable was sent to one gateway only
    lost = [line for line in lines if line["uri"] == "/v1/issuers/440000/codes" and line["status"] == "503"]
    assert len(lost) == sum(1 for status, _, _ in issued if status == 503)
    assert all("," not in line["upstream"] for line in lost), lost
    answers = Counter((status, value if status != 201 else "code") for status, value, _ in issued)
    assert set(answers) <= {(201, "code"), (503, "gateway_unavailable")}, answers
    assert all(retry == "2" for status, _, retry in issued if status == 503)
    assert answers[(201, "code")] > 10

    # no request made two codes: one issue entry per person, every code handed out is recorded
    store = stack.store()
    try:
        entries, after = [], 0
        while batch := store.audit_entries(after, 1000):
            entries += batch
            after = batch[-1]["seq"]
    finally:
        store.close()
    issues = [e for e in entries if e["action"] == "issue"]
    assert max(Counter(e["subject"] for e in issues).values()) == 1, "an issuance was carried out twice"
    assert {value for status, value, _ in issued if status == 201} <= {e["detail"]["jti"] for e in issues}
    assert json.loads(run_cli("audit", "verify", data_dir=Path(stack.env["HEALTHCODE_DATA"]),
                              env=stack.env, check=True).stdout)["intact"] is True
    print(f"\nrounds {round_ + 1}, verified {len(verified)}, issuance answers {dict(answers)}, "
          f"retried {len(retried)}, of which already sent to the dead gateway {len(sent_then_retried)}")


@pytest.mark.parametrize("status, body", [("200 OK", b'{"valid":true}'), ("204 No Content", b"")])
def test_a_gunicorn_gateway_sends_status_line_headers_and_body_in_one_send(status, body):
    """Headers sent apart from the body let a gateway die in between, leaving nginx with a status
    line it had passed on and could no longer retry (gateway/wsgi.py).  Real gunicorn parsing
    and answering over a real socket pair: nothing reaches the peer before the body does."""
    from gunicorn.config import Config
    from gunicorn.http.parser import RequestParser
    from gateway.wsgi import _WholeAnswerResponse
    server, peer = socket.socketpair()
    try:
        peer.sendall(b"POST /v1/verify HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n")
        cfg = Config()
        request = next(RequestParser(cfg, server, ("127.0.0.1", 1)))
        response = _WholeAnswerResponse(request, server, cfg)
        response.start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        response.send_headers()
        assert select.select([peer], [], [], 0.2)[0] == [], "headers left before the body"
        if body:
            response.write(body)
            first = peer.recv(65536)
            assert first.startswith(b"HTTP/1.1 " + status.encode()) and first.endswith(b"\r\n\r\n" + body)
        response.close()
        if body:
            assert select.select([peer], [], [], 0.1)[0] == []        # nothing after the one send
        else:                                                         # no body: the headers at close
            answer = peer.recv(65536)
            assert answer.startswith(b"HTTP/1.1 204") and answer.endswith(b"\r\n\r\n")
    finally:
        server.close()
        peer.close()
