"""Map domain and HTTP errors to one JSON shape under /api, to pages elsewhere."""

from __future__ import annotations

from flask import Flask, jsonify, request
from flask_wtf.csrf import CSRFError
from werkzeug.exceptions import HTTPException

from app.errors import DomainError


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def init_app(app: Flask) -> None:
    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if _wants_json():
            return jsonify(error={"code": "csrf_failed", "message": exc.description}), 400
        return f"<h1>400 Bad Request</h1><p>{exc.description} Reload the page and try again.</p>", 400

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _wants_json():
            return exc
        code = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify(error={"code": code, "message": exc.description})
        response.status_code = exc.code or 500
        if exc.code == 429 and exc.response is not None and exc.response.headers.get("Retry-After"):
            response.headers["Retry-After"] = exc.response.headers["Retry-After"]
        return response
