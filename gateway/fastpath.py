"""``POST /v1/verify`` of one QR text answered without the framework's per-request machinery.

A checkpoint's gate posts ``{"payload", "place", "device"}`` thousands of times a minute; Flask
and werkzeug around it (request and response objects, routing, contexts, signals, header
objects) cost more than the verification itself.  :class:`FastVerify` sits between
:class:`gateway.proxy.ClientAddress` (so ``REMOTE_ADDR`` is already the client) and the Flask
app, and answers the plain case itself with the same steps the view takes
(gateway/api.py ``verify``): the body read once and parsed by the app's own JSON provider
(:class:`gateway.json_provider.SafeJSONProvider`), the same compiled OpenAPI check, the same per-client
charge, the same service call, the verdict dumped by the app's provider, and the security
headers of :mod:`gateway.headers`.  The answer is the same bytes (tests/test_perf_paths.py
sends the HTTP tests' requests both ways).

A request with a credential is answered here too, charged to the credential as the view charges
it.  Everything else falls through to Flask unchanged, the body handed on intact: another path or
method, no or chunked or large ``Content-Length``, another content type, a body
that does not parse or that the compiled check refuses, an image, a ``place``/``device`` the
view would refuse.  An error after the charge (rate limited, store unavailable, anything) is
rendered by the app's own error handlers and after-request hooks.
"""
from __future__ import annotations

import io

import standard
from gateway import bodies, headers
from gateway.limits import verification_caller

PATH = "/v1/verify"
MAX_FAST_BODY = bodies.LARGE_BODY          # larger bodies take the framework's bounded path
_SECURITY_HEADERS = list(headers.HEADERS.items())


class FastVerify:
    """WSGI middleware: the plain verify request here, anything else to ``fallback``."""

    def __init__(self, app, fallback):
        self.app = app                       # the Flask app: its services, JSON provider, error handlers
        self.fallback = fallback
        self.enabled = True

    def __call__(self, environ, start_response):
        if not (self.enabled and environ.get("PATH_INFO") == PATH and environ.get("REQUEST_METHOD") == "POST") \
                or self.app.debug or getattr(self.app.json, "compact", None) is False:    # it indents then
            return self.fallback(environ, start_response)
        body = self._plain_body(environ)
        if body is None:
            return self.fallback(environ, start_response)
        payload, place, device = body
        svc = self.app.extensions["healthcode"]
        try:
            svc.verification.charge(verification_caller(svc.credentials, environ.get("HTTP_AUTHORIZATION", ""),
                                                        environ.get("REMOTE_ADDR", "")), 1)
            verdict = svc.verification.verify(payload, place=place, device=device)
            data = (self.app.json.dumps(verdict.as_dict(), separators=(",", ":")) + "\n").encode()
        except Exception as exc:             # noqa: BLE001 — answered as the framework answers it
            return self._framework_error(environ, start_response, exc)
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(data))),
                                  *_SECURITY_HEADERS])
        return [data]

    def _plain_body(self, environ) -> tuple[str, str | None, str | None] | None:
        """(payload, place, device) of a request this path answers, else None — the body read
        here is put back for the framework to read again."""
        if environ.get("HTTP_TRANSFER_ENCODING") is not None:
            return None
        if environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower() != "application/json":
            return None
        length = environ.get("CONTENT_LENGTH", "")
        if not (length.isascii() and length.isdigit()) or not 0 < int(length) <= MAX_FAST_BODY:
            return None
        raw = environ["wsgi.input"].read(int(length))
        environ["wsgi.input"] = io.BytesIO(raw)
        if len(raw) != int(length):
            return None
        try:
            body = self.app.json.loads(raw)
        except Exception:                    # noqa: BLE001 — the framework words the refusal
            return None
        if not isinstance(body, dict) or "image_b64" in body or not isinstance(body.get("payload"), str) \
                or not standard.openapi_accepts("VerifyRequest", body):
            return None
        place, device = body.get("place"), body.get("device")
        if not all(v is None or (isinstance(v, str) and len(v) <= 64) for v in (place, device)):
            return None
        return body["payload"], place, device

    def _framework_error(self, environ, start_response, exc: Exception):
        app = self.app
        with app.request_context(environ):
            response = app.process_response(app.make_response(app.handle_user_exception(exc)))
        return response(environ, start_response)
