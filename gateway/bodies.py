"""Request bodies, read before any view looks at them — once, bounded, and never a 500.

* A malformed chunk size under gunicorn raised gunicorn's own parse error out of ``get_json``
  (a 500 with a stack trace); a client hanging up mid-body likewise.  Unreadable is a 400.
* A chunked body is cut at MAX_REQUEST_BYTES without a word: that is a 413, not a parse of the stub.
* Each large body costs ~20 MB while its request runs (the bytes, then the parsed text): 40 at
  once took the threaded server to 800 MB, and nothing bounded the count.  At most
  LARGE_BODY_SLOTS bodies over LARGE_BODY bytes are held at once per process; the next waits up
  to LARGE_BODY_WAIT seconds, then gets a 429 with Retry-After.
"""
from __future__ import annotations

import threading

from flask import Flask, g, request
from werkzeug.exceptions import HTTPException

from standard.errors import BadRequest, PayloadTooLarge, RateLimited
from config.settings import MAX_REQUEST_BYTES

LARGE_BODY = 1_000_000
LARGE_BODY_SLOTS = threading.BoundedSemaphore(4)
LARGE_BODY_WAIT = 10


def install(app: Flask) -> None:
    app.before_request(read_body)
    app.teardown_request(release_slot)


def read_body() -> None:
    if request.method not in ("POST", "PUT", "PATCH", "DELETE"):
        return
    length = request.content_length
    if length is None or length > LARGE_BODY:              # chunked bodies may be large too
        if not LARGE_BODY_SLOTS.acquire(timeout=LARGE_BODY_WAIT):
            raise RateLimited("too many large requests at once; send it again in a moment", retry_after=1)
        g.large_body_slot = True
    try:
        body = request.get_data(cache=True)
    except HTTPException:
        raise
    except Exception:            # noqa: BLE001 — the server's parser, not our code
        raise BadRequest("request body could not be read (bad chunked encoding, or cut off)") from None
    if length is None and len(body) >= MAX_REQUEST_BYTES:
        raise PayloadTooLarge(f"request body over {MAX_REQUEST_BYTES // 1_000_000} MB")


def release_slot(_exc=None) -> None:
    if g.pop("large_body_slot", False):
        LARGE_BODY_SLOTS.release()
