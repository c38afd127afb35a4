"""Paths for people without smartphones: ID-card kiosks, assisted lookup, dependents, printed
offline codes."""
from __future__ import annotations

import base64

from contextlib import contextmanager

from flask import Blueprint, Response, current_app, jsonify, request

from adapters import qr
from gateway.common import bearer_token, code_format, json_body, optional_str, person_from, principal, service
from gateway.limits import MinuteCounter
from gateway.proxy import limit_key
from standard.errors import HealthCodeError, RateLimited

bp = Blueprint("people", __name__)


# A stranger's refused calls are audited one by one up to this many a minute per address — an
# IPv6 client's /64 (gateway.proxy.limit_key) — every process on the data directory together
# (gateway/limits.py); past it they get 429 and no entry.
# Unbounded, 1 000 tokenless requests in 2 s wrote 1 000 entries (4 MB) into a log that is never
# purged.
STRANGER_AUDITS_PER_MINUTE = 30
# ... and up to this many for all the /64s of one IPv6 /48 (MinuteCounter.charge) together:
# a /48 is 65 536 /64s, and tunnel brokers give one away.
STRANGER_AUDITS_PER_NETWORK_PER_MINUTE = 60


def _strangers() -> MinuteCounter:
    """The stranger counter of this app, on the service's clock and its shared table."""
    counters = current_app.extensions
    if "healthcode.strangers" not in counters:
        counters.setdefault("healthcode.strangers", MinuteCounter(clock=service().now, shared=service().minute_counts,
                                                                  name="strangers"))
    return counters["healthcode.strangers"]


@contextmanager
def refusal_audited(action: str):
    """Every lookup of a person is audited, refused ones too.  The services audit every call that
    reaches them; a request refused before it gets there (a bad check digit, a schema error, a
    wrong role, no token) is audited here, with whoever the token says the caller is and no
    subject (nothing valid to pseudonymise).  Wrap only the request's parsing in this."""
    try:
        yield
    except HealthCodeError as exc:
        svc = service()
        who = svc.credentials.caller(bearer_token())
        if who is None:
            try:
                _strangers().charge(limit_key(request.remote_addr or ""), STRANGER_AUDITS_PER_MINUTE,
                                    STRANGER_AUDITS_PER_NETWORK_PER_MINUTE, "refused requests")
            except RateLimited as limited:
                raise limited from None
        actor = who.as_actor() if who else {"role": "unauthenticated", "id": request.remote_addr}
        svc.audit.record(actor, action, None, result=exc.code)
        raise


@bp.post("/v1/kiosk/lookup")
def kiosk_lookup():
    """The card reader gives the ID number (and usually the name); the kiosk shows the code."""
    with refusal_audited("kiosk_lookup"):
        who = principal("kiosk", "operator")
        body = json_body("KioskLookupRequest")
        person = person_from(body, name_required=False)
        fmt = code_format(body)
    result = service().people.lookup(who, person, assisted=False, kiosk_id=optional_str(body, "kiosk_id"),
                                     region=body.get("region"), fmt=fmt)
    if request.args.get("png"):        # the kiosk screen shows the QR for the bus driver to scan
        result["png_b64"] = base64.b64encode(qr.render_png(result["qr_text"], box_size=8)).decode()
    return jsonify(result)


@bp.post("/v1/assist/lookup")
def assisted_lookup():
    """老幼健康码助查询: a helper types the holder's ID number AND name."""
    with refusal_audited("assisted_lookup"):
        who = principal("helper", "operator")
        body = json_body("AssistedLookupRequest")
        person = person_from(body)
    result = service().people.lookup(who, person, assisted=True, kiosk_id=optional_str(body, "kiosk_id"),
                                     region=body.get("region"))
    return jsonify(result)


@bp.post("/v1/dependents")
def bind_dependent():
    with refusal_audited("bind_dependent"):
        who = principal("operator", "helper")
        body = json_body("DependentBindRequest")
        holder, dependent = person_from(body["holder"]), person_from(body["dependent"])
    result = service().people.bind_dependent(who, holder, dependent, body["relation"], body["consent"],
                                             region=body.get("region"), kiosk_id=optional_str(body, "kiosk_id"))
    return jsonify(result), 201


@bp.post("/v1/dependents/codes")
def dependent_codes():
    with refusal_audited("dependent_lookup"):
        who = principal("operator", "helper", "kiosk")
        body = json_body("DependentCodesRequest")
        holder = person_from(body["holder"])
    return jsonify(service().people.dependent_codes(who, holder, kiosk_id=optional_str(body, "kiosk_id")))


@bp.post("/v1/print")
def print_cards():
    """Printable offline codes as PDF: one person, or a care home's list (≤ 200), in the colour
    each person's issuer decided; a ``status`` only from that region's issuer, with a reason."""
    with refusal_audited("print"):
        who = principal("operator", "issuer")
        service().issuing.count_print(who.id)
        body = json_body("PrintRequest")
        entries = [(p["region"], person_from(p), p.get("status")) for p in body["people"]]
        fmt = code_format(body)
    pdf = service().issuing.print_cards(entries, layout=body.get("layout", "single"), actor=who.as_actor(), fmt=fmt,
                                        override_reason=body.get("override_reason"))
    return Response(pdf, mimetype="application/pdf",
                    headers={"Content-Disposition": 'attachment; filename="health-codes.pdf"'})
