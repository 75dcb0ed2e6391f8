"""PostgreSQL connections killed under the app (pg_terminate_backend): 503 or success, never 500.

The app's pool pings a connection before handing it out (pool_pre_ping), so a connection
killed while idle is replaced unseen; one killed under a running statement fails that
request with 503 + Retry-After and the next request works. Nothing is half written.
"""

from __future__ import annotations

import contextlib
import threading
import time

import psycopg
import pytest
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.exc import OperationalError

from app.extensions import db
from app.models import BatchCsvIntegration, Lead, QueueEntry

pytestmark = pytest.mark.postgres


def _killer(database_url: str) -> psycopg.Connection:
    """A connection of the test's own, outside the app's pool, to terminate the app's."""
    url = make_url(database_url).set(drivername="postgresql")
    return psycopg.connect(url.render_as_string(hide_password=False), autocommit=True)


def _terminate_others(killer: psycopg.Connection) -> int:
    """Terminate every other backend of this test database; how many there were."""
    rows = killer.execute(
        "SELECT pg_terminate_backend(pid, 5000) FROM pg_stat_activity"
        " WHERE datname = current_database() AND pid <> pg_backend_pid()"
    ).fetchall()
    return len(rows)


def _payload(prefix: str, count: int = 20) -> dict:
    return {"leads": [{"externalId": f"{prefix}-{i}", "status": "valid", "fields": {"n": i}} for i in range(count)]}


def _own_context(call):
    """Run a test-client call in a thread of its own, where no app context is pushed yet.

    The test's thread holds the fixture's app context, which a request would reuse (session
    included) and never tear down; a request in production pushes and pops its own.
    """
    result: dict = {}

    def run() -> None:
        try:
            result["value"] = call()
        except BaseException as exc:  # re-raised in the test's thread
            result["error"] = exc

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(60)
    if "error" in result:
        raise result["error"]
    return result["value"]


@pytest.fixture
def intake(world, client):
    path = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    headers = {"Authorization": f"Bearer {world.a.tokens['manager']}"}
    db.session.commit()
    return lambda body: _own_context(lambda: client.post(path, json=body, headers=headers))


def test_a_connection_killed_under_the_insert_gives_503_and_the_next_request_works(app, intake, database_url):
    killer = _killer(database_url)
    armed = {"on": True}

    @event.listens_for(db.engine, "before_cursor_execute")
    def kill_own_backend(conn, cursor, statement, parameters, context, executemany):
        if armed["on"] and "INSERT INTO leads" in statement:
            armed["on"] = False
            killer.execute("SELECT pg_terminate_backend(%s, 5000)", [cursor.connection.info.backend_pid])

    try:
        response = intake(_payload("a"))
    finally:
        event.remove(db.engine, "before_cursor_execute", kill_own_backend)
    assert armed["on"] is False, "the hook never fired: the test proved nothing"
    assert response.status_code == 503
    assert response.headers["Retry-After"] == "5"
    assert response.json["error"]["details"] == {"dependency": "database"}

    again = intake(_payload("a"))
    assert again.status_code == 201
    assert again.json["data"] == {"accepted": 20, "duplicates": 0, "queued": 20, "updated": 0}
    killer.close()


def test_a_connection_killed_after_the_response_is_made_does_not_break_the_request(app, world, client, database_url):
    """A read leaves its transaction open until teardown; the database may drop it meanwhile."""
    killer = _killer(database_url)

    @app.after_request
    def kill_own_backend(response):
        pid = db.session.connection().connection.dbapi_connection.info.backend_pid
        killer.execute("SELECT pg_terminate_backend(%s, 5000)", [pid])
        return response

    headers = {"Authorization": f"Bearer {world.a.tokens['viewer']}"}
    db.session.commit()
    response = _own_context(lambda: client.get("/api/v4/campaign-lead-batches", headers=headers))
    assert response.status_code == 200
    app.after_request_funcs[None].remove(kill_own_backend)
    assert _own_context(lambda: client.get("/api/v4/campaign-lead-batches", headers=headers)).status_code == 200
    killer.close()


def test_connections_killed_while_idle_are_replaced_unseen(intake, database_url):
    assert intake(_payload("warm")).status_code == 201
    with _killer(database_url) as killer:
        assert _terminate_others(killer) >= 1
    response = intake(_payload("after"))
    assert response.status_code == 201, response.json


def test_intake_while_backends_are_killed_repeatedly_is_503_or_201_and_loses_nothing(
    world, client, intake, database_url
):
    path = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    headers = {"Authorization": f"Bearer {world.a.tokens['manager']}"}
    calls = 60
    integration_id = world.a.integration.id
    results: list[tuple[str, int, str | None]] = []
    crashes: list[BaseException] = []
    done = threading.Event()

    def send_all() -> None:
        # No app context in this thread: each request pushes its own, as in production.
        for n in range(calls):
            try:
                response = client.post(path, json=_payload(f"s{n}"), headers=headers)
                results.append((f"s{n}", response.status_code, response.headers.get("Retry-After")))
            except BaseException as exc:  # a 500 surfaces here: TESTING propagates exceptions
                crashes.append(exc)
        done.set()

    sender = threading.Thread(target=send_all)
    sender.start()
    killed = 0
    with _killer(database_url) as killer:
        while not done.is_set():
            killed += _terminate_others(killer)
            time.sleep(0.03)
    sender.join(120)

    assert crashes == []
    statuses = {status for _, status, _ in results}
    assert statuses <= {201, 503}, statuses
    assert all(retry == "5" for _, status, retry in results if status == 503)
    assert killed > 0
    print(f"{calls} intake calls, {killed} backends killed: {sum(s == 503 for _, s, _ in results)} got 503")

    # The test's own session (its connection was killed too) is not a request's: let it go, so
    # the requests below get their own sessions, as in production.
    with contextlib.suppress(OperationalError):
        db.session.rollback()
    db.session.remove()
    # The next request succeeds; the refused calls, sent again, complete the data exactly.
    for prefix, status, _ in results:
        if status == 503:
            assert intake(_payload(prefix)).status_code == 201
    assert db.session.scalar(select(func.count()).select_from(Lead)) == calls * 20
    assert db.session.scalar(select(func.count()).select_from(QueueEntry)) == calls * 20
    assert db.session.get(BatchCsvIntegration, integration_id).pending_count == calls * 20
