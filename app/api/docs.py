"""/api/v4/docs: Swagger UI served by the app itself, so it works offline and under the CSP.

The assets come from the pinned `swagger-ui-bundle` package (Swagger UI 4.15.5,
Apache-2.0, its licence in the package); flask-smorest's own page would load them
from a CDN and start them with an inline script.
"""

from __future__ import annotations

from flask import Blueprint, Flask, render_template, send_from_directory, url_for

bp = Blueprint("api_docs", __name__, url_prefix="/api/v4/docs")
# The files the page loads; anything else under the package folder is not served.
ASSETS = {"swagger-ui.css", "swagger-ui-bundle.js", "swagger-ui-standalone-preset.js", "favicon-32x32.png"}


@bp.get("")
def page():
    """The docs page; it reads the OpenAPI document from /api/v4/openapi.json."""
    return render_template("api/docs.html", spec_url=url_for("api-docs.openapi_json"))


@bp.get("/assets/<name>")
def asset(name: str):
    """One Swagger UI file, cached for a day."""
    from swagger_ui_bundle import swagger_ui_path

    if name not in ASSETS:
        return {"error": {"code": "not_found", "message": "no such file"}}, 404
    return send_from_directory(swagger_ui_path, name, max_age=86400)


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
