"""Pages for people: the index, the checkpoint scanner page, the ID-card kiosk and the
operations view.  Pages carry no credential: the kiosk's and the data manager's tokens arrive in
the URL fragment and stay in the browser, which sends them only to the API."""
from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

from flask import Blueprint, jsonify, render_template, request

import adapters
from gateway.common import service
from gateway.offline_tables import offline_tables

bp = Blueprint("pages", __name__)


def _regions() -> dict:
    return {r.code: {"name": r.name, "name_en": r.name_en, **({"parent": r.parent} if r.parent else {})}
            for r in service().settings.regions}


def _formats() -> dict:
    """Every format read here by the name people know it by (粤康码, EU 数字新冠证书), from the
    adapters: the pages never show an internal format name."""
    return adapters.titles(service().settings.formats())


@bp.get("/")
def index():
    """What a person can do here, Chinese first."""
    settings = service().settings
    return render_template("index.html", regions=settings.regions, formats=_formats(),
                           foreign=settings.extra_formats)


@bp.get("/checkpoint")
def checkpoint():
    return render_template("checkpoint.html", regions=_regions(), national_keys=service().trust.national_jwks(),
                           formats=_formats())


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


def _standard_path() -> Path:
    """The standard's text (docs/standard.md), shipped beside the code; NotFound without it."""
    import standard
    path = standard.STANDARD_DIR.parent.parent / "standard.md"
    if not path.is_file():
        from standard.errors import NotFound
        raise NotFound("the standard's text is not installed with this gateway")
    return path


@lru_cache(maxsize=4)
def _standard_html(path: Path, mtime: float) -> tuple[str, str]:
    """(title, body HTML) of the standard: CommonMark with tables, raw HTML off, every heading
    given an id (its number, e.g. ``s7`` for "7. Trust list") so §-links can point at it."""
    from markdown_it import MarkdownIt
    md = MarkdownIt("commonmark", {"html": False}).enable("table")
    tokens = md.parse(path.read_text(encoding="utf-8"))
    title = ""
    for i, token in enumerate(tokens):
        if token.type == "heading_open":
            text = tokens[i + 1].content
            title = title or text
            number = re.match(r"([0-9]+(?:\.[0-9]+)*)\.? ", text)
            if number:
                token.attrSet("id", "s" + number.group(1))
    return title, md.renderer.render(tokens, md.options, {})


@bp.get("/standard")
def standard_text():
    """The standard as a page (the index links here); its Markdown source is /standard.md."""
    path = _standard_path()
    title, body = _standard_html(path, path.stat().st_mtime)
    return render_template("standard.html", title=title, body=body)


@bp.get("/standard.md")
def standard_source():
    """The standard's Markdown source, as the docs ship it."""
    return _standard_path().read_text(encoding="utf-8"), 200, {"Content-Type": "text/markdown; charset=utf-8"}


@bp.get("/favicon.ico")
def favicon():
    """The pages' icon (browsers ask for /favicon.ico whatever the page says)."""
    from flask import current_app, send_from_directory
    response = send_from_directory(current_app.static_folder, "favicon.ico", mimetype="image/vnd.microsoft.icon")
    response.cache_control.max_age = 86400
    return response


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
