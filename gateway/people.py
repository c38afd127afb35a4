"""Paths for people without smartphones: ID-card kiosks, assisted lookup, dependants, printed
offline codes."""
from __future__ import annotations

import base64

from functools import wraps

from flask import Blueprint, Response, current_app, jsonify, request

from adapters import qr
from gateway.common import bearer_token, code_format, json_body, optional_str, person_from, principal, service
from gateway.limits import MinuteCounter
from standard.errors import HealthCodeError, RateLimited

bp = Blueprint("people", __name__)


# A stranger's refused calls are audited one by one up to this many a minute per address (per
# process); past it they get 429 and no entry.  Unbounded, 1 000 tokenless requests in 2 s
# wrote 1 000 entries (4 MB) into a log that is never purged.
STRANGER_AUDITS_PER_MINUTE = 30


def _strangers() -> MinuteCounter:
    """The stranger counter of this app (one per process), on the service's clock."""
    counters = current_app.extensions
    if "healthcode.strangers" not in counters:
        counters.setdefault("healthcode.strangers", MinuteCounter(clock=service().now))
    return counters["healthcode.strangers"]


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
                    if who is None:
                        count, reset = _strangers().add(str(request.remote_addr))
                        if count > STRANGER_AUDITS_PER_MINUTE:
                            raise RateLimited("too many refused requests from this address this minute",
                                              retry_after=max(reset, 1)) from None
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
@audited("print")
def print_cards():
    """Printable offline codes as PDF: one person, or a care home's list (≤ 200)."""
    who = principal("operator")
    body = json_body("PrintRequest")
    entries = [(p["region"], person_from(p), p.get("status")) for p in body["people"]]
    pdf = service().print_cards(entries, layout=body.get("layout", "single"), actor=who.as_actor(),
                                fmt=code_format(body))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="health-codes.pdf"'})
