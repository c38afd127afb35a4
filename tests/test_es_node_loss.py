"""A three-node Elasticsearch cluster loses a node under load, and nothing a caller was told is lost.

``scripts/elasticsearch start --nodes 3`` on loopback; a gateway (``healthcode serve --workers 2``:
two processes appending to one audit chain) on it, every index with one replica.  Threads issue
codes, verify them, and look people up at a kiosk; once the cluster is green under that load the
node holding the audit head's primary shard is SIGKILLed, started again after a while, and the
load goes on until the cluster is green again.  Then:

* no answer was a 500 — a write the cluster could not take is ``store_unavailable`` (503) with
  Retry-After, and verification (which needs no store) answered every time;
* every code a caller received (issuance and kiosk) is in the store, with its audit entry;
* the audit chain verifies;
* every acknowledged scan is stored, less at most the documented loss bound
  (store/scanqueue.py ``LOSS_BOUND`` per gateway process; docs/elasticsearch.md);
* the cluster is green again with three nodes.
"""
from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import threading
import time
from collections import Counter

import pytest
import requests

from support.cli import run_cli
from support.live import LiveServer, config_with_limits
from support.search import drop_prefix, make_store, new_prefix, start_local
from standard.idcard import check_char
from store.audit import AuditLog
from store.scanqueue import LOSS_BOUND

WORKERS = 2
GREEN_TIMEOUT = 300                  # seconds; a busy 2-core machine recovers shards slowly
LOAD_BEFORE_KILL = 8                 # seconds of load on the whole cluster before the kill
DOWN_FOR = 10                        # seconds the node stays dead under load
LOAD_AFTER_GREEN = 4                 # seconds of load once the cluster is green again
REQUEST_TIMEOUT = 120                # a write waiting for a new primary may take a while


def id_number(i: int) -> str:
    body = f"44060419{70 + i % 30:02d}{1 + i % 12:02d}{1 + i % 28:02d}{i % 1000:03d}"
    return body + check_char(body)


class Load:
    """Request threads that record every answer; stopped with :meth:`stop`."""

    def __init__(self, url: str, issuer_token: str, kiosk_token: str):
        self.url, self.issuer_token, self.kiosk_token = url, issuer_token, kiosk_token
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.answers: Counter = Counter()            # (kind, status) -> n
        self.bad: list[str] = []                     # answers that break the rules, with why
        self.codes: list[str] = []                   # code ids a caller received
        self.qr: list[str] = []                      # codes to verify
        self.people: list[tuple[str, str]] = []      # residents to look up at the kiosk
        self.scans_acked = 0
        self.next_person = 0
        self.threads = [threading.Thread(target=self._loop, args=(work,), daemon=True, name=work.__name__)
                        for work in (self.issue, self.issue, self.verify, self.verify, self.kiosk)]

    def start(self) -> None:
        for t in self.threads:
            t.start()

    def stop(self) -> None:
        self.stop_event.set()
        for t in self.threads:
            t.join(REQUEST_TIMEOUT + 30)

    def _loop(self, work) -> None:
        while not self.stop_event.is_set():
            try:
                work()
            except requests.RequestException as exc:
                with self.lock:
                    self.bad.append(f"{work.__name__}: no answer ({type(exc).__name__}: {exc})")

    def _check(self, kind: str, r: requests.Response, ok: int, may_be_unavailable: bool) -> bool:
        with self.lock:
            self.answers[(kind, r.status_code)] += 1
        if r.status_code == ok:
            return True
        body = r.text[:300]
        if r.status_code == 503 and may_be_unavailable:
            if r.json().get("error", {}).get("code") == "store_unavailable" and r.headers.get("Retry-After"):
                time.sleep(0.2)
                return False
        with self.lock:
            self.bad.append(f"{kind}: HTTP {r.status_code} {body}")
        return False

    def issue(self) -> None:
        with self.lock:
            i = self.next_person
            self.next_person += 1
        person = (id_number(i), "李" + "明华伟芳"[i % 4])
        r = requests.post(f"{self.url}/v1/issuers/440000/codes", timeout=REQUEST_TIMEOUT,
                          headers={"Authorization": f"Bearer {self.issuer_token}"},
                          json={"id_number": person[0], "name": person[1],
                                "facts": {"close_contact": i % 5 == 0}})
        if self._check("issue", r, 201, may_be_unavailable=True):
            with self.lock:
                self.codes.append(r.json()["code_id"])
                self.qr.append(r.json()["qr_text"])
                self.people.append(person)

    def verify(self) -> None:
        with self.lock:
            qr = random.choice(self.qr) if self.qr else None
        if qr is None:
            time.sleep(0.05)
            return
        r = requests.post(f"{self.url}/v1/verify", json={"payload": qr, "device": "node-loss"},
                          timeout=REQUEST_TIMEOUT)
        if self._check("verify", r, 200, may_be_unavailable=False):
            with self.lock:
                self.scans_acked += 1

    def kiosk(self) -> None:
        with self.lock:
            person = random.choice(self.people) if self.people else None
        if person is None:
            time.sleep(0.05)
            return
        r = requests.post(f"{self.url}/v1/kiosk/lookup", timeout=REQUEST_TIMEOUT,
                          headers={"Authorization": f"Bearer {self.kiosk_token}"},
                          json={"id_number": person[0], "name": person[1], "kiosk_id": "k-1"})
        if self._check("kiosk", r, 200, may_be_unavailable=True):
            with self.lock:
                self.codes.append(r.json()["code_id"])


def stop_gateway(server: LiveServer) -> None:
    """SIGTERM and wait: every worker writes its queued scans on the way out."""
    server.proc.send_signal(signal.SIGTERM)
    try:
        server.proc.wait(120)
    except subprocess.TimeoutExpired:
        server.proc.kill()
        server.proc.wait()
        pytest.fail("the gateway did not stop within 120 s of SIGTERM")
    finally:
        server._log.close()


@pytest.mark.timeout(1500)
def test_a_cluster_that_loses_a_node_under_load_loses_nothing_it_acknowledged(tmp_path):
    cluster = start_local(nodes=3)
    store = None
    try:
        prefix = new_prefix()
        store = make_store(cluster, prefix, refresh=True)           # installs templates and indices
        config = config_with_limits(tmp_path, kiosk_lookups_per_minute=100_000, kiosk_lookups_per_hour=1_000_000,
                                    anonymous_verifications_per_minute=1_000_000)
        env = {"HEALTHCODE_STORE": "elasticsearch", "HEALTHCODE_ES_URL": ",".join(cluster.urls),
               "HEALTHCODE_ES_PREFIX": prefix, "HEALTHCODE_CONFIG": str(config)}
        data = tmp_path / "data"
        data.mkdir()
        issuer_token = json.loads(run_cli("tokens", data_dir=data, check=True, env=env).stdout)["440000"]
        kiosk_token = json.loads(run_cli("credentials", "add", "--role", "kiosk", "--id", "k-1", data_dir=data,
                                         check=True, env=env).stdout)["token"]
        gateway = LiveServer(data, env, args=("--workers", str(WORKERS)))
        load = Load(gateway.url, issuer_token, kiosk_token)
        try:
            load.start()
            time.sleep(LOAD_BEFORE_KILL)
            health = store.client.options(request_timeout=GREEN_TIMEOUT + 30).cluster.health(
                wait_for_status="green", timeout=f"{GREEN_TIMEOUT}s")
            assert health["status"] == "green", health
            settings = store.client.indices.get_settings(index=f"{prefix}-*", name="index.number_of_replicas")
            assert settings and all(s["settings"]["index"]["number_of_replicas"] == "1" for s in settings.values())
            shards = store.client.cat.shards(index=store.index("sequences"), format="json")
            victim = next(s["node"] for s in shards if s["prirep"] == "p")       # the audit head's primary
            before_kill = (len(load.codes), load.scans_acked)
            cluster.script("kill-node", victim.removeprefix("node-"))
            time.sleep(DOWN_FOR)
            during = (len(load.codes), load.scans_acked)
            cluster.script("start-node", victim.removeprefix("node-"))
            health = store.client.options(request_timeout=GREEN_TIMEOUT + 30).cluster.health(
                wait_for_status="green", wait_for_nodes="3", timeout=f"{GREEN_TIMEOUT}s")
            assert health["status"] == "green" and health["number_of_nodes"] == 3, health
            time.sleep(LOAD_AFTER_GREEN)
        finally:
            load.stop()
            stop_gateway(gateway)
        answers = dict(sorted(load.answers.items()))
        print(f"answers {answers}; codes {len(load.codes)} (before kill {before_kill[0]}, node down "
              f"{during[0] - before_kill[0]}); scans acknowledged {load.scans_acked} "
              f"(node down {during[1] - before_kill[1]})")
        assert not load.bad, load.bad[:10]
        assert not any(status >= 500 and status != 503 for _, status in load.answers)
        assert all(status == 200 for kind, status in load.answers if kind == "verify")
        assert len(load.codes) > 10 and load.scans_acked > 10 and during[1] > before_kill[1]

        store.client.indices.refresh(index=f"{prefix}-*")
        codes = set(load.codes)
        found = store.client.mget(index=store.index("codes"), ids=sorted(codes))["docs"]
        missing = [d["_id"] for d in found if not d.get("found")]
        assert not missing, f"{len(missing)} codes a caller received are not in the store: {missing[:5]}"

        log = AuditLog(store, clock=time.time)
        verdict = log.verify()
        assert verdict["intact"], verdict
        audited, after = set(), 0
        while page := log.entries(after, 1000):
            audited.update(e["detail"].get("jti") for e in page)
            after = page[-1]["seq"]
        assert codes <= audited, f"codes without their audit entry: {sorted(codes - audited)[:5]}"

        stored = store.client.count(index=store.scans_pattern, query={"term": {"device": "node-loss"}})["count"]
        print(f"scans stored {stored} of {load.scans_acked} acknowledged (loss bound {WORKERS} × {LOSS_BOUND})")
        # The bound covers a gateway process that dies; none did here, so nothing may be missing.
        assert stored >= load.scans_acked, f"scans lost although no gateway died (bound {WORKERS * LOSS_BOUND})"
    finally:
        if store is not None:
            try:
                drop_prefix(store)
            finally:
                store.close()
        pids = cluster.node_pids()
        cluster.stop()
        assert not [pid for pid in pids if os.path.exists(f"/proc/{pid}")], "a node outlived stop"
