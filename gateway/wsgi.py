"""Production serving: gunicorn workers sharing one data directory (SQLite WAL handles that).

Each worker builds its own app (no preload), so each has its own scan-event writer thread;
gunicorn's ``worker_exit`` hook writes what it still holds when the worker stops (graceful
shutdown, max-requests restart).  The worker model was measured (docs/benchmarks.md, "Worker models"): gthread
workers, one per core, 4 threads each.
"""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway import create_app


def _worker_exit(server, worker) -> None:
    from store import scanqueue
    scanqueue.close_all()


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, purge_every: float = 0):
        self.options = options
        self.purge_every = purge_every
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(purge_every=self.purge_every, group_scans=True)


def run_gunicorn(host: str, port: int, workers: int, purge_every: float = 0, worker_class: str = "gthread",
                 threads: int = 4) -> None:
    options = {"bind": f"{host}:{port}", "workers": workers, "worker_class": worker_class, "timeout": 30,
               "worker_exit": _worker_exit, "backlog": 2048}
    if worker_class == "gthread":
        options["threads"] = threads
    _Gunicorn(options, purge_every).run()
