"""Pages for people: the checkpoint scanner page and the ID-card kiosk."""
from __future__ import annotations

from flask import Blueprint, render_template, request

from gateway.common import service

bp = Blueprint("pages", __name__)


@bp.get("/")
@bp.get("/checkpoint")
def checkpoint():
    regions = {r.code: {"name": r.name, "name_en": r.name_en} for r in service().settings.regions}
    return render_template("checkpoint.html", regions=regions)


@bp.get("/kiosk")
def kiosk():
    """The ID-card kiosk screen: large type, one action, resets itself after a minute."""
    kiosk_id = (request.args.get("kiosk_id") or "kiosk")[:64]
    return render_template("kiosk.html", kiosk_id=kiosk_id)
