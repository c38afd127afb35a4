"""nginx (deploy/nginx/, rendered onto temporary paths and ports) in front of N ``healthcode serve``
processes sharing one store, all on loopback: what tests/test_deploy.py runs its attacks and
gateway kills against, and what bench/national.py drives a simulated day through.

    stack = Stack(folder, {"HEALTHCODE_STORE": "sqlite"}, limits={...})
    session = stack.session("127.0.0.7")       # a client of its own loopback address
    ...
    stack.close()
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

import requests
from requests.adapters import HTTPAdapter

from support.cli import run_cli
from support.live import config_with_limits, free_port
from support.marks import needs
from support.paths import BIN, ROOT

DEPLOY = ROOT / "deploy"
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


@needs("server")
class Gateway:
    """``healthcode serve --workers 1`` (gunicorn: master, worker, batch pool) in its own
    session, so killing it kills all of it, as systemd's KillMode would."""

    def __init__(self, folder: Path, env: dict, port: int | None = None, threads: int = 4):
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(folder / f"gateway-{self.port}.log", "ab")
        self.proc = subprocess.Popen(
            [str(BIN / "healthcode"), "serve", "--host", "127.0.0.1", "--port", str(self.port),
             "--workers", "1", "--threads", str(threads)],
            env=env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True)

    def wait(self) -> None:
        deadline = time.time() + 60
        while time.time() < deadline:
            assert self.proc.poll() is None, Path(self.log.name).read_text(errors="replace")
            try:
                if requests.get(self.url + "/healthz", timeout=2).status_code == 200:
                    return
            except (requests.ConnectionError, requests.Timeout):     # not listening yet, or still starting
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
    """nginx and ``gateways`` gateway processes on the store ``store`` names (environment
    variables), with the ``[limits]`` of config/regions.toml changed as ``limits`` says."""

    def __init__(self, folder: Path, store: dict, limits: dict | None = None, gateways: int = 3,
                 threads: int = 4):
        assert Path(NGINX).exists(), "nginx is missing: scripts/install-test-tools installs it"
        self.folder = folder
        data = folder / "data"
        data.mkdir()
        config = config_with_limits(folder, **(limits or {}))
        self.env = {**os.environ, "HEALTHCODE_DATA": str(data), "HEALTHCODE_CONFIG": str(config),
                    "HEALTHCODE_TRUSTED_PROXIES": "127.0.0.1", **store}
        # keys, secrets and tokens made once, before three processes start on the same store
        self.tokens = json.loads(run_cli("tokens", data_dir=data, check=True, env=self.env).stdout)
        self.gateways = [Gateway(folder, self.env, threads=threads) for _ in range(gateways)]
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
