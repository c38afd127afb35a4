"""Request helpers shared by the blueprints."""
from __future__ import annotations

import base64
import binascii
from functools import lru_cache

import jsonschema
from flask import current_app, request

import standard

from config.settings import MAX_IMAGE_BYTES
from standard.errors import BadRequest, CodeTooLarge
from gateway.credentials import bearer, require
from gateway.services import Services


def service() -> Services:
    return current_app.extensions["healthcode"]


def json_body(component: str) -> dict:
    """The request's JSON object, checked against ``component`` of the OpenAPI file."""
    return check_body(request.get_json(silent=True), component)


def check_body(body, component: str) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object (Content-Type: application/json)")
    if standard.openapi_accepts(component, body):          # the hot requests, compiled
        return body
    error = jsonschema.exceptions.best_match(standard.openapi_validator(component).iter_errors(body))
    if error is not None:
        raise BadRequest(schema_message(error))
    return body


# What a schema error says, in our words: jsonschema's own messages quote the offending value,
# and that value is often an ID number or a name.  Only the path (our member names, or an array
# index) and the rule (our schema's numbers and enum values) are ever repeated back.
_RULES = {
    "type": lambda v: f"must be of type {v if isinstance(v, str) else ' or '.join(v)}",
    "maxLength": lambda v: f"must be at most {v} characters",
    "minLength": lambda v: f"must be at least {v} characters",
    "pattern": lambda v: "does not have the required form",
    "enum": lambda v: "must be one of " + ", ".join(map(str, v))[:200],
    "maxItems": lambda v: f"must have at most {v} items",
    "minItems": lambda v: f"must have at least {v} items",
    "maximum": lambda v: f"must be at most {v}",
    "minimum": lambda v: f"must be at least {v}",
    "additionalProperties": lambda v: "has members this request does not take",
    "required": lambda v: "lacks a required member: " + ", ".join(map(str, v))[:200],
    "const": lambda v: f"must be {v}",
}


def schema_message(error) -> str:
    """``where: rule`` — where is the JSON path of known member names and array indexes only."""
    known = _known_names()
    where = "/".join(str(p) for p in error.absolute_path if isinstance(p, int) or p in known) or "body"
    rule = _RULES.get(error.validator, lambda v: f"breaks the rule {error.validator}")(error.validator_value)
    return f"{where}: {rule}"


@lru_cache(maxsize=None)
def _known_names() -> frozenset:
    """Every member name the OpenAPI file defines: only these are repeated in messages."""
    names = set()
    stack = [standard.load_schema("openapi.json")]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            names.update(k for k in node.get("properties", {}) if isinstance(k, str))
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return frozenset(names)


def optional_str(body: dict, key: str, max_len: int = 64) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > max_len:
        raise BadRequest(f"{key} must be a string of at most {max_len} characters")
    return value


def code_format(body: dict) -> str | None:
    """A request's ``format`` (already checked against the schema): ``national``, ``online``, or
    None for the region's native signed format."""
    fmt = body.get("format")
    return fmt if fmt in ("national", "online") else None


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


def bearer_token() -> str:
    return bearer(request.headers.get("Authorization", ""))


def principal(*roles: str, region: str | None = None):
    """The caller's credential, which must hold one of ``roles``."""
    return require(service().credentials.authenticate(bearer_token()), *roles, region=region)


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
