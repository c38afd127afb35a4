"""Production serving: gunicorn workers sharing one data directory (SQLite WAL handles that)."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from gateway import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict, purge_every: float = 0):
        self.options = options
        self.purge_every = purge_every
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app(purge_every=self.purge_every)


def run_gunicorn(host: str, port: int, workers: int, purge_every: float = 0) -> None:
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": 4,
               "worker_class": "gthread", "timeout": 30}, purge_every).run()
