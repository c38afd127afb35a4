"""``serve`` the gateway over HTTP (``--demo``: what ``make run`` does), and ``seed-demo``.

Before anything else ``serve`` checks that it can listen where it was told to: a port outside
1–65535 is ``bad_request``, an address something already listens on is ``port_in_use``, naming
what answers there (a healthcode gateway, or another program) — so ``make run`` never seeds the
demo and then dies on "Address already in use", and never looks as if it served on a port it
did not.  Online codes name the address served (``HEALTHCODE_ONLINE_URL`` overrides it).
"""
from __future__ import annotations

import errno
import os
import socket
import sys
from pathlib import Path

import click

from gateway.cli.common import emit, service
from standard.errors import BadRequest, PortInUse

ANY_ADDRESS = ("0.0.0.0", "::", "")
DEMO_KIOSK_ID = "kiosk-demo"
DEMO_OPERATIONS_ID = "ops-demo"


class Port(click.ParamType):
    """A TCP port, 1–65535; anything else is a one-line ``bad_request`` (the socket layer would
    take 99999 modulo 65536 and listen somewhere else)."""

    name = "port"

    def convert(self, value, param, ctx):
        try:
            port = int(value)
        except (TypeError, ValueError):
            raise BadRequest(f"--port must be a number from 1 to 65535, not {value!r}") from None
        if not 1 <= port <= 65535:
            raise BadRequest(f"--port must be from 1 to 65535, not {port}")
        return port


def base_url(host: str, port: int) -> str:
    """The address clients on this machine reach: a wildcard host is reached as 127.0.0.1."""
    host = "127.0.0.1" if host in ANY_ADDRESS else host
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def what_answers(url: str) -> str:
    """Who listens at ``url``: a healthcode gateway (its /healthz says so) or another program."""
    import requests
    try:
        answer = requests.get(f"{url}/healthz", timeout=2).json()
        if isinstance(answer, dict) and answer.get("status") == "ok" and "standard" in answer:
            return f"a healthcode gateway (version {answer.get('version', '?')}) already answers on {url}/"
    except (requests.RequestException, ValueError):
        pass
    return f"another program already listens on {url}/"


def ensure_free(host: str, port: int) -> None:
    """Bind to (host, port) and let go: what the server is about to do, tried first."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host or None, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise BadRequest(f"--host {host}: not an address of this machine ({exc.strerror})") from None
    with socket.socket(family, kind, proto) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)        # as the server will
        try:
            probe.bind(address)
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise PortInUse(f"{what_answers(base_url(host, port))}; stop it, or choose another port "
                                f"(--port, or make run PORT=…)") from None
            raise BadRequest(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def online_url(host: str, port: int) -> str:
    """Where online codes point: HEALTHCODE_ONLINE_URL if set, else the address served."""
    if not os.environ.get("HEALTHCODE_ONLINE_URL"):
        os.environ["HEALTHCODE_ONLINE_URL"] = base_url(host, port)
    return os.environ["HEALTHCODE_ONLINE_URL"]


def _command() -> str:
    """How the user ran us, to repeat in instructions (``.venv/bin/healthcode`` from make run)."""
    path = Path(sys.argv[0])
    if path.name != "healthcode":                     # python -m gateway.cli, a test runner
        return "healthcode"
    try:
        return str(path.resolve().relative_to(Path.cwd().resolve()))
    except ValueError:
        return str(path.resolve())


def demo_sheet(url: str, rows: list[dict]) -> str:
    """The pages, how to get each credential, and the fictional demo residents in full."""
    from gateway.demo import DEMO_RESIDENTS
    healthcode = _command()
    lines = [f"healthcode demo on {url}/", "", "pages:",
             f"  start        {url}/",
             f"  checkpoint   {url}/checkpoint          (no credential)",
             f"  kiosk        {url}/kiosk?kiosk_id={DEMO_KIOSK_ID}#token=<kiosk token>",
             f"  operations   {url}/ops#token=<data manager token>",
             "", "credentials (each command prints a token once; running it again replaces it):",
             f"  kiosk        {healthcode} credentials add --role kiosk --id {DEMO_KIOSK_ID}",
             f"  operations   {healthcode} credentials add --role data_manager --id {DEMO_OPERATIONS_ID}",
             f"  issuers      {healthcode} tokens          (one bearer token per region)",
             "", "demo residents (fictional; type an ID number at the kiosk):",
             f"  {'region':<8}{'name':<10}{'ID number':<20}{'colour':<8}reasons"]
    for resident, row in zip(DEMO_RESIDENTS, rows):
        name = resident["name"] + "\u3000" * (4 - len(resident["name"]))   # 4 full-width columns
        lines.append(f"  {resident['region']:<8}{name}  {resident['id_number']:<20}{row['status']:<8}"
                     f"{', '.join(row['reasons']) or '-'}")
    return "\n".join(lines)


def _announce(host: str, url: str, online: str) -> None:
    click.echo(f"healthcode gateway on {url}/ (online codes name {online})", err=True)
    if host in ANY_ADDRESS and online == url:
        click.echo("note: other machines reach this gateway by another address; set HEALTHCODE_ONLINE_URL "
                   "to it, or online codes point at 127.0.0.1", err=True)


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True, help="the address to listen on")
@click.option("--port", default=8080, show_default=True, type=Port(), help="the TCP port to listen on (1–65535)")
@click.option("--workers", default=0, type=int, help="gunicorn workers (0: Flask's threaded server)")
@click.option("--purge-every", default=3600, type=float, show_default=True,
              help="seconds between retention purges (0: never; use `healthcode purge` from cron)")
@click.option("--worker-class", type=click.Choice(["gthread", "sync"]), default="gthread", show_default=True,
              help="gunicorn worker model (with --workers)")
@click.option("--threads", default=4, type=int, show_default=True, help="threads per gthread worker")
@click.option("--demo", is_flag=True,
              help="after the address check, seed the demo (keys, tokens, residents) and print the pages, "
                   "how to get each credential and the demo residents (what `make run` does)")
@click.option("--check", is_flag=True,
              help="only check the address: exit 0 if it is free, else print what answers there and exit 2")
def serve(host, port, workers, purge_every, worker_class, threads, demo, check):
    """Serve the gateway over HTTP, once the address is known to be free."""
    import signal
    ensure_free(host, port)
    if check:
        return
    url = base_url(host, port)
    online = online_url(host, port)
    if workers:
        # first (before the demo's seeding could count anything): the workers' figures go to
        # this server's own directory, and /metrics sums them (gateway/metrics.py)
        from gateway import metrics
        from config.settings import load_settings
        metrics.serve_from_directory(load_settings().data_dir, host, port)
    if demo:
        from gateway.demo import seed
        click.echo(demo_sheet(url, seed(service())))
    # Regions without an issuer_url (and no HEALTHCODE_ISSUER_URL) are issued by this same
    # process: their lookups are in-process calls, never HTTP to ourselves (which starved
    # gunicorn workers waiting on each other).
    if workers:
        from gateway import checked_settings
        from gateway.services import check_custody
        from gateway.wsgi import run_gunicorn
        check_custody(checked_settings())        # a worker that cannot sign would not boot
        _announce(host, url, online)
        run_gunicorn(host, port, workers, purge_every, worker_class=worker_class, threads=threads)
        return
    from gateway import create_app
    app = create_app(purge_every=purge_every, group_scans=True)

    def stop(signum, frame):            # SIGTERM: leave through the finally, queued scans written
        raise SystemExit(0)
    signal.signal(signal.SIGTERM, stop)
    _announce(host, url, online)
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
