"""A region's status interface for online codes (docs/standard.md §4.4): the address an online
code's QR names.  Anyone may ask — the code id is the secret, 96 random bits, and the answer holds
only what a signed code holds (masked name and ID, pseudonymous subject, colour) — and gets the
signed status the region stored when it issued the code, or why not."""
from __future__ import annotations

import re

from flask import Blueprint, jsonify

from gateway.common import service
from standard.errors import CodeRevoked, NotFound

bp = Blueprint("status", __name__)
CODE_ID = re.compile(r"[A-Za-z0-9_-]{8,64}", re.ASCII)


@bp.get("/v1/status/<region>/<code_id>")
def online_status(region: str, code_id: str):
    if not CODE_ID.fullmatch(code_id):
        raise NotFound("no online code with this id")
    try:
        answer = service().online_status.answer(region, code_id)
    except CodeRevoked as exc:          # withdrawn: no signed answer to replay, just "gone"
        return jsonify(error=exc.as_dict()), 410, {"Cache-Control": "no-store"}
    return jsonify(jws=answer), 200, {"Cache-Control": "no-store"}
