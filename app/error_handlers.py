"""Map domain and HTTP errors to one JSON shape under /api, to pages elsewhere.

An outage of a dependency (the database restarting, Redis unreachable) is not the
client's fault nor a bug: it answers 503 with Retry-After, so clients and browsers
retry, instead of a 500.
"""

from __future__ import annotations

import contextlib
import logging

from flask import Flask, current_app, jsonify, request
from flask_wtf.csrf import CSRFError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from app.error_pages import error_page, sentence_from
from app.errors import DomainError
from app.extensions import db

log = logging.getLogger(__name__)


def _wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def _browser_page() -> bool:
    """A person's browser asking for a page (it says it accepts HTML), not an API client or script."""
    return not _wants_json() and "text/html" in request.accept_mimetypes.values()


# What people read for each dependency (the JSON's details.dependency keeps the short key).
NAMES = {"database": "the database", "redis": "Redis (the job queue and request counters)"}


def unavailable(dependency: str, exc: Exception):
    """503 + Retry-After: JSON for API clients, a short page for people."""
    log.warning("%s unavailable during %s %s: %s", dependency, request.method, request.path, type(exc).__name__)
    if dependency == "database":
        # The session may hold a dead connection: give it back (the pool replaces it); rolling
        # back over a dead connection can fail too, which changes nothing here.
        with contextlib.suppress(Exception):
            db.session.rollback()
    retry_after = str(current_app.config.get("UNAVAILABLE_RETRY_AFTER", 5))
    name = NAMES.get(dependency, dependency)
    message = f"{name} is unavailable for a moment; retry in {retry_after} seconds"
    if _wants_json():
        response = jsonify(
            error={"code": "service_unavailable", "message": message, "details": {"dependency": dependency}}
        )
        response.status_code = 503
    else:
        # Rendered without the context processors (Flask-Login's loads the user from the
        # database), so the page needs neither the database nor Redis.
        template = current_app.jinja_env.get_template("errors/unavailable.html")
        page = template.render(name=name[:1].upper() + name[1:], retry_after=retry_after)
        response = current_app.response_class(page, status=503, mimetype="text/html")
    response.headers["Retry-After"] = retry_after
    return response


# SQLite raises OperationalError for bad SQL too; only these messages mean "cannot use the file now".
_SQLITE_OUTAGES = ("database is locked", "unable to open database", "disk i/o error", "database or disk is full")


def is_outage(exc: DBAPIError) -> bool:
    """Whether a driver error means the database cannot be used right now (not a bug)."""
    if exc.connection_invalidated or isinstance(exc, InterfaceError):
        return True
    if not isinstance(exc, OperationalError):
        return False
    if type(exc.orig).__module__.startswith("sqlite3"):
        return str(exc.orig).lower().startswith(_SQLITE_OUTAGES)
    # psycopg's OperationalError: connection lost or refused, server shutting down or
    # starting, statement cancelled, deadlock or serialization failure - all worth a retry.
    return True


def init_app(app: Flask) -> None:
    @app.teardown_appcontext
    def release_dead_connection(exc: BaseException | None) -> None:
        # Runs before Flask-SQLAlchemy's teardown (registered earlier), which closes the session
        # and so rolls back an open transaction: if the database dropped the connection after the
        # response was made, that rollback would raise past every error handler. Rolling back here
        # lets the pool discard the dead connection quietly.
        with contextlib.suppress(DBAPIError):
            db.session.rollback()

    @app.errorhandler(DomainError)
    def domain_error(exc: DomainError):
        # Scripts and API clients (and e-mailed download links opened by a program) keep the
        # JSON shape; a browser gets the same message on a page.
        if _browser_page():
            return error_page(exc.status, sentence_from(exc.message))
        return jsonify(exc.to_dict()), exc.status

    @app.errorhandler(CSRFError)
    def csrf_error(exc: CSRFError):
        if _wants_json():
            return jsonify(error={"code": "csrf_failed", "message": exc.description}), 400
        return error_page(
            400, f"{sentence_from(exc.description)} Reload the page and try again.", "The form had expired"
        )

    @app.errorhandler(DBAPIError)
    def database_error(exc: DBAPIError):
        if not is_outage(exc):
            raise exc  # a bug in a statement stays a 500, logged with its traceback
        return unavailable("database", exc)

    @app.errorhandler(RedisConnectionError)
    @app.errorhandler(RedisTimeoutError)
    def redis_down(exc: Exception):
        return unavailable("redis", exc)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if not _wants_json():
            if exc.code is None or exc.code < 400 or exc.code == 429 or not _browser_page():
                # Redirects a routing rule raises, rate limits with their own headers, and requests
                # that are not for a page (a browser's /favicon.ico asks for images): werkzeug's
                # short answer. Drawing the layout for those is slow, and the slow response's
                # session cookie could land after a login's and sign the person out again.
                return exc
            # Our own words when the raiser gave some; the generic ones per status otherwise.
            custom = exc.description if exc.description != type(exc).description else None
            return error_page(exc.code, sentence_from(custom), name=exc.name)
        code = (exc.name or "error").lower().replace(" ", "_")
        response = jsonify(error={"code": code, "message": exc.description})
        response.status_code = exc.code or 500
        if exc.code == 429 and exc.response is not None and exc.response.headers.get("Retry-After"):
            response.headers["Retry-After"] = exc.response.headers["Retry-After"]
        return response
