"""A real Elasticsearch for the store tests, the whole-gateway tests and the benchmarks.

``scripts/elasticsearch start`` starts the pinned server (scripts/elasticsearch-version, Elastic's
integration-test distribution) on loopback in a run directory of its own, waits until it is green
and prints each node's address; ``stop`` stops what that run directory started.  With
``HEALTHCODE_ES_URL`` set, that cluster is used instead (optional ``HEALTHCODE_ES_API_KEY``).
Either way every store gets a random index prefix, and everything under it is deleted afterwards.
The official client talks to it with its default headers.

    with search_server() as server:               # outside pytest (bench/)
        store = make_store(server)

    def test_x(es_store_factory):                 # in tests: the fixtures live in conftest.py
        store = es_store_factory()

One server serves the whole session (:data:`SESSION`; the fixtures are in tests/conftest.py); a test that needs a cluster of its own (tests/test_es_node_loss.py) starts one with
:func:`start_local`.
"""
from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import subprocess
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from store.elasticsearch import ElasticsearchStore
from support.marks import needs

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "scripts" / "elasticsearch"
# The script waits for green itself (HEALTHCODE_ES_START_TIMEOUT, default 300 s on a busy 2-core
# machine); this is only the outer bound on the subprocess.
SCRIPT_TIMEOUT = 900


@dataclass
class SearchServer:
    urls: list[str]
    kind: str                                     # "local" (started here) or "external"
    run_dir: Path | None = None
    options: dict = field(default_factory=dict)   # extra client options (api_key)

    @property
    def url(self) -> str:
        return self.urls[0]

    def node_pids(self) -> list[int]:
        if self.run_dir is None:
            return []
        pids = []
        for pid_file in sorted(self.run_dir.glob("node-*/pid")):
            with contextlib.suppress(OSError, ValueError):
                pids.append(int(pid_file.read_text().strip()))
        return pids

    def rss_mb(self) -> float | None:
        """Resident memory of the local nodes together, in MiB (None for an external cluster)."""
        if self.run_dir is None:
            return None
        total = 0
        for pid in self.node_pids():
            with contextlib.suppress(OSError):
                with open(f"/proc/{pid}/status") as fh:
                    total += next((int(line.split()[1]) for line in fh if line.startswith("VmRSS:")), 0)
        return total / 1024

    def script(self, *args: str, timeout: float = SCRIPT_TIMEOUT) -> str:
        """Run ``scripts/elasticsearch ARGS --run-dir`` on this server's run directory."""
        assert self.run_dir is not None, "only a local server has a run directory"
        return run_script(*args, "--run-dir", str(self.run_dir), timeout=timeout)

    def stop(self) -> None:
        if self.run_dir is None:
            return
        try:
            self.script("stop", timeout=180)
        finally:
            shutil.rmtree(self.run_dir, ignore_errors=True)


def run_script(*args: str, timeout: float = SCRIPT_TIMEOUT) -> str:
    proc = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if proc.returncode != 0:
        raise RuntimeError(f"scripts/elasticsearch {' '.join(args)} failed ({proc.returncode}):\n"
                           f"{proc.stderr[-6000:]}")
    return proc.stdout


def start_local(nodes: int = 1) -> SearchServer:
    """Start a local server (one node or a cluster) in a new run directory under /tmp (its parents
    must be traversable by the unprivileged user the nodes run as)."""
    run_dir = Path(tempfile.mkdtemp(prefix="healthcode-es-", dir="/tmp"))
    try:
        out = run_script("start", "--nodes", str(nodes), "--run-dir", str(run_dir))
    except BaseException:
        shutil.rmtree(run_dir, ignore_errors=True)
        raise
    urls = [line.strip() for line in out.splitlines() if line.strip().startswith("http://")]
    if len(urls) != nodes:
        SearchServer(urls, "local", run_dir).stop()
        raise RuntimeError(f"scripts/elasticsearch start printed {urls!r}, expected {nodes} addresses")
    return SearchServer(urls, "local", run_dir)


@needs("elasticsearch")
@contextlib.contextmanager
def search_server(nodes: int = 1) -> Iterator[SearchServer]:
    url = os.environ.get("HEALTHCODE_ES_URL")
    if url:
        options = {"api_key": os.environ["HEALTHCODE_ES_API_KEY"]} if os.environ.get("HEALTHCODE_ES_API_KEY") else {}
        yield SearchServer([u.strip() for u in url.split(",") if u.strip()], "external", options=options)
        return
    server = start_local(nodes)
    try:
        yield server
    finally:
        server.stop()


def new_prefix() -> str:
    return "hct-" + secrets.token_hex(5)


def make_store(server: SearchServer, prefix: str | None = None, **kw) -> ElasticsearchStore:
    kw.setdefault("request_timeout", 60)
    return ElasticsearchStore(server.urls, prefix=prefix or new_prefix(), **{**server.options, **kw})


def drop_prefix(store: ElasticsearchStore) -> None:
    """Delete every index, index template and ILM policy under the store's prefix (by name: real
    clusters refuse wildcard deletes by default)."""
    client = store.client
    names = sorted(client.indices.get(index=f"{store.prefix}-*", expand_wildcards="all",
                                      ignore_unavailable=True, allow_no_indices=True))
    for i in range(0, len(names), 50):
        with contextlib.suppress(Exception):
            client.indices.put_settings(index=",".join(names[i:i + 50]), settings={"index.blocks.write": None})
        client.indices.delete(index=",".join(names[i:i + 50]), ignore_unavailable=True)
    for name in store.template_names:
        with contextlib.suppress(Exception):
            client.indices.delete_index_template(name=name)
    if store.ilm:
        with contextlib.suppress(Exception):
            client.ilm.delete_lifecycle(name=f"{store.prefix}-scans")


# -- the session's server ---------------------------------------------------------------------------
class _SessionServer:
    """The session's server, started in a background thread as soon as pytest knows a test will
    need it (tests/conftest.py, after collection), so its start-up overlaps the tests before it;
    stopped at the end of the session."""

    def __init__(self):
        self._thread: threading.Thread | None = None
        self._server: SearchServer | None = None
        self._error: BaseException | None = None
        self._stack = contextlib.ExitStack()

    def begin(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._start, name="es-session-start", daemon=True)
            self._thread.start()

    def _start(self) -> None:
        try:
            self._server = self._stack.enter_context(search_server())
        except BaseException as exc:                 # reported to every test that needs it
            self._error = exc

    def get(self) -> SearchServer:
        self.begin()
        self._thread.join()
        if self._error is not None:
            raise RuntimeError(f"the session's Elasticsearch did not start: {self._error}") from self._error
        return self._server

    def end(self) -> None:
        if self._thread is not None:
            self._thread.join()
            self._stack.close()


SESSION = _SessionServer()
