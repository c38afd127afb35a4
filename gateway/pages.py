"""Pages for people: the index, the checkpoint scanner page, the ID-card kiosk and the
operations view.  Pages carry no credential: the kiosk's and the data manager's tokens arrive in
the URL fragment and stay in the browser, which sends them only to the API."""
from __future__ import annotations

from flask import Blueprint, jsonify, render_template, request

from gateway.common import service
from gateway.offline_tables import offline_tables

bp = Blueprint("pages", __name__)


def _regions() -> dict:
    return {r.code: {"name": r.name, "name_en": r.name_en} for r in service().settings.regions}


@bp.get("/")
def index():
    """What a person can do here, Chinese first."""
    return render_template("index.html", regions=service().settings.regions)


@bp.get("/checkpoint")
def checkpoint():
    return render_template("checkpoint.html", regions=_regions(), national_keys=service().trust.national_jwks())


@bp.get("/checkpoint/formats.json")
def formats():
    """The format tables and claims schema the page verifies with offline (one source: the adapters)."""
    response = jsonify(offline_tables(service().settings))
    response.cache_control.max_age = 3600
    return response


@bp.get("/kiosk")
def kiosk():
    """The ID-card kiosk screen: large type, one action, resets itself after a minute."""
    kiosk_id = (request.args.get("kiosk_id") or "kiosk")[:64]
    return render_template("kiosk.html", kiosk_id=kiosk_id, regions=_regions())


@bp.get("/ops")
def ops():
    """Operations charts for the data manager; the data comes from GET /v1/admin/stats."""
    return render_template("ops.html", regions=_regions())


@bp.get("/standard")
def standard_text():
    """The standard as its Markdown source (the index links here; the docs ship beside the code)."""
    import standard
    path = standard.STANDARD_DIR.parent.parent / "standard.md"
    if not path.is_file():
        from standard.errors import NotFound
        raise NotFound("the standard's text is not installed with this gateway")
    return path.read_text(encoding="utf-8"), 200, {"Content-Type": "text/markdown; charset=utf-8"}


@bp.get("/v1/openapi.json")
def openapi():
    import standard
    return jsonify(standard.load_schema("openapi.json"))


@bp.get("/checkpoint-sw.js")
def checkpoint_worker():
    """The checkpoint's service worker, served from the root so it may control /checkpoint."""
    from flask import current_app, send_from_directory
    response = send_from_directory(current_app.static_folder, "checkpoint-sw.js", mimetype="text/javascript")
    response.cache_control.no_cache = True
    return response
