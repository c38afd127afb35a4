"""The data manager's changes to what the signed trust list carries — national and regional keys,
foreign trust anchors, EU business rules and value sets, withdrawn foreign certificates and
revocation lists, city delegations — all through the trust service, audited there."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from gateway.common import check_body, json_body, principal, service

bp = Blueprint("trust_admin", __name__)


@bp.post("/v1/admin/keys/<owner>/rotate")
def rotate_key(owner: str):
    who = principal("data_manager")
    return jsonify(owner=owner, kid=service().trust.rotate_key(owner, actor=who.as_actor()))


@bp.post("/v1/admin/keys/<owner>/<kid>/revoke")
def revoke_key(owner: str, kid: str):
    who = principal("data_manager")
    body = request.get_json(silent=True) if request.content_length else {}
    reason = (check_body(body, "KeyRevokeRequest") if body is not None else {}).get("reason", "")
    return jsonify(service().trust.revoke_key(owner, kid, who.as_actor(), reason))


@bp.get("/v1/admin/anchors")
def list_anchors():
    principal("data_manager")
    return jsonify(anchors=service().trust.list_anchors())


@bp.post("/v1/admin/anchors")
def add_anchors():
    who = principal("data_manager")
    body = json_body("AnchorAddRequest")
    added = service().trust.add_anchors(body["anchors"], who.as_actor(), body.get("iss"))
    return jsonify(added=added), 201 if added else 200


@bp.delete("/v1/admin/anchors/<anchor_id>")
def remove_anchor(anchor_id: str):
    who = principal("data_manager")
    service().trust.remove_anchor(anchor_id, who.as_actor())
    return jsonify(removed=anchor_id)


@bp.get("/v1/admin/dcc-rules")
def list_dcc_rules():
    principal("data_manager")
    return jsonify(service().trust.rule_summary())


@bp.post("/v1/admin/dcc-rules")
def import_dcc_rules():
    who = principal("data_manager")
    body = json_body("DccRulesImportRequest")
    imported = service().trust.import_rules(body["country"], body["rules"], who.as_actor())
    return jsonify(country=body["country"], imported=imported), 201


@bp.delete("/v1/admin/dcc-rules/<country>")
def remove_dcc_rules(country: str):
    who = principal("data_manager")
    service().trust.remove_rules(country, who.as_actor())
    return jsonify(removed=country)


@bp.post("/v1/admin/dcc-value-sets")
def import_dcc_value_sets():
    who = principal("data_manager")
    body = json_body("DccValueSetsImportRequest")
    return jsonify(value_sets=service().trust.import_value_sets(body["value_sets"], who.as_actor())), 201


@bp.post("/v1/admin/revocations")
def revoke_foreign():
    who = principal("data_manager")
    body = json_body("ForeignRevocationRequest")
    codes = service().trust.revoke_foreign(body["format"], body["certificate_ids"], who.as_actor(),
                                     body.get("reason", ""))
    return jsonify(revoked=codes)


@bp.get("/v1/admin/revocation-lists")
def list_revocation_lists():
    principal("data_manager")
    return jsonify(service().trust.revocation_lists())


@bp.delete("/v1/admin/revocation-lists")
def remove_revocation_list():
    """``?format=eu_dcc&kid=…[&hash_type=…]`` or ``?format=shc&iss=…&kid=…``."""
    who = principal("data_manager")
    args = request.args
    key = {"kid": args.get("kid"), "hash_type": args.get("hash_type"), "iss": args.get("iss")}
    return jsonify(service().trust.remove_revocation_list(args.get("format", ""), key, who.as_actor()))


@bp.post("/v1/admin/revocation-lists")
def import_revocation_list():
    who = principal("data_manager")
    body = json_body("RevocationListImportRequest")
    return jsonify(service().trust.import_revocation_list(body["format"], body["list"], who.as_actor(),
                                                    body.get("iss")))


@bp.get("/v1/admin/delegations")
def list_delegations():
    principal("data_manager")
    return jsonify(delegations=service().trust.list_delegations())


@bp.post("/v1/admin/delegations/<city>/withdraw")
def withdraw_delegation(city: str):
    who = principal("data_manager")
    body = request.get_json(silent=True) if request.content_length else {}
    reason = check_body(body, "DelegationWithdrawRequest").get("reason", "")
    return jsonify(service().trust.withdraw_delegation(city, who.as_actor(), reason))


@bp.post("/v1/admin/delegations/<city>/restore")
def restore_delegation(city: str):
    who = principal("data_manager")
    return jsonify(service().trust.restore_delegation(city, who.as_actor()))
