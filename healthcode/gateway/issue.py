"""Issuance for regional issuers, authenticated by a per-region bearer token."""
from __future__ import annotations

import base64
import hmac

from flask import Blueprint, jsonify, request

from .. import qr, standard
from ..errors import BadRequest, Forbidden, Unauthorized
from ..issuers import make_person
from .common import json_body, optional_str, service

bp = Blueprint("issue", __name__)


def require_issuer(region: str) -> None:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("send Authorization: Bearer <issuer token>")
    tokens = service().issuer_tokens()
    owner = next((code for code, t in tokens.items() if hmac.compare_digest(t, token.strip())), None)
    if owner is None:
        raise Unauthorized("issuer token not recognised")
    if owner != region:
        raise Forbidden(f"this token may issue only for region {owner}")


@bp.post("/v1/issuers/<region>/codes")
def issue_code(region: str):
    svc = service()
    svc.settings.region(region)                 # 404 region_unknown before anything else
    require_issuer(region)
    body = json_body("IssueRequest")
    person = make_person(body.get("id_number", ""), body.get("name", ""),
                         body.get("id_type", "resident"))
    fmt = optional_str(body, "format", 32)
    if fmt not in (None, "native", "national"):
        raise BadRequest("format must be native or national")
    issued = svc.issue(region, person, facts=body.get("facts"), status=body.get("status"),
                       kind=body.get("kind", "dynamic"), fmt="national" if fmt == "national" else None)
    c = issued.claims
    out = {"qr_text": issued.qr_text, "format": issued.format, "code_id": c["jti"],
           "status": c["status"], "reasons": c["reasons"], "kind": c["kind"],
           "holder": {"name_masked": c["name_masked"], "id_masked": c["id_masked"]},
           "issued_at": standard.rfc3339(c["iat"]), "expires_at": standard.rfc3339(c["exp"])}
    if body.get("png"):
        out["png_b64"] = base64.b64encode(qr.render_png(issued.qr_text)).decode()
    return jsonify(out), 201
