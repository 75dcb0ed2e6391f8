"""/healthz: are the database, Redis and the file store reachable; 503 naming what is down."""

import contextlib

from flask import Blueprint, jsonify
from sqlalchemy import text

from app.extensions import db
from app.redis_conn import get_redis

bp = Blueprint("health", __name__)


def _database() -> None:
    try:
        db.session.execute(text("SELECT 1"))
    finally:
        # End the probe's transaction; the probe's own error is the one to report.
        with contextlib.suppress(Exception):
            db.session.rollback()


def _redis() -> None:
    get_redis().ping()


def _storage() -> None:
    from app.services.storage import get_store

    get_store().check()


CHECKS = {"database": _database, "redis": _redis, "storage": _storage}


@bp.get("/healthz")
def healthz():
    """Each dependency "ok" or "error: <type>"; 200 when all are ok, 503 otherwise."""
    checks = {}
    for name, probe in CHECKS.items():
        try:
            probe()
            checks[name] = "ok"
        except Exception as exc:
            checks[name] = f"error: {exc.__class__.__name__}"
    down = [name for name, result in checks.items() if result != "ok"]
    body = {"status": "unavailable" if down else "ok", "checks": checks}
    if down:
        body["down"] = down
    return jsonify(body), 503 if down else 200
