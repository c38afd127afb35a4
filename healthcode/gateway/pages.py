"""Pages for people: the checkpoint scanner page."""
from __future__ import annotations

from flask import Blueprint, render_template

from .common import service

bp = Blueprint("pages", __name__)


@bp.get("/")
@bp.get("/checkpoint")
def checkpoint():
    regions = {r.code: {"name": r.name, "name_en": r.name_en} for r in service().settings.regions}
    return render_template("checkpoint.html", regions=regions)
