"""Production serving: gunicorn workers sharing one data directory (SQLite WAL handles that)."""
from __future__ import annotations

from gunicorn.app.base import BaseApplication

from .gateway import create_app


class _Gunicorn(BaseApplication):
    def __init__(self, options: dict):
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return create_app()


def run_gunicorn(host: str, port: int, workers: int) -> None:
    _Gunicorn({"bind": f"{host}:{port}", "workers": workers, "threads": 4,
               "worker_class": "gthread", "timeout": 30}).run()
