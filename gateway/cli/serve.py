"""``serve`` the gateway over HTTP, and ``seed-demo``."""
from __future__ import annotations

import click

from gateway.cli.common import emit, service
from standard.errors import BadRequest


class Port(click.ParamType):
    """A TCP port, 1–65535; anything else is a one-line ``bad_request`` (a port past 65535 was
    once taken modulo 65536 by the socket layer, and served elsewhere)."""

    name = "port"

    def convert(self, value, param, ctx):
        try:
            port = int(value)
        except (TypeError, ValueError):
            raise BadRequest(f"--port must be a number from 1 to 65535, not {value!r}") from None
        if not 1 <= port <= 65535:
            raise BadRequest(f"--port must be from 1 to 65535, not {port}")
        return port


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on")
@click.option("--port", default=8080, show_default=True, type=Port(), help="the TCP port to listen on (1–65535)")
@click.option("--workers", default=0, type=int, help="gunicorn workers (0: Flask's threaded server)")
@click.option("--purge-every", default=3600, type=float, show_default=True,
              help="seconds between retention purges (0: never; use `healthcode purge` from cron)")
@click.option("--worker-class", type=click.Choice(["gthread", "sync"]), default="gthread", show_default=True,
              help="gunicorn worker model (with --workers)")
@click.option("--threads", default=4, type=int, show_default=True, help="threads per gthread worker")
def serve(host, port, workers, purge_every, worker_class, threads):
    """Serve the gateway over HTTP."""
    import signal
    from gateway import create_app
    # Regions without an issuer_url (and no HEALTHCODE_ISSUER_URL) are issued by this same
    # process: their lookups are in-process calls, never HTTP to ourselves (which starved
    # gunicorn workers waiting on each other).
    if workers:
        from gateway.wsgi import run_gunicorn
        run_gunicorn(host, port, workers, purge_every, worker_class=worker_class, threads=threads)
        return
    app = create_app(purge_every=purge_every, group_scans=True)

    def stop(signum, frame):            # SIGTERM: leave through the finally, queued scans written
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    click.echo(f"healthcode gateway on http://{host}:{port}/", err=True)
    try:
        app.run(host=host, port=port, threaded=True, use_reloader=False)
    finally:
        app.extensions["healthcode"].close()


@click.command("seed-demo")
def seed_demo():
    """Create demo keys, tokens and one demo resident per region; print their codes."""
    from gateway.demo import seed
    for row in seed(service()):
        emit(row)
