"""Separated duties: the data manager's keys and retention, the auditor's log."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from store import audit
from standard.errors import BadRequest
from gateway.common import check_body, json_body, principal, service

bp = Blueprint("admin", __name__)
MAX_SEQ = 2**63 - 1          # SQLite INTEGER / Elasticsearch long


@bp.post("/v1/admin/keys/<owner>/rotate")
def rotate_key(owner: str):
    who = principal("data_manager")
    return jsonify(owner=owner, kid=service().rotate_key(owner, actor=who.as_actor()))


@bp.post("/v1/admin/keys/<owner>/<kid>/revoke")
def revoke_key(owner: str, kid: str):
    who = principal("data_manager")
    body = request.get_json(silent=True) if request.content_length else {}
    reason = (check_body(body, "KeyRevokeRequest") if body is not None else {}).get("reason", "")
    return jsonify(service().revoke_key(owner, kid, who.as_actor(), reason))


@bp.get("/v1/admin/credentials")
def list_credentials():
    principal("data_manager")
    return jsonify(credentials=service().credentials.list())


@bp.post("/v1/admin/credentials")
def add_credential():
    who = principal("data_manager")
    body = json_body("CredentialAddRequest")
    token = service().add_credential(body["role"], body["id"], who.as_actor(), body.get("kiosk_id"))
    return jsonify({k: v for k, v in body.items() if k in ("role", "id", "kiosk_id")} | {"token": token}), 201


@bp.delete("/v1/admin/credentials/<principal_id>")
def revoke_credential(principal_id: str):
    who = principal("data_manager")
    return jsonify(revoked=service().revoke_credential(principal_id, who.as_actor()))


@bp.get("/v1/admin/anchors")
def list_anchors():
    principal("data_manager")
    return jsonify(anchors=service().list_anchors())


@bp.post("/v1/admin/anchors")
def add_anchors():
    who = principal("data_manager")
    body = json_body("AnchorAddRequest")
    added = service().add_anchors(body["anchors"], who.as_actor(), body.get("iss"))
    return jsonify(added=added), 201 if added else 200


@bp.delete("/v1/admin/anchors/<anchor_id>")
def remove_anchor(anchor_id: str):
    who = principal("data_manager")
    service().remove_anchor(anchor_id, who.as_actor())
    return jsonify(removed=anchor_id)


@bp.get("/v1/admin/dcc-rules")
def list_dcc_rules():
    principal("data_manager")
    return jsonify(service().rule_file.summary())


@bp.post("/v1/admin/dcc-rules")
def import_dcc_rules():
    who = principal("data_manager")
    body = json_body("DccRulesImportRequest")
    imported = service().import_rules(body["country"], body["rules"], who.as_actor())
    return jsonify(country=body["country"], imported=imported), 201


@bp.delete("/v1/admin/dcc-rules/<country>")
def remove_dcc_rules(country: str):
    who = principal("data_manager")
    service().remove_rules(country, who.as_actor())
    return jsonify(removed=country)


@bp.post("/v1/admin/dcc-value-sets")
def import_dcc_value_sets():
    who = principal("data_manager")
    body = json_body("DccValueSetsImportRequest")
    return jsonify(value_sets=service().import_value_sets(body["value_sets"], who.as_actor())), 201


@bp.post("/v1/admin/revocations")
def revoke_foreign():
    who = principal("data_manager")
    body = json_body("ForeignRevocationRequest")
    codes = service().revoke_foreign(body["format"], body["certificate_ids"], who.as_actor(),
                                     body.get("reason", ""))
    return jsonify(revoked=codes)


@bp.get("/v1/admin/revocation-lists")
def list_revocation_lists():
    principal("data_manager")
    return jsonify(service().revocation_lists())


@bp.post("/v1/admin/revocation-lists")
def import_revocation_list():
    who = principal("data_manager")
    body = json_body("RevocationListImportRequest")
    return jsonify(service().import_revocation_list(body["format"], body["list"], who.as_actor(),
                                                    body.get("iss")))


@bp.post("/v1/admin/purge")
def purge():
    who = principal("data_manager")
    return jsonify(purged=service().purge(actor=who.as_actor()))


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
