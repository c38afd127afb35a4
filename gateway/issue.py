"""The regional issuer's endpoints: issue, look up (for kiosks via the gateway), revoke."""
from __future__ import annotations

import base64

from flask import Blueprint, jsonify

from adapters import qr
from gateway.common import code_format, issued_json, json_body, person_from, principal, service
from gateway.people import refusal_audited
from gateway.status import CODE_ID
from standard.errors import NotFound

bp = Blueprint("issue", __name__)


def _issuer(region: str):
    service().settings.region(region)                 # 404 region_unknown before anything else
    return principal("issuer", region=region)


@bp.post("/v1/issuers/<region>/codes")
def issue_code(region: str):
    """A person's code from the region's issuer; refused requests are audited like any issuance
    (no token, another region's, a bad ID number or body), never with what the caller sent."""
    with refusal_audited("issue"):
        who = _issuer(region)
        body = json_body("IssueRequest")
        person = person_from(body)
        fmt = code_format(body)
    issued = service().issuing.issue(region, person, facts=body.get("facts"), status=body.get("status"),
                             kind=body.get("kind", "dynamic"), fmt=fmt, actor=who.as_actor())
    out = issued_json(issued)
    if body.get("png"):
        out["png_b64"] = base64.b64encode(qr.render_png(issued.qr_text)).decode()
    return jsonify(out), 201


@bp.post("/v1/issuers/<region>/lookup")
def lookup(region: str):
    """A fresh code with the person's current colour; the name, when sent, must match."""
    svc = service()
    with refusal_audited("reissue"):
        who = _issuer(region)
        body = json_body("IssuerLookupRequest")
        if "sub" in body:
            sub, name = body["sub"], None
        else:
            person = person_from(body, name_required=False)
            sub, name = svc.issuing.subject(person), person.name or None
        fmt = code_format(body)
    issued = svc.issuing.reissue(region, sub, name, kind=body.get("kind", "dynamic"), dep=body.get("dep"),
                                 actor=who.as_actor(), fmt=fmt)
    return jsonify(issued_json(issued))


@bp.post("/v1/issuers/<region>/revocations")
def revoke(region: str):
    """Withdraw every outstanding code of a person: online at once, offline at the next refresh."""
    svc = service()
    with refusal_audited("revoke"):
        who = _issuer(region)
        body = json_body("RevocationRequest")
        sub = svc.issuing.subject(person_from(body, name_required=False))
    jtis = svc.issuing.revoke_person(region, sub, who.as_actor(), reason=str(body.get("reason", ""))[:100])
    return jsonify(revoked=len(jtis))


@bp.post("/v1/issuers/<region>/codes/outstanding")
def outstanding_codes(region: str):
    """A person's codes that still verify (to find a lost printed card), newest first."""
    svc = service()
    with refusal_audited("codes_list"):
        who = _issuer(region)
        person = person_from(json_body("PersonRequest"), name_required=False)
    return jsonify(codes=svc.issuing.outstanding_codes(region, person, who.as_actor()))


@bp.post("/v1/issuers/<region>/codes/<code_id>/withdraw")
def withdraw_code(region: str, code_id: str):
    """Withdraw one outstanding code of a person (a lost printed card); the others keep working."""
    svc = service()
    with refusal_audited("code_withdraw"):
        who = _issuer(region)
        body = json_body("RevocationRequest")
        person = person_from(body, name_required=False)
        if not CODE_ID.fullmatch(code_id):
            raise NotFound("this person has no outstanding code with this id in this region")
    return jsonify(svc.issuing.withdraw_code(region, person, code_id, who.as_actor(),
                                             reason=str(body.get("reason", ""))[:100]))


@bp.post("/v1/transcode")
def transcode():
    """A verified code of one region → a code of the target region, with provenance; refused
    requests are audited (``transcode``)."""
    with refusal_audited("transcode"):
        body = json_body("TranscodeRequest")
        target = body["target_region"]
        service().settings.region(target)
        who = principal("issuer", "operator", region=target)
        fmt = code_format(body)
    issued, source = service().issuing.transcode(body["payload"], target, fmt=fmt, actor=who.as_actor())
    return jsonify({**issued_json(issued), "provenance": issued.claims["prov"],
                    "source": {"region": source.region, "format": source.format, "status": source.status,
                               "code_id": source.code_id}}), 201
