"""The /api/v4 JSON API: bearer tokens, one error shape, an OpenAPI document and a docs page."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask_smorest import Api as SmorestApi
from werkzeug.exceptions import MethodNotAllowed

from app.api import responses
from app.api.tagged import tagged_to_openapi

OPENAPI_DEFAULTS = {
    "API_TITLE": "Batch Manager API",
    "API_VERSION": "v4",
    "OPENAPI_VERSION": "3.0.3",
    "OPENAPI_URL_PREFIX": "/api/v4",
    "OPENAPI_JSON_PATH": "openapi.json",
    # No OPENAPI_SWAGGER_UI_PATH: app/api/docs.py serves the docs page from local assets.
}


class Api(SmorestApi):
    """flask-smorest, documenting our error shape and leaving error handling to the app's handlers."""

    ERROR_SCHEMA = responses.ErrorSchema

    def _register_error_handlers(self) -> None:
        # smorest would answer every HTTPException of the whole app (admin pages too) in
        # its own shape; app/error_handlers.py and the handlers below own that instead.
        pass


def init_app(app: Flask) -> None:
    """Register the API blueprints, the OpenAPI document at /api/v4/openapi.json and /api/v4/docs."""
    from app.api import alerts, batches, catalog, docs, erasure, integrations, leads
    from app.extensions import csrf

    for key, value in OPENAPI_DEFAULTS.items():
        app.config.setdefault(key, value)
    app.config.setdefault(
        "API_SPEC_OPTIONS",
        {
            "info": {"description": "Pending and sent lead batches, batch now, downloads and configuration."},
            "security": [{"bearerAuth": []}],
            "components": {"securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}}},
        },
    )
    api = Api(app)
    # Delivery settings and credential secrets: oneOf with a discriminator in the document.
    api.ma_plugin.converter.add_attribute_function(tagged_to_openapi)
    for module in (batches, integrations, catalog, leads, alerts, erasure):
        blp = module.blp
        # Bearer tokens, never cookies: there is no session for a forged request to ride on.
        csrf.exempt(blp)
        api.register_blueprint(blp)
    app.extensions["api_v4"] = api
    docs.init_app(app)
    app.register_error_handler(MethodNotAllowed, _method_not_allowed)


def _method_not_allowed(exc: MethodNotAllowed):
    """405 in the API's shape, keeping the Allow header (RFC 9110) the generic handler drops."""
    if not request.path.startswith("/api/"):
        return exc
    response = jsonify(error={"code": "method_not_allowed", "message": exc.description})
    response.status_code = 405
    if exc.valid_methods:
        response.headers["Allow"] = ", ".join(sorted(exc.valid_methods))
    return response
