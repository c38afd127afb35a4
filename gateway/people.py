"""Paths for people without smartphones: ID-card kiosks, assisted lookup, dependants, printed
offline codes."""
from __future__ import annotations

import base64

from functools import wraps

from flask import Blueprint, Response, jsonify, request

from adapters import qr
from gateway.common import bearer_token, code_format, json_body, optional_str, person_from, principal, service
from standard.errors import HealthCodeError

bp = Blueprint("people", __name__)


def audited(action: str):
    """Every lookup of a person is audited — refused ones too (a bad check digit, a schema
    error, a wrong role, no token): the service audits what reaches it; this audits the rest,
    with whoever the token says the caller is, and no subject (nothing valid to pseudonymise)."""
    def wrap(view):
        @wraps(view)
        def inner(*args, **kwargs):
            try:
                return view(*args, **kwargs)
            except HealthCodeError as exc:
                if not getattr(exc, "audited", False):
                    svc = service()
                    who = svc.credentials.caller(bearer_token())
                    actor = who.as_actor() if who else {"role": "unauthenticated", "id": request.remote_addr}
                    svc.audit.record(actor, action, None, result=exc.code)
                raise
        return inner
    return wrap


@bp.post("/v1/kiosk/lookup")
@audited("kiosk_lookup")
def kiosk_lookup():
    """The card reader gives the ID number (and usually the name); the kiosk shows the code."""
    who = principal("kiosk", "operator")
    body = json_body("KioskLookupRequest")
    person = person_from(body, name_required=False)
    result = service().lookup(who, person, assisted=False, kiosk_id=optional_str(body, "kiosk_id"),
                              region=body.get("region"), fmt=code_format(body))
    if request.args.get("png"):        # the kiosk screen shows the QR for the bus driver to scan
        result["png_b64"] = base64.b64encode(qr.render_png(result["qr_text"], box_size=8)).decode()
    return jsonify(result)


@bp.post("/v1/assist/lookup")
@audited("assisted_lookup")
def assisted_lookup():
    """老幼健康码助查询: a helper types the holder's ID number AND name."""
    who = principal("helper", "operator")
    body = json_body("AssistedLookupRequest")
    result = service().lookup(who, person_from(body), assisted=True, kiosk_id=optional_str(body, "kiosk_id"),
                              region=body.get("region"))
    return jsonify(result)


@bp.post("/v1/dependents")
@audited("bind_dependent")
def bind_dependent():
    who = principal("operator", "helper")
    body = json_body("DependentBindRequest")
    result = service().bind_dependent(who, person_from(body["holder"]), person_from(body["dependent"]),
                                      body["relation"], body["consent"], region=body.get("region"),
                                      kiosk_id=optional_str(body, "kiosk_id"))
    return jsonify(result), 201


@bp.post("/v1/dependents/codes")
@audited("dependant_lookup")
def dependant_codes():
    who = principal("operator", "helper", "kiosk")
    body = json_body("DependentCodesRequest")
    return jsonify(service().dependant_codes(who, person_from(body["holder"]),
                                             kiosk_id=optional_str(body, "kiosk_id")))


@bp.post("/v1/print")
def print_cards():
    """Printable offline codes as PDF: one person, or a care home's list (≤ 200)."""
    who = principal("operator")
    body = json_body("PrintRequest")
    entries = [(p["region"], person_from(p), p.get("status")) for p in body["people"]]
    pdf = service().print_cards(entries, layout=body.get("layout", "single"), actor=who.as_actor(),
                                fmt=code_format(body))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="health-codes.pdf"'})
