"""/docs: the interactive API reference, Swagger UI from its packaged copy (swagger-ui-bundle, no CDN),
reading /openapi.json; "try it out" calls the API with the console's sign-in and its CSRF token."""

from __future__ import annotations

from flask import Blueprint, abort, render_template, send_from_directory
from swagger_ui_bundle import swagger_ui_path

from strata_api.ui import session

bp = Blueprint("docs", __name__, template_folder="templates")
ASSETS = ("swagger-ui-bundle.js", "swagger-ui.css", "favicon-32x32.png")


@bp.get("/docs")
def docs():
    signed_in = session.current()
    return render_template("docs.html", csrf=signed_in.csrf if signed_in else "", signed_in=bool(signed_in))


@bp.get("/docs/assets/<name>")
def asset(name: str):
    if name not in ASSETS:
        abort(404)
    return send_from_directory(str(swagger_ui_path), name, max_age=86400)
