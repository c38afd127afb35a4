"""Separated duties: the data manager's credentials, retention and operations figures (the
administration service), the auditor's log.  What goes into the trust list: gateway/trust_admin.py."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from store import audit
from standard.errors import BadRequest
from gateway.common import json_body, principal, service

bp = Blueprint("admin", __name__)
MAX_SEQ = 2**63 - 1          # SQLite INTEGER / Elasticsearch long


@bp.get("/v1/admin/credentials")
def list_credentials():
    principal("data_manager")
    return jsonify(credentials=service().administration.list_credentials())


@bp.post("/v1/admin/credentials")
def add_credential():
    who = principal("data_manager")
    body = json_body("CredentialAddRequest")
    token = service().administration.add_credential(body["role"], body["id"], who.as_actor(), body.get("kiosk_id"),
                                                     from_host=False)
    return jsonify({k: v for k, v in body.items() if k in ("role", "id", "kiosk_id")} | {"token": token}), 201


@bp.delete("/v1/admin/credentials/<principal_id>")
def revoke_credential(principal_id: str):
    who = principal("data_manager")
    return jsonify(revoked=service().administration.revoke_credential(principal_id, who.as_actor(), from_host=False))


@bp.post("/v1/admin/purge")
def purge():
    who = principal("data_manager")
    return jsonify(purged=service().administration.purge(actor=who.as_actor()))


@bp.get("/v1/audit")
def audit_entries():
    who = principal("auditor")
    try:
        after = int(request.args.get("after", 0))
        limit = int(request.args.get("limit", 100))
    except ValueError:
        raise BadRequest("after and limit must be integers") from None
    if not 0 <= after <= MAX_SEQ or not 1 <= limit <= 1000:
        raise BadRequest(f"after must be 0..{MAX_SEQ} and limit 1..1000")
    svc = service()
    svc.audit.record(who.as_actor(), "audit_read", None, after=after, limit=limit)
    return jsonify(entries=svc.audit.entries(after, limit))


@bp.get("/v1/audit/verify")
def audit_verify():
    who = principal("auditor")
    checkpoint = request.args.get("checkpoint")
    try:
        mark = audit.parse_checkpoint(checkpoint) if checkpoint else None
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    svc = service()
    result = svc.audit.verify(mark)
    svc.audit.record(who.as_actor(), "audit_verify", None, intact=result["intact"])
    return jsonify(result)


@bp.get("/v1/admin/stats")
def stats():
    """Operations figures for the data manager (counts only, no personal data)."""
    from gateway import ops
    principal("data_manager")
    window = request.args.get("window", "24h")
    if window not in ops.WINDOWS:
        raise BadRequest(f"window must be one of {', '.join(ops.WINDOWS)}")
    svc = service()
    return jsonify(ops.report(svc.store, svc.now(), window))
