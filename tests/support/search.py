"""A search server for the Elasticsearch store tests and the ingest benchmark.

With ``HEALTHCODE_ES_URL`` set, that cluster is used (compatibility headers on unless
``HEALTHCODE_ES_COMPAT=0``; optional ``HEALTHCODE_ES_API_KEY``), every store gets a random index
prefix, and everything under the prefix is deleted afterwards.  Otherwise ``osmem-server`` (an
in-memory OpenSearch-compatible server from PyPI, ``osmem-server==0.1.6`` in the ``test`` extra) is started
on a free loopback port for the session; it does not accept the client's compatibility headers, so
its stores are made with ``compat_headers=False``.

    with search_server() as server:               # outside pytest (bench/ingest.py)
        store = make_store(server)

    def test_x(es_store_factory):                 # in tests: the fixtures are in conftest.py
        store = es_store_factory()
"""
from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Iterator

from store.elasticsearch import ElasticsearchStore, _flag
from support.marks import needs

STARTUP_TIMEOUT = 30.0


@dataclass
class SearchServer:
    url: str
    compat_headers: bool
    kind: str                                     # "osmem" or "external"
    process: subprocess.Popen | None = None
    log_path: str | None = None
    options: dict = field(default_factory=dict)   # extra client options (api_key)

    @property
    def is_osmem(self) -> bool:
        return self.kind == "osmem"

    def rss_mb(self) -> float | None:
        """Resident memory of a local server process, in MiB (None for an external cluster)."""
        if self.process is None:
            return None
        try:
            with open(f"/proc/{self.process.pid}/status") as fh:
                for line in fh:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024
        except OSError:
            return None
        return None

    def stop(self, grace: float = 5.0) -> None:
        proc = self.process
        if proc is None or proc.poll() is not None:
            return
        with contextlib.suppress(OSError):
            proc.stdin.close()                   # osmem-server exits when its stdin closes
        try:
            proc.wait(grace)
        except subprocess.TimeoutExpired:
            proc.terminate()
            try:
                proc.wait(grace)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _http_ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/", timeout=2) as resp:
            return resp.status == 200
    except (urllib.error.URLError, OSError):
        return False


def start_osmem(startup_timeout: float = STARTUP_TIMEOUT) -> SearchServer:
    """Start osmem-server on 127.0.0.1 with a port the server picks itself (no race for a "free"
    port), wait for its ready line and a 200 from GET /, and return it."""
    try:
        from osmem_server import resolve_binary
    except ImportError:
        raise RuntimeError("osmem-server is not installed (pip install osmem-server==0.1.6) "
                           "and HEALTHCODE_ES_URL is not set") from None
    log = tempfile.NamedTemporaryFile(prefix="osmem-", suffix=".log", delete=False)
    proc = subprocess.Popen([resolve_binary(), "--addr", "127.0.0.1:0", "--parent-pid", str(os.getpid()),
                             "--no-ja"],
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True)
    log.close()
    ready: dict = {}

    def read_stdout() -> None:                   # the ready line, then drain so the pipe never fills
        for line in proc.stdout:
            if not ready:
                with contextlib.suppress(ValueError):
                    msg = json.loads(line)
                    if isinstance(msg, dict) and "url" in msg:
                        ready.update(msg)

    threading.Thread(target=read_stdout, daemon=True, name="osmem-stdout").start()
    server = SearchServer("", compat_headers=False, kind="osmem", process=proc, log_path=log.name)
    deadline = time.monotonic() + startup_timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if ready and _http_ok(ready["url"]):
            server.url = ready["url"]
            return server
        time.sleep(0.05)
    server.stop(grace=1)
    with open(log.name, errors="replace") as fh:
        tail = fh.read()[-2000:]
    raise RuntimeError(f"osmem-server did not become ready within {startup_timeout} s: {tail}")


@needs("elasticsearch")
@contextlib.contextmanager
def search_server() -> Iterator[SearchServer]:
    url = os.environ.get("HEALTHCODE_ES_URL")
    if url:
        options = {"api_key": os.environ["HEALTHCODE_ES_API_KEY"]} if os.environ.get("HEALTHCODE_ES_API_KEY") else {}
        yield SearchServer(url.split(",")[0].strip(), _flag(os.environ.get("HEALTHCODE_ES_COMPAT"), True),
                           "external", options=options)
        return
    server = start_osmem()
    try:
        yield server
    finally:
        server.stop()


def new_prefix() -> str:
    return "hct-" + secrets.token_hex(5)


def make_store(server: SearchServer, prefix: str | None = None, **kw) -> ElasticsearchStore:
    kw.setdefault("compat_headers", server.compat_headers)
    kw.setdefault("request_timeout", 60)
    return ElasticsearchStore(server.url, prefix=prefix or new_prefix(), **{**server.options, **kw})


def drop_prefix(store: ElasticsearchStore) -> None:
    """Delete every index, index template and ILM policy under the store's prefix (by name: real
    clusters refuse wildcard deletes by default)."""
    client = store.client
    for pattern in (f"{store.prefix}-*",):
        names = sorted(client.indices.get(index=pattern, expand_wildcards="all",
                                          ignore_unavailable=True, allow_no_indices=True))
        for i in range(0, len(names), 50):
            with contextlib.suppress(Exception):
                client.indices.put_settings(index=",".join(names[i:i + 50]),
                                            settings={"index.blocks.write": None})
            client.indices.delete(index=",".join(names[i:i + 50]), ignore_unavailable=True)
    for name in store.template_names:
        with contextlib.suppress(Exception):
            client.indices.delete_index_template(name=name)
    if store.ilm:
        with contextlib.suppress(Exception):
            client.ilm.delete_lifecycle(name=f"{store.prefix}-scans")
