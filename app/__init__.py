"""Batch Manager: the application factory."""

from __future__ import annotations

from flask import Flask

from app.config import INSTANCE_DIR, REQUIRED_IN_PRODUCTION, Config


def create_app(config: dict | None = None) -> Flask:
    """Build the app; `config` overrides the environment (tests use it).

    It reads configuration and makes lazy clients, nothing more: it writes no file and starts
    no process (development's secrets and Redis come from `flask --app wsgi dev bootstrap`).
    """
    app = Flask(__name__, instance_path=str(INSTANCE_DIR), instance_relative_config=True)
    load_config(app, config)
    register_json(app)
    register_logging(app)
    register_extensions(app)
    register_security_headers(app)
    register_blueprints(app)
    register_admin(app)
    register_errorhandlers(app)
    register_commands(app)
    return app


def load_config(app: Flask, overrides: dict | None) -> None:
    app.config.from_mapping(Config().as_dict())
    if overrides:
        app.config.from_mapping(overrides)
    if app.config["ENV_NAME"] == "production":
        import os

        missing = [name for name in REQUIRED_IN_PRODUCTION if not os.environ.get(name)]
        if missing:
            raise RuntimeError(f"missing required settings in production: {', '.join(missing)}")
    if not app.config.get("SECRET_KEY") or not app.config.get("CREDENTIAL_KEYS"):
        raise RuntimeError(
            "SECRET_KEY and CREDENTIAL_KEYS must be set; in development `flask --app wsgi dev bootstrap` "
            "(or any `flask --app wsgi` command, or `make run`) writes them into instance/dev-secrets.json"
        )
    from app.services import egress

    try:
        # A mistyped allowlist fails at start-up, not at the first delivery.
        with app.app_context():
            egress.allowed_networks()
    except ValueError as exc:
        raise RuntimeError(str(exc)) from None


def register_json(app: Flask) -> None:
    from app.services.strict_json import StrictJSONProvider

    app.json = StrictJSONProvider(app)


def register_logging(app: Flask) -> None:
    from app import logging as app_logging

    app_logging.init_app(app)


def register_extensions(app: Flask) -> None:
    from app import redis_conn
    from app.auth import login as auth_login
    from app.extensions import cors, csrf, db, limiter, migrate

    db.init_app(app)
    _sqlite_wal(app)
    migrate.init_app(app, db, directory=str(app.root_path + "/../migrations"))
    csrf.init_app(app)
    auth_login.init_app(app)
    redis_conn.init_app(app)
    app.config.setdefault("RATELIMIT_STORAGE_URI", _limits_uri(app.config["REDIS_URL"]))
    limiter.init_app(app)
    cors.init_app(
        app,
        resources={r"/api/v4/*": {"origins": app.config["CORS_ORIGINS"] or []}},
        allow_private_network=False,
        supports_credentials=False,
        expose_headers=["ETag", "Content-Disposition", "Retry-After", "X-Request-ID"],
        max_age=600,
    )


def register_security_headers(app: Flask) -> None:
    from app import security_headers

    security_headers.init_app(app)


def _sqlite_wal(app: Flask) -> None:
    """SQLite in WAL mode: a long read (a file being built) no longer blocks every writer until
    it ends, as the default rollback journal does; the send's lease heartbeat writes meanwhile."""
    from sqlalchemy import event

    from app.extensions import db

    with app.app_context():
        engine = db.engine
    if engine.dialect.name == "sqlite" and engine.url.database not in (None, "", ":memory:"):
        event.listen(engine, "connect", lambda dbapi_connection, _: dbapi_connection.execute("PRAGMA journal_mode=WAL"))


def _limits_uri(redis_url: str) -> str:
    # The limits library spells a unix-socket Redis as redis+unix://.
    if redis_url.startswith("unix://"):
        return "redis+unix://" + redis_url.removeprefix("unix://")
    return redis_url


def register_blueprints(app: Flask) -> None:
    from app import api, downloads, health
    from app.auth import views as auth_views

    app.register_blueprint(health.bp)
    app.register_blueprint(auth_views.bp)
    api.init_app(app)
    downloads.init_app(app)


def register_admin(app: Flask) -> None:
    import admin_views

    admin_views.init_app(app)


def register_errorhandlers(app: Flask) -> None:
    from app import error_handlers

    error_handlers.init_app(app)


def register_commands(app: Flask) -> None:
    from app import cli

    cli.init_app(app)
