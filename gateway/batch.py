"""Large batches verified on every core, answers in input order.

Verification is CPU-bound Python, so threads share one core; a batch of hundreds of codes (a
care home's list, a checkpoint's offline backlog, ``healthcode verify-batch``) is spread over a
pool of processes instead.  The split keeps the state where it lives:

* a pool process does only the pure part — ``Verifier.verify`` / ``verify_image`` against the
  trust list, which it receives as the signed JWS and checks itself against the national keys
  (once per trust-list ``seq``), so a worker never trusts an unsigned copy;
* the calling process then applies the online revocation check (its in-memory revocation set,
  as for a single verify) and records the scan events in input order.

Small batches (fewer than ``PARALLEL_MIN_ITEMS``) stay in-process: starting the pool, or
shipping a handful of codes to it, costs more than it saves.  The pool is started once per
process (``forkserver``, so a threaded server process is never forked mid-request) and sized
to the machine's cores.
"""
from __future__ import annotations

import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace

PARALLEL_MIN_ITEMS = 64
CHUNKS_PER_PROCESS = 4
PRELOAD = ["adapters.verifier", "adapters.eu_dcc", "adapters.shc", "standard.trustlist"]


@dataclass(frozen=True)
class Job:
    """One code to verify: its text or image, the time to judge it at, extra trust anchors."""
    text: str | None = None
    image: bytes | None = None
    now: int | None = None
    anchors: tuple = ()


# --- in the pool process ------------------------------------------------------------------------
_worker: dict = {}


def _init(formats, options) -> None:
    from adapters.verifier import Verifier
    _worker["verifier"] = Verifier(formats, options=options)   # no store: revocation is the caller's
    _worker["trust"] = (None, None)


def _trust(token: str, national_keys: dict, now: int):
    from standard import trustlist
    seq_token, trust = _worker["trust"]
    if seq_token != token:
        trust = trustlist.parse(token, national_keys, now)
        _worker["trust"] = (token, trust)
    return trust


def _verify_chunk(token: str, national_keys: dict, now: int, jobs: list[Job]) -> list:
    verifier, base = _worker["verifier"], _trust(token, national_keys, now)
    out = []
    for job in jobs:
        trust = base.with_anchors(job.anchors) if job.anchors else base
        at = job.now if job.now is not None else now
        verdict = (verifier.verify_image(job.image, trust, at) if job.image is not None
                   else verifier.verify(job.text, trust, at))
        # the claims travel back only as the code id the caller's revocation check needs: the
        # claims dict was half of what was pickled back, and batch answers never show it
        out.append(replace(verdict, claims=None) if verdict.claims is not None else verdict)
    return out


# --- in the calling process ---------------------------------------------------------------------
class VerifyPool:
    def __init__(self, formats, options, processes: int | None = None):
        self.formats, self.options = tuple(formats), dict(options or {})
        self.processes = processes or os.cpu_count() or 1
        self._executor: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def executor(self) -> ProcessPoolExecutor:
        with self._lock:
            if self._executor is None:
                context = multiprocessing.get_context("forkserver")
                context.set_forkserver_preload(PRELOAD)
                self._executor = ProcessPoolExecutor(self.processes, mp_context=context, initializer=_init,
                                                     initargs=(self.formats, self.options))
            return self._executor

    def verify(self, jobs: list[Job], token: str, national_keys: dict, now: int) -> list:
        """Verdicts for ``jobs`` in their order (no revocation check, nothing recorded)."""
        size = max(1, -(-len(jobs) // (self.processes * CHUNKS_PER_PROCESS)))
        chunks = [jobs[i:i + size] for i in range(0, len(jobs), size)]
        executor = self.executor()
        futures = [executor.submit(_verify_chunk, token, national_keys, now, chunk) for chunk in chunks]
        return [verdict for future in futures for verdict in future.result()]

    def close(self) -> None:
        with self._lock:
            if self._executor is not None:
                try:
                    self._executor.shutdown(wait=True, cancel_futures=True)
                except Exception:        # noqa: BLE001 — a broken pool is gone either way
                    pass
                self._executor = None
