"""Production serving: gunicorn workers sharing one data directory (SQLite WAL handles that).

Each worker builds its own app (no preload), so each has its own scan-event writer thread;
gunicorn's ``worker_exit`` hook writes what it still holds when the worker stops (graceful
shutdown, max-requests restart).  The workers count into one metrics directory the server set
before starting them (gateway/metrics.py), so ``/metrics`` shows all of them.  The worker model
was measured (docs/benchmarks.md, "Worker models"): gthread workers, one per core, 4 threads
each.  Each answer leaves in one send — status line, headers and the first body bytes — so a
reverse proxy in front (deploy/) gets all of it or nothing.
"""
from __future__ import annotations

from flask import Flask
from gunicorn.app.base import BaseApplication
from gunicorn.http import wsgi as gunicorn_http

from gateway import create_app


class _OneSend:
    """A response's socket that holds the status line and headers (gunicorn's first ``sendall``)
    and sends them in the same ``sendall`` as the first body bytes.  gunicorn sends them apart;
    a gateway killed between the two left a reverse proxy holding a status line it had already
    passed on — too late to retry a verification on another gateway, and the client got a broken
    answer.  Now a proxy receives all of a small answer or nothing (tests/test_deploy.py)."""

    def __init__(self, sock):
        self._sock = sock
        self._held: bytes | None = None
        self._first = True

    def sendall(self, data) -> None:
        if self._first:
            self._first, self._held = False, bytes(data)
            return
        held, self._held = self._held or b"", None
        self._sock.sendall(held + bytes(data))

    def flush(self) -> None:
        held, self._held = self._held, None
        if held:
            self._sock.sendall(held)

    def send(self, data) -> int:
        self.flush()
        return self._sock.send(data)

    def sendfile(self, *args, **kwargs):
        self.flush()
        return self._sock.sendfile(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self._sock, name)


class _WholeAnswerResponse(gunicorn_http.Response):
    """gunicorn's HTTP/1 response writing through :class:`_OneSend`; an answer without body
    bytes (HEAD, 204, 304) sends its headers at ``close``."""

    def __init__(self, req, sock, cfg, *args):
        super().__init__(req, _OneSend(sock), cfg, *args)

    def close(self) -> None:
        super().close()
        self.sock.flush()


def _worker_exit(server, worker) -> None:
    """A stopping worker first stops its batch pool — waiting for a warm-up still starting its
    processes, whose start would otherwise fail (and print a traceback) once this process is
    gone — then writes every scan event it still holds."""
    from store import scanqueue
    app = getattr(worker, "wsgi", None)           # the app this worker loaded (gunicorn's Worker.wsgi)
    if isinstance(app, Flask):
        app.extensions["healthcode"].verification.close_batch_pool()
    scanqueue.close_all()


def _child_exit(server, worker) -> None:
    from gateway import metrics
    metrics.worker_stopped(worker.pid)


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
               "worker_exit": _worker_exit, "child_exit": _child_exit, "backlog": 2048,
               # no runtime control socket: one per user ($HOME/.gunicorn/gunicorn.ctl) would be shared by
               # every instance on the host, and whoever reaches it could stop or resize this gateway
               "control_socket_disable": True}
    if worker_class == "gthread":
        options["threads"] = threads
    if workers > 1:
        # a listening socket of each worker's own (SO_REUSEPORT), so the kernel spreads new
        # connections over the workers; on one shared socket, one worker could accept every
        # connection of a burst and keep them all alive while the other stood idle
        options["reuse_port"] = True
    gunicorn_http.Response = _WholeAnswerResponse     # what gunicorn's workers build for each request
    _Gunicorn(options, purge_every).run()
