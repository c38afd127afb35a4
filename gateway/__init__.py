"""The Flask gateway: scan-and-verify, the national trust list, issuance for regional issuers.

``create_app`` is the only entry point (``flask --app gateway run`` or ``healthcode serve``).
Every error leaves as JSON ``{"error": {"code", "message"}}``.

The package is the outermost layer: it composes :mod:`issuers` and :mod:`adapters` on the shared
core (:mod:`standard`, :mod:`store`) as use-case services (:mod:`.services`), and serves them over HTTP (the
blueprints), as pages (``templates/``) and as the ``healthcode`` command (:mod:`.cli`).
"""
from __future__ import annotations

import gc
import logging
import threading
from typing import TYPE_CHECKING

import adapters
from config.settings import MAX_REQUEST_BYTES, Settings, load_settings
from standard.errors import HealthCodeError, KeyCustodyUnavailable
from gateway.services import Services
from gateway.version import __version__  # noqa: F401

if TYPE_CHECKING:
    from flask import Flask

# Flask, werkzeug and the modules built on them are imported by create_app, not here: the
# ``healthcode`` commands that serve nothing (verify-batch above all) start without them.

log = logging.getLogger(__name__)
CUSTODY_MESSAGE = "the signing keys' custody cannot be used now; the gateway's log says why for its operators"


HTTP_CODES = {400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
              405: "method_not_allowed", 413: "payload_too_large", 415: "unsupported_media_type",
              429: "rate_limited"}


def create_app(service: Services | None = None, settings=None, purge_every: float = 0,
               group_scans: bool = False) -> Flask:
    """``purge_every`` > 0 runs the retention purge in the background every that many seconds
    (``healthcode serve`` sets it; several workers purging is harmless: it is idempotent).
    ``group_scans`` writes scan events in groups (``healthcode serve`` sets it; the process
    must call ``service.close()`` on the way out — serve does, at SIGTERM and worker exit)."""
    from flask import Flask
    from gateway import headers
    from gateway.json_provider import SafeJSONProvider
    from gateway.fastpath import FastVerify
    from gateway.proxy import ClientAddress
    app = Flask(__name__)
    app.json = SafeJSONProvider(app)
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST_BYTES
    app.config["JSON_AS_ASCII"] = False
    app.json.ensure_ascii = False
    app.json.sort_keys = False
    app.extensions["healthcode"] = service or Services(checked_settings(settings))
    if group_scans:             # a serving process: batches on every core from the first one
        app.extensions["healthcode"].verification.group_scan_writes()
        app.extensions["healthcode"].verification.warm_pool()

    from gateway import admin
    from gateway import api
    from gateway import issue
    from gateway import pages
    from gateway import people
    from gateway import status
    from gateway import trust_admin
    for blueprint in (api.bp, issue.bp, people.bp, admin.bp, trust_admin.bp, pages.bp, status.bp):
        app.register_blueprint(blueprint)
    _register_errors(app)
    headers.install(app)                 # CSP, frame-ancestors, nosniff, Referrer-Policy on every answer
    # the plain POST /v1/verify answered beside the framework, the same bytes (gateway/fastpath.py)
    app.wsgi_app = app.extensions["fast_verify"] = FastVerify(app, app.wsgi_app)
    # behind the proxies of HEALTHCODE_TRUSTED_PROXIES, request.remote_addr is the client they name
    app.wsgi_app = ClientAddress(app.wsgi_app, app.extensions["healthcode"].settings.trusted_proxies)
    if purge_every > 0:
        _schedule_purge(app.extensions["healthcode"], purge_every)
    if group_scans:
        # a serving process: what start-up built (modules, the app, schemas, keys) lives as long as
        # the process, so it leaves the collector's generations — a full collection then walks only
        # what requests made (~0.3 ms instead of ~35 ms with 64 000 start-up objects)
        gc.collect()
        gc.freeze()
    return app


def checked_settings(settings: Settings | None = None) -> Settings:
    """``settings`` (default: the configuration on disk) once every format name in it is a
    registered format: a server with a typo in its config refuses to start (UnknownFormat,
    ConfigInvalid) instead of failing on its first request."""
    settings = settings or load_settings()
    adapters.check_settings(settings)
    return settings


def _schedule_purge(service: Services, every: float) -> None:
    def run():
        try:
            service.administration.purge()
        except Exception:            # noqa: BLE001 — a failed purge is logged and retried next round
            log.exception("scheduled purge failed")
        timer = threading.Timer(every, run)
        timer.daemon = True
        timer.start()

    first = threading.Timer(min(every, 60), run)
    first.daemon = True
    first.start()


def _register_errors(app: Flask) -> None:
    from flask import jsonify
    from werkzeug.exceptions import HTTPException
    from gateway import bodies
    bodies.install(app)

    @app.errorhandler(HealthCodeError)
    def domain_error(exc: HealthCodeError):
        error = exc.as_dict()
        if isinstance(exc, KeyCustodyUnavailable):
            # which token, module, PIN variable or file failed is for the operators (the log),
            # never for whoever sent the request: anyone may verify
            log.error("key custody unavailable: %s", exc.message)
            error["message"] = CUSTODY_MESSAGE
        response = jsonify(error=error)
        if getattr(exc, "retry_after", None):
            response.headers["Retry-After"] = str(exc.retry_after)
        return response, exc.http_status

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = HTTP_CODES.get(exc.code, "http_error")
        return jsonify(error={"code": code, "message": exc.description or exc.name}), exc.code

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):          # last resort: still JSON, still no stack trace out
        log.exception("unhandled error")
        return jsonify(error={"code": "internal", "message": "internal error; it has been logged"}), 500
