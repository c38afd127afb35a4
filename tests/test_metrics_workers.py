"""/metrics of a server with several gunicorn workers shows the whole server: every worker's
counts and latencies — a dead worker's too — in every scrape, whichever worker answers it
(gateway/metrics.py).  A
restart starts from empty files; two servers on one host — other data directories, or one data
directory on two ports (deploy/) — never mix their figures."""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from residents import GD_ELDER
from support.cli import add_credential, run_cli
from support.live import LiveServer, call, config_with_limits
from support.paths import ROOT
from support.waiting import wait_until

GD = GD_ELDER.id_and_name
SCRAPES = 8


def prepared(data: Path) -> dict:
    """A data directory with one resident's code and the credentials the tests use."""
    env = {"HEALTHCODE_CONFIG": str(config_with_limits(data, kiosk_lookups_per_minute=200))}
    code = run_cli("issue", "--region", "440000", "--id-number", GD[0], "--name", GD[1], data_dir=data,
                   check=True, env=env).stdout.strip()
    cred = {"operator": add_credential("operator", "prometheus", data_dir=data, env=env),
            "kiosk": add_credential("kiosk", "kiosk-m", "--kiosk-id", "gz-metrics-1", data_dir=data, env=env)}
    return {"env": env, "code": code, "cred": cred}


def serve(data: Path, world: dict, workers: int = 2, port: int | None = None, env: dict | None = None):
    server = LiveServer(data, {**world["env"], **(env or {})}, args=("--workers", str(workers)) if workers else (),
                        port=port)
    server.cred = world["cred"]
    return server


def verify(server, code: str, times: int) -> None:
    def one(_):          # a connection each: gunicorn's workers take turns accepting them
        answer = requests.post(server.url + "/v1/verify", json={"payload": code}, timeout=30)
        assert answer.status_code == 200 and answer.json()["valid"], answer.text
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(times)))


def figures(server) -> dict[str, float]:
    """One scrape of /metrics: each sample line's value by its name and labels."""
    text = call(server, "GET", "/metrics", "operator").text
    return {line.rsplit(" ", 1)[0]: float(line.rsplit(" ", 1)[1])
            for line in text.splitlines() if line and not line.startswith("#")}


def verified(scrape: dict[str, float]) -> float:
    return sum(value for name, value in scrape.items() if name.startswith("healthcode_verifications_total{"))


def metrics_directory(server) -> Path:
    return server.data / "run" / f"metrics-127.0.0.1-{server.port}"


def workers_that_counted(server) -> set[int]:
    """The server's workers with a counter file (made when a worker first counts something)."""
    pids = {int(m.group(1)) for f in metrics_directory(server).iterdir()
            if (m := re.fullmatch(r"counter_(\d+)\.db", f.name))}
    return {pid for pid in pids if parent_of(pid) == server.proc.pid}


def workers_of(server) -> set[int]:
    task = Path(f"/proc/{server.proc.pid}/task/{server.proc.pid}/children")
    return {int(pid) for pid in task.read_text().split()}


def parent_of(pid: int) -> int | None:
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None


def no_tracebacks(*servers):
    """No traceback in the servers' logs (a stopping worker waits for its batch pool's processes
    to finish starting: gateway/wsgi.py)."""
    for server in servers:
        log_text = server.log_path.read_text(errors="replace")
        assert "Traceback" not in log_text, log_text[log_text.index("Traceback"):][:2000]


def test_every_scrape_shows_all_workers_counts_and_a_restart_starts_clean(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    world = prepared(data)
    inherited = tmp_path / "inherited-multiproc-dir"          # an operator's stray variable: ignored
    inherited.mkdir()
    server = serve(data, world, env={"PROMETHEUS_MULTIPROC_DIR": str(inherited)})
    try:
        sent = 0
        while len(workers_that_counted(server)) < 2 and sent < 400:
            verify(server, world["code"], 8)
            sent += 8
        assert len(workers_that_counted(server)) == 2, "both workers should have verified some codes"
        for _ in range(SCRAPES):              # whichever worker answers, it shows the whole server
            assert verified(figures(server)) == sent
        kiosk = {"Authorization": f"Bearer {world['cred']['kiosk']}"}
        lookups = 12
        for _ in range(lookups):
            answer = requests.post(server.url + "/v1/kiosk/lookup", json={"id_number": GD[0]}, headers=kiosk,
                                   timeout=30)
            assert answer.status_code == 200, answer.text
        scrapes = [figures(server) for _ in range(SCRAPES)]
        for scrape in scrapes:
            assert scrape['healthcode_lookups_total{kind="kiosk_lookup",outcome="ok"}'] == lookups
            assert scrape["healthcode_lookup_seconds_count"] == lookups
            assert scrape['healthcode_lookup_seconds_bucket{le="+Inf"}'] == lookups
        counts = {name: value for name, value in scrapes[0].items()       # every counter and bucket
                  if "_total{" in name or "_bucket{" in name or name.endswith("_count")}
        assert all({name: scrape.get(name) for name in counts} == counts for scrape in scrapes)
        # a worker that dies (here SIGKILL; gunicorn starts another) leaves its counts in the sum
        victim = min(workers_that_counted(server))
        os.kill(victim, signal.SIGKILL)
        replaced = wait_until(lambda: workers_of(server), lambda pids: len(pids) == 2 and victim not in pids,
                              timeout=30)
        assert len(replaced) == 2 and victim not in replaced
        for _ in range(SCRAPES):
            scrape = figures(server)
            assert {name: scrape.get(name) for name in counts} == counts
        directory = metrics_directory(server)
        assert directory.stat().st_mode & 0o777 == 0o700 and directory.parent.stat().st_mode & 0o777 == 0o700
        assert list(inherited.iterdir()) == []
        earlier = {f.name for f in directory.iterdir()}
        port = server.port
    finally:
        server.stop()
    no_tracebacks(server)

    restarted = serve(data, world, port=port)
    try:
        assert not earlier & {f.name for f in metrics_directory(restarted).iterdir()}, "old files left"
        assert all(verified(figures(restarted)) == 0 for _ in range(SCRAPES))
        verify(restarted, world["code"], 3)
        assert all(verified(figures(restarted)) == 3 for _ in range(SCRAPES))
    finally:
        restarted.stop()
    no_tracebacks(restarted)


def test_two_servers_on_one_host_do_not_mix_their_figures(tmp_path):
    """Other data directories, or one data directory served on two ports (deploy/'s instances)."""
    first, second = tmp_path / "first", tmp_path / "second"
    first.mkdir()
    second.mkdir()
    worlds = {first: prepared(first), second: prepared(second)}
    servers = [serve(first, worlds[first]), serve(second, worlds[second]), serve(first, worlds[first])]
    try:
        for server, times in zip(servers, (3, 5, 7)):
            verify(server, worlds[server.data]["code"], times)
        for server, times in zip(servers, (3, 5, 7)):
            assert [verified(figures(server)) for _ in range(SCRAPES)] == [times] * SCRAPES
        # a second server cannot take (and empty) a running server's directory
        held = metrics_directory(servers[0])
        files = sorted(f.name for f in held.iterdir())
        probe = ("import sys; from pathlib import Path; from gateway import metrics; "
                 f"metrics.serve_from_directory(Path(sys.argv[1]), '127.0.0.1', {servers[0].port})")
        taken = subprocess.run([sys.executable, "-c", probe, str(first)], capture_output=True, text=True,
                               env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60)
        assert taken.returncode != 0 and "PortInUse" in taken.stderr, taken.stderr
        assert sorted(f.name for f in held.iterdir()) == files
        assert verified(figures(servers[0])) == 3
    finally:
        for server in servers:
            server.stop()
    no_tracebacks(*servers)


def test_one_process_keeps_its_figures_in_memory(tmp_path):
    """`healthcode serve` without workers: the figures in memory, no files, an inherited
    PROMETHEUS_MULTIPROC_DIR ignored."""
    data = tmp_path / "data"
    data.mkdir()
    world = prepared(data)
    inherited = tmp_path / "inherited-multiproc-dir"
    inherited.mkdir()
    server = serve(data, world, workers=0, env={"PROMETHEUS_MULTIPROC_DIR": str(inherited)})
    try:
        verify(server, world["code"], 4)
        assert verified(figures(server)) == 4
        assert list(inherited.iterdir()) == [] and not (data / "run").exists()
    finally:
        server.stop()
    no_tracebacks(server)


def test_a_server_stopped_while_its_batch_pools_start_leaves_no_traceback(tmp_path):
    """Each worker starts its batch pool's processes in the background as it boots; stopped at
    once, it waits for them to have started before it goes (their start reads what the worker
    holds), so the log holds no traceback however early the stop comes."""
    data = tmp_path / "data"
    data.mkdir()
    world = prepared(data)
    for delay in (0.0, 0.1, 0.2, 0.4, 0.7):
        server = serve(data, world)
        time.sleep(delay)
        server.stop()
        no_tracebacks(server)


def test_a_burst_of_keep_alive_connections_is_spread_over_the_workers(tmp_path):
    """Sixteen clients connect at once and keep their connections: each worker listens on a
    socket of its own (SO_REUSEPORT) and the kernel spreads the connections over them, so both
    workers verify (on one shared socket one worker could accept the whole burst and the other
    stand idle for as long as the connections lived)."""
    data = tmp_path / "data"
    data.mkdir()
    world = prepared(data)
    server = serve(data, world)
    try:
        sessions = [requests.Session() for _ in range(16)]
        def rounds(session):
            for _ in range(3):            # the same keep-alive connection each time
                answer = session.post(server.url + "/v1/verify", json={"payload": world["code"]}, timeout=30)
                assert answer.status_code == 200 and answer.json()["valid"], answer.text
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(rounds, sessions))
        assert len(workers_that_counted(server)) == 2, "one worker took every connection"
        for session in sessions:
            session.close()
    finally:
        server.stop()
    no_tracebacks(server)
