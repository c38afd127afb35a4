"""Prometheus metrics: what an operator watches on a busy checkpoint day.  No personal data.

Where the figures live:

* one process (``healthcode serve`` without workers, the CLI commands, tests in-process): in
  this process's memory (a :class:`prometheus_client.CollectorRegistry`);
* ``healthcode serve --workers N`` (gunicorn): the server, before it starts any worker, takes a
  directory of its own, ``<data>/run/metrics-<host>-<port>/`` (private, 0700, emptied at every
  start: :func:`serve_from_directory`), and hands it to its workers as
  ``PROMETHEUS_MULTIPROC_DIR``.  Each worker writes its figures to its own files there
  (prometheus_client's multiprocess mode), and ``/metrics``, whichever worker answers, sums
  the files of all of this server's workers — those that have stopped (a ``max-requests``
  restart, a crash) included.  Every scrape shows the whole server; Prometheus sums servers.

prometheus_client decides once, when it is first imported, whether values live in memory or in
files (from ``PROMETHEUS_MULTIPROC_DIR``), so this module imports it on first use, never at
import: the server sets the directory first.  The ``healthcode`` command drops an inherited
``PROMETHEUS_MULTIPROC_DIR`` (:func:`forget_inherited_directory`): only ``serve --workers`` sets it.
"""
from __future__ import annotations

import fcntl
import functools
import os
import re
import shutil
import sys
import threading
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from standard.errors import PortInUse

if TYPE_CHECKING:
    from prometheus_client import CollectorRegistry, Counter, Histogram
    REGISTRY: CollectorRegistry
    VERIFICATIONS: Counter
    LOOKUPS: Counter
    REFUSALS_UNLOGGED: Counter
    LOOKUP_SECONDS: Histogram

DIRECTORY_VARIABLE = "PROMETHEUS_MULTIPROC_DIR"
_METRICS = ("REGISTRY", "VERIFICATIONS", "LOOKUPS", "REFUSALS_UNLOGGED", "LOOKUP_SECONDS")
_built = threading.Lock()
_directory_lock: IO[bytes] | None = None     # held open (flock) for the server's life


def _build() -> None:
    """The registry and its metrics, made once per process, on first use."""
    with _built:
        if "REGISTRY" in globals():
            return
        from prometheus_client import CollectorRegistry, Counter, Histogram
        registry = CollectorRegistry()
        made: dict[str, Any] = {
            "VERIFICATIONS": Counter("healthcode_verifications", "Codes verified, by format and outcome",
                                     ["format", "outcome"], registry=registry),
            "LOOKUPS": Counter("healthcode_lookups", "Kiosk and assisted lookups, by kind and outcome",
                               ["kind", "outcome"], registry=registry),
            "REFUSALS_UNLOGGED": Counter("healthcode_refusals_unlogged", "Refusals of a credential past its "
                                         "audit cap (gateway/refusals.py), by action and result",
                                         ["action", "result"], registry=registry),
            "LOOKUP_SECONDS": Histogram("healthcode_lookup_seconds", "Kiosk/assisted lookup latency",
                                        buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5), registry=registry)}
        globals().update(made)
        globals()["REGISTRY"] = registry        # last: its presence means all are made


def _metric(name: str):
    metric = globals().get(name)
    if metric is None:
        _build()
        metric = globals()[name]
    return metric


def __getattr__(name: str):
    """``metrics.VERIFICATIONS`` and the others, made on first use (see the module's docstring)."""
    if name in _METRICS:
        return _metric(name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def count_verdict(verdict) -> None:
    count_outcome(verdict.format, verdict.status if verdict.valid else verdict.errors[0]["code"])


def count_outcome(fmt, outcome, times: int = 1) -> None:
    _verifications(fmt or "unknown", outcome).inc(times)


def count_lookup(kind: str, outcome: str, seconds: float | None = None) -> None:
    """One kiosk or assisted lookup; ``seconds`` (its latency) for one that was answered."""
    _lookups(kind, outcome).inc()
    if seconds is not None:
        _metric("LOOKUP_SECONDS").observe(seconds)


def count_unlogged_refusal(action: str, result: str) -> None:
    _refusals(action, result).inc()


# ``labels`` costs more than the increment: each (label, label) pair's counter is kept.  Formats ×
# statuses and error codes, lookup kinds × outcomes, actions × results: a few dozen of each in use.
@functools.lru_cache(maxsize=1024)
def _verifications(fmt: str, outcome: str):
    return _metric("VERIFICATIONS").labels(fmt, outcome)


@functools.lru_cache(maxsize=256)
def _lookups(kind: str, outcome: str):
    return _metric("LOOKUPS").labels(kind, outcome)


@functools.lru_cache(maxsize=256)
def _refusals(action: str, result: str):
    return _metric("REFUSALS_UNLOGGED").labels(action, result)


def exposition() -> bytes:
    """The text ``/metrics`` answers: this process's figures, or — under ``serve --workers`` —
    the sum over every worker of this server (its directory's files)."""
    from prometheus_client import CollectorRegistry, generate_latest
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if not directory:
        return generate_latest(_metric("REGISTRY"))
    from prometheus_client.multiprocess import MultiProcessCollector
    everyone = CollectorRegistry()
    MultiProcessCollector(everyone, path=directory)
    return generate_latest(everyone)


def forget_inherited_directory() -> None:
    """Drop a ``PROMETHEUS_MULTIPROC_DIR`` this process inherited: the ``healthcode`` command
    keeps its figures in memory unless ``serve --workers`` gives them a directory of its own."""
    os.environ.pop(DIRECTORY_VARIABLE, None)


def directory_for(data_dir: Path, host: str, port: int) -> Path:
    """The metrics directory of the server listening on (host, port) with this data directory.
    Instances sharing one data directory (deploy/) listen on different addresses, so each has
    its own; one address serves one server at a time."""
    address = re.sub(r"[^A-Za-z0-9.-]", "_", host or "any")
    return Path(data_dir) / "run" / f"metrics-{address}-{port}"


def serve_from_directory(data_dir: Path, host: str, port: int) -> Path:
    """Make this server's metrics directory private (0700) and empty, and have its workers use it.

    Called by the server's master process before any worker starts (a worker emptying it would
    wipe its siblings' files) and before prometheus_client is imported.  The directory is locked
    (``flock`` on ``<directory>.lock``) for the server's life, so a second server starting on the
    same address cannot empty it under the first: it is ``port_in_use``."""
    global _directory_lock
    if "prometheus_client" in sys.modules:
        raise RuntimeError("prometheus_client was imported before the metrics directory was chosen; "
                           "it would keep each worker's figures in that worker's memory")
    directory = directory_for(data_dir, host, port)
    run = directory.parent
    run.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(run, 0o700)
    lock = open(run / f"{directory.name}.lock", "ab")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.close()
        raise PortInUse(f"another healthcode server is starting on {host}:{port} with this data "
                        f"directory; stop it, or choose another port") from None
    if directory.is_symlink() or directory.is_file():
        directory.unlink()
    elif directory.exists():
        shutil.rmtree(directory)
    directory.mkdir(mode=0o700)
    os.chmod(directory, 0o700)
    _directory_lock = lock
    os.environ[DIRECTORY_VARIABLE] = str(directory)
    return directory


def worker_stopped(pid: int) -> None:
    """gunicorn's ``child_exit``: a stopped worker's live-gauge files go (its counters and
    histograms stay and keep counting in the sum)."""
    directory = os.environ.get(DIRECTORY_VARIABLE)
    if directory:
        from prometheus_client import multiprocess
        multiprocess.mark_process_dead(pid, directory)
