"""Request helpers shared by the blueprints."""
from __future__ import annotations

import base64
import binascii

import jsonschema
from flask import current_app, request

from .. import standard

from ..config import MAX_IMAGE_BYTES
from ..errors import BadRequest
from ..service import Service


def service() -> Service:
    return current_app.extensions["healthcode"]


def json_body(component: str) -> dict:
    """The request's JSON object, checked against ``component`` of the OpenAPI file."""
    return check_body(request.get_json(silent=True), component)


def check_body(body, component: str) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object (Content-Type: application/json)")
    error = jsonschema.exceptions.best_match(standard.openapi_validator(component).iter_errors(body))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "body"
        raise BadRequest(f"{where}: {error.message[:200]}")
    return body


def optional_str(body: dict, key: str, max_len: int = 64) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BadRequest(f"{key} must be a string of at most {max_len} characters")
    return value


def decode_image_b64(value) -> bytes:
    if not isinstance(value, str) or len(value) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise BadRequest("image_b64 must be base64 text of an image under 4 MB")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image_b64 is not valid base64") from None
