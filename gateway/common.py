"""Request helpers shared by the blueprints."""
from __future__ import annotations

import base64
import binascii

import jsonschema
from flask import current_app, request

import standard

from standard.settings import MAX_IMAGE_BYTES
from standard.errors import BadRequest, CodeTooLarge
from gateway.service import Service


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
    """An over-large image is a verdict (``payload_too_large``, §6), not a bad request."""
    if not isinstance(value, str):
        raise BadRequest("image_b64 must be base64 text of an image")
    if len(value) > MAX_IMAGE_BYTES * 4 // 3 + 4:
        raise CodeTooLarge(f"image larger than {MAX_IMAGE_BYTES // 1_000_000} MB")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise BadRequest("image_b64 is not valid base64") from None


def principal(*roles: str, region: str | None = None):
    """The caller's credential, which must hold one of ``roles``."""
    from gateway.credentials import require
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer":
        token = ""
    return require(service().credentials.authenticate(token.strip()), *roles, region=region)


def person_from(body: dict, name_required: bool = True):
    from issuers import make_person
    if not isinstance(body, dict):
        raise BadRequest("person must be an object with id_number and name")
    return make_person(body.get("id_number", ""), body.get("name"), body.get("id_type", "resident"),
                       name_required=name_required)


def issued_json(issued) -> dict:
    c = issued.claims
    return {"qr_text": issued.qr_text, "format": issued.format, "code_id": c["jti"],
            "status": c["status"], "reasons": c["reasons"], "kind": c["kind"],
            "holder": {"name_masked": c["name_masked"], "id_masked": c["id_masked"]},
            "issued_at": standard.rfc3339(c["iat"]), "expires_at": standard.rfc3339(c["exp"])}
