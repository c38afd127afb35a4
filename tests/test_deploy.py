"""What deploy/ installs, run for real: nginx in front of three gateway processes on loopback.

The gateway believes X-Real-IP / X-Forwarded-For only from HEALTHCODE_TRUSTED_PROXIES
(gateway/proxy.py), so behind nginx anonymous limits are per client again and a client
connecting directly cannot choose its address.
"""
from __future__ import annotations

import pytest

from config.settings import trusted_proxies
from gateway.proxy import client_address
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
    from conftest import config_with_limits
    from config.settings import load_settings
    from gateway import create_app
    monkeypatch.setenv("HEALTHCODE_TRUSTED_PROXIES", "127.0.0.1")
    settings = load_settings(config_with_limits(tmp_path, anonymous_verifications_per_minute=3),
                             data_dir=tmp_path)
    client = create_app(settings=settings).test_client()

    def verify(peer, **headers):
        return client.post("/v1/verify", json={"payload": "junk"}, headers=headers,
                           environ_base={"REMOTE_ADDR": peer}).status_code

    # through the proxy: two clients, a limit each
    assert [verify("127.0.0.1", **{"X-Real-IP": "198.51.100.1"}) for _ in range(4)] == [200, 200, 200, 429]
    assert verify("127.0.0.1", **{"X-Real-IP": "198.51.100.2"}) == 200
    # straight from a stranger: whatever it writes in the headers, it is itself
    assert [verify("203.0.113.5", **{"X-Real-IP": f"198.51.100.{50 + i}", "X-Forwarded-For": f"10.0.0.{i}"})
            for i in range(4)] == [200, 200, 200, 429]


# --- nginx (deploy/nginx/nginx.conf, rendered onto temporary paths and ports) in front of three
# `healthcode serve` processes sharing one store.  The store is whatever STORE_ENV names.

import datetime
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from conftest import BIN, ROOT, config_with_limits, free_port, run_cli

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
STORE_ENV = {"HEALTHCODE_STORE": "sqlite"}      # one data directory shared by every gateway
LIMIT = 1000                                     # anonymous verifications a minute per client and process


class Gateway:
    """``healthcode serve --workers 1`` (gunicorn: master, worker, batch pool) in its own
    session, so killing it kills all of it, as systemd's KillMode would."""

    def __init__(self, folder: Path, env: dict):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / f"gateway-{self.port}.log", "wb")
        self.proc = subprocess.Popen(
            [str(BIN / "healthcode"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--threads", "4"],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, Path(self.log.name).read_text(errors="replace")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                time.sleep(0.2)
        raise RuntimeError(f"gateway on {self.port} did not start")

    def signal(self, sig) -> None:
        try:
            os.killpg(self.proc.pid, sig)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.signal(signal.SIGKILL)
            self.proc.wait(10)
        self.log.close()


def render_nginx(folder: Path, gateways: list[Gateway], http_port: int, https_port: int) -> Path:
    """deploy/nginx/ with only what names this machine changed: ports, paths, the user.  Every
    replacement must find its text, so a change to the shipped files cannot go untested."""
    conf = folder / "nginx"
    conf.mkdir()
    for name in ("proxy.conf", "locations.conf"):
        shutil.copy(DEPLOY / "nginx" / name, conf / name)

    def replaced(text: str, pairs) -> str:
        for old, new in pairs:
            assert old in text, f"deploy/nginx no longer has {old!r}"
            text = text.replace(old, new)
        return text

    upstream = (DEPLOY / "nginx" / "upstream.conf").read_text()
    (conf / "upstream.conf").write_text(replaced(upstream, [
        (f"server 127.0.0.1:{8081 + i} ", f"server 127.0.0.1:{g.port} ") for i, g in enumerate(gateways)]))
    for sub in ("log", "tmp", "tls"):
        (folder / sub).mkdir()
    temp = "".join(f"    {kind}_temp_path {folder / 'tmp' / kind};\n"
                   for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    main = replaced((DEPLOY / "nginx" / "nginx.conf").read_text(), [
        ("user www-data;", "user root;" if os.geteuid() == 0 else ""),   # the test's files are private
        ("/run/healthcode-proxy.pid", str(folder / "nginx.pid")),
        ("/var/log/healthcode-proxy/", f"{folder / 'log'}/"),
        ("/etc/healthcode/nginx/", f"{conf}/"),
        ("/etc/healthcode/tls/", f"{folder / 'tls'}/"),
        ("worker_processes auto;", "worker_processes 1;"),
        ("listen 80;", f"listen 127.0.0.1:{http_port};"), ("listen [::]:80;", ""),
        ("listen 443 ssl http2;", f"listen 127.0.0.1:{https_port} ssl http2;"), ("listen [::]:443 ssl http2;", ""),
        ("http {\n", "http {\n" + temp),
    ])
    (conf / "nginx.conf").write_text(main)
    subprocess.run([str(DEPLOY / "make-selfsigned-cert"), str(folder / "tls"), "localhost"],
                   check=True, capture_output=True, timeout=30)
    return conf / "nginx.conf"


class Stack:
    def __init__(self, folder: Path):
        self.folder = folder
        data = folder / "data"
        data.mkdir()
        config = config_with_limits(folder, anonymous_verifications_per_minute=LIMIT)
        self.env = {**os.environ, "HEALTHCODE_DATA": str(data), "HEALTHCODE_CONFIG": str(config),
                    "HEALTHCODE_TRUSTED_PROXIES": "127.0.0.1", **STORE_ENV}
        # keys, secrets and tokens made once, before three processes start on the same store
        self.tokens = json.loads(run_cli("tokens", data_dir=data, check=True, env=self.env).stdout)
        self.gateways = [Gateway(folder, self.env) for _ in range(3)]
        for gateway in self.gateways:
            gateway.wait()
        self.http_port, self.https_port = free_port(), free_port()
        conf = render_nginx(folder, self.gateways, self.http_port, self.https_port)
        self.cert = str(folder / "tls" / "healthcode.crt")
        self.url = f"https://127.0.0.1:{self.https_port}"
        self.nginx_log = open(folder / "log" / "nginx-stderr.log", "wb")
        self.nginx = subprocess.Popen([NGINX, "-c", str(conf), "-e", str(folder / "log" / "error.log"),
                                       "-g", "daemon off;"], stdout=self.nginx_log, stderr=subprocess.STDOUT)
        deadline = time.time() + 20
        while True:
            assert self.nginx.poll() is None, (folder / "log" / "nginx-stderr.log").read_text() + \
                (folder / "log" / "error.log").read_text(errors="replace")
            try:
                if requests.get(self.url + "/healthz", verify=self.cert, timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                assert time.time() < deadline, "nginx did not start"
                time.sleep(0.1)

    def session(self, source: str = "127.0.0.1") -> requests.Session:
        return client(source, self.cert)

    def access_log(self) -> list[dict]:
        """The access log's lines as dicts, after nginx wrote out its buffer (SIGUSR1: reopen)."""
        path = self.folder / "log" / "access.log"
        size = path.stat().st_size if path.exists() else -1
        self.nginx.send_signal(signal.SIGUSR1)
        deadline = time.time() + 5
        while time.time() < deadline and (not path.exists() or path.stat().st_size == size):
            time.sleep(0.1)
        pattern = re.compile(r'^(?P<addr>\S+) \[[^]]+\] "(?P<method>\S+) (?P<uri>\S+)" (?P<status>\d+) \d+ '
                             r'upstream="(?P<upstream>[^"]*)" ustatus="(?P<ustatus>[^"]*)" '
                             r'usent="(?P<usent>[^"]*)"')
        return [m.groupdict() for m in map(pattern.match, path.read_text().splitlines()) if m]

    def store(self):
        from config.settings import load_settings
        from store import open_store
        settings = load_settings(self.env["HEALTHCODE_CONFIG"], self.env["HEALTHCODE_DATA"])
        return open_store(settings, self.env)

    def close(self) -> None:
        if self.nginx.poll() is None:
            self.nginx.send_signal(signal.SIGQUIT)
            try:
                self.nginx.wait(10)
            except subprocess.TimeoutExpired:
                self.nginx.kill()
                self.nginx.wait(5)
        self.nginx_log.close()
        for gateway in self.gateways:
            gateway.stop()


class _SourceAdapter(HTTPAdapter):
    """Connections from one loopback address: each test client is its own address."""

    def __init__(self, source: str):
        self.source = source
        super().__init__(pool_maxsize=4)

    def init_poolmanager(self, *args, **kwargs):
        kwargs["source_address"] = (self.source, 0)
        super().init_poolmanager(*args, **kwargs)


def client(source: str, cert) -> requests.Session:
    session = requests.Session()
    session.trust_env = False         # REQUESTS_CA_BUNDLE would replace the pinned certificate
    session.verify = cert
    adapter = _SourceAdapter(source)
    session.mount("https://", adapter)
    session.mount("http://", adapter)
    return session


def person(i: int) -> dict:
    """A distinct valid resident of Guangdong for each ``i``."""
    from standard.idcard import check_char
    born = datetime.date(1940, 1, 1) + datetime.timedelta(days=i % 20000)
    body = f"440106{born:%Y%m%d}{i % 1000:03d}"
    return {"id_number": body + check_char(body), "name": "陈秀英", "id_type": "resident"}


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    stack = Stack(tmp_path_factory.mktemp("deploy"))
    yield stack
    stack.close()


@pytest.fixture(scope="module")
def code(stack) -> str:
    r = stack.session().post(f"{stack.url}/v1/issuers/440000/codes", json=person(0),
                             headers={"Authorization": f"Bearer {stack.tokens['440000']}"}, timeout=10)
    assert r.status_code == 201, r.text
    return r.json()["qr_text"]


def _same_minute(margin: float = 8) -> None:
    """Limits count in minute windows: start a counting test with ``margin`` s of the minute left."""
    left = 60 - time.time() % 60
    if left < margin:
        time.sleep(left + 0.2)


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
    _same_minute()
    direct = client("127.0.0.2", None)
    answers = [direct.post(f"{stack.gateways[0].url}/v1/verify/batch", json=JUNK_BATCH, timeout=30,
                           headers={"X-Real-IP": f"198.51.100.{i}", "X-Forwarded-For": f"203.0.113.{i}"})
               for i in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 429]
    assert answers[2].json()["error"]["code"] == "rate_limited"


def test_through_nginx_the_anonymous_limit_is_per_client_and_cannot_be_spoofed(stack):
    _same_minute()
    a, b = stack.session("127.0.0.20"), stack.session("127.0.0.21")
    statuses = []
    for i in range(9):        # 3 processes × 2 batches are allowed, whatever the headers claim
        r = a.post(f"{stack.url}/v1/verify/batch", json=JUNK_BATCH, timeout=30,
                   headers={"X-Real-IP": f"198.51.100.{i}", "X-Forwarded-For": f"203.0.113.{i}"})
        statuses.append(r.status_code)
        if r.status_code == 429:
            assert r.json()["error"]["code"] == "rate_limited" and int(r.headers["Retry-After"]) >= 1
    assert set(statuses) == {200, 429} and statuses.count(200) <= 6, statuses
    # another client behind the same proxy still has its whole limit
    assert b.post(f"{stack.url}/v1/verify/batch", json=JUNK_BATCH, timeout=30).status_code == 200


def test_nginx_refusals_are_json_errors_of_the_standard(stack):
    from standard.errors import GatewayUnavailable
    r = stack.session().post(f"{stack.url}/v1/verify", data=b"x" * 8_000_001,
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    # the gateway's own limit is the same number: one byte less passes nginx and meets the gateway
    r = stack.session().post(f"{stack.url}/v1/verify", data=b" " * 7_999_990 + b'{"a":1}',
                             headers={"Content-Type": "application/json"}, timeout=30)
    assert r.status_code == 400 and r.json()["error"]["code"] == "bad_request"
    text = (DEPLOY / "nginx" / "locations.conf").read_text()
    assert f'"code":"{GatewayUnavailable.code}"' in text and f"return {GatewayUnavailable.http_status} " in text
