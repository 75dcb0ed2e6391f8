"""Sessions the server can end: logout, password / role / access changes, log out
everywhere, idle and absolute lifetimes. A session cookie copied to a second client
plays the attacker who stole it."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from flask import g
from sqlalchemy import select

from app.auth.login import LOGIN_AT, SEEN_AT
from app.extensions import db
from app.models import AuditEvent, User
from tests.admin_support import csrf_token, login
from tests.factories import PASSWORD

USERS = "/admin/users/"


def fresh() -> None:
    # Requests share the test's app context, where Flask-Login caches the user and
    # Flask-WTF the CSRF token in g: drop both so each request reads its own session.
    g.pop("_login_user", None)
    g.pop("csrf_token", None)


def request(client, method: str, url: str, **kwargs):
    fresh()
    return client.open(url, method=method, **kwargs)


def to_login(response) -> bool:
    return response.status_code == 302 and urlsplit(response.location).path == "/login"


def signed_in(app, user) -> tuple:
    """A client signed in as `user`, and a second client holding a copy of its session cookie."""
    fresh()
    client = app.test_client()
    login(client, user)
    thief = app.test_client()
    thief.set_cookie("session", client.get_cookie("session").value)
    return client, thief


def post(client, url: str, page: str, data: dict | None = None):
    fresh()
    token = csrf_token(client, page)
    fresh()
    return client.post(url, data={"csrf_token": token, **(data or {})})


def test_a_cookie_copied_before_logout_is_refused_after_it(app, world):
    admin = world.a.users["admin"]
    client, thief = signed_in(app, admin)
    assert request(thief, "GET", USERS).status_code == 200  # the copy works while the session lives

    assert to_login(post(client, "/logout", USERS))

    assert to_login(request(thief, "GET", USERS))
    assert to_login(request(client, "GET", USERS))
    login(client, admin)  # signing in again works, with a new session
    assert request(client, "GET", USERS).status_code == 200
    assert to_login(request(thief, "GET", USERS))


def test_changing_my_password_ends_my_other_sessions_and_keeps_this_one(app, world):
    viewer = world.a.users["viewer"]
    client, thief = signed_in(app, viewer)

    response = post(
        client, "/admin/account/", "/admin/account/", {"current_password": PASSWORD, "new_password": "a-new-password"}
    )

    assert response.status_code == 302
    assert request(client, "GET", "/admin/account/").status_code == 200
    assert to_login(request(thief, "GET", "/admin/account/"))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "password.change"))
    assert (event.user_id, event.severity) == (viewer.id, "high")
    fresh()
    login(app.test_client(), viewer, "a-new-password")


def test_a_wrong_current_password_changes_nothing(app, world):
    viewer = world.a.users["viewer"]
    client, thief = signed_in(app, viewer)

    response = post(
        client, "/admin/account/", "/admin/account/", {"current_password": "not-it", "new_password": "a-new-password"}
    )

    assert response.status_code == 200
    assert "not your current password" in response.get_data(as_text=True)
    assert request(thief, "GET", "/admin/account/").status_code == 200
    fresh()
    login(app.test_client(), viewer)  # the old password still works


def test_log_out_everywhere_else_keeps_only_this_browser(app, world):
    client, thief = signed_in(app, world.a.users["manager"])

    assert post(client, "/admin/account/end-sessions", "/admin/account/").status_code == 302

    assert request(client, "GET", "/admin/account/").status_code == 200
    assert to_login(request(thief, "GET", "/admin/account/"))


@pytest.mark.parametrize(
    ("change", "still_signed_in"),
    [
        ({"role": "manager", "active": "y"}, False),  # role change
        ({"role": "viewer"}, False),  # deactivation (the box unticked)
        ({"role": "viewer", "active": "y"}, True),  # saved without a change
    ],
)
def test_an_admin_changing_role_or_access_ends_the_users_sessions(app, world, change, still_signed_in):
    viewer = world.a.users["viewer"]
    _, viewer_session = signed_in(app, viewer)
    admin, _ = signed_in(app, world.a.users["admin"])
    edit = f"/admin/users/edit/?id={viewer.id}"

    assert post(admin, edit, edit, change).status_code == 302

    answer = request(viewer_session, "GET", "/admin/account/")
    assert (answer.status_code == 200) is still_signed_in
    if not still_signed_in:
        assert to_login(answer)


def test_an_admin_logs_a_user_out_everywhere(app, world):
    viewer = world.a.users["viewer"]
    _, viewer_session = signed_in(app, viewer)
    admin, admin_copy = signed_in(app, world.a.users["admin"])

    response = post(admin, f"/admin/users/end-sessions/{viewer.id}", USERS, {"url": USERS})

    assert response.status_code == 302 and urlsplit(response.location).path == USERS
    assert to_login(request(viewer_session, "GET", "/admin/account/"))
    assert request(admin_copy, "GET", USERS).status_code == 200  # the admin's own sessions go on
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sessions.end"))
    assert (event.target_id, event.details["for"]) == (str(viewer.id), viewer.email)


def test_an_admin_cannot_log_out_another_enterprises_user(app, world):
    other = world.b.users["viewer"]
    _, other_session = signed_in(app, other)
    admin, _ = signed_in(app, world.a.users["admin"])

    assert post(admin, f"/admin/users/end-sessions/{other.id}", USERS).status_code == 404

    assert request(other_session, "GET", "/admin/account/").status_code == 200
    assert db.session.get(User, other.id).session_version == 1


def _age(client, **seconds: int) -> None:
    """Move the session's clocks back: the same as that much time passing."""
    with client.session_transaction() as session:
        for key, value in seconds.items():
            session[{"login": LOGIN_AT, "seen": SEEN_AT}[key]] -= value


def test_a_session_idle_longer_than_the_setting_ends(app, world):
    client, _ = signed_in(app, world.a.users["viewer"])
    idle = app.config["SESSION_IDLE_MINUTES"] * 60

    _age(client, seen=idle - 90)
    assert request(client, "GET", "/admin/account/").status_code == 200  # and the idle clock restarts
    _age(client, seen=idle - 90)
    assert request(client, "GET", "/admin/account/").status_code == 200
    _age(client, seen=idle + 1)

    response = request(client, "GET", "/admin/account/")
    assert to_login(response)
    assert "Your session has expired" in request(client, "GET", "/login").get_data(as_text=True)


def test_a_session_ends_at_its_maximum_age_even_when_busy(app, world):
    client, _ = signed_in(app, world.a.users["viewer"])
    maximum = app.config["SESSION_MAX_HOURS"] * 3600

    _age(client, login=maximum - 60)
    assert request(client, "GET", "/admin/account/").status_code == 200
    _age(client, login=61)

    assert to_login(request(client, "GET", "/admin/account/"))


def test_a_cookie_without_a_session_version_is_refused(app, world):
    client, _ = signed_in(app, world.a.users["viewer"])
    with client.session_transaction() as session:
        session["_user_id"] = str(world.a.users["viewer"].id)  # the form before session versions

    assert to_login(request(client, "GET", "/admin/account/"))


def test_the_cli_signs_a_user_out_everywhere(app, world, runner):
    viewer = world.a.users["viewer"]
    _, session = signed_in(app, viewer)

    result = runner.invoke(args=["users", "end-sessions", viewer.email.upper()])

    assert result.exit_code == 0, result.output
    assert f"{viewer.email} is signed out everywhere." in result.output
    assert to_login(request(session, "GET", "/admin/account/"))
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "sessions.end"))
    assert (event.actor, event.enterprise_id) == ("system", viewer.enterprise_id)
    unknown = runner.invoke(args=["users", "end-sessions", "nobody@example.com"])
    assert unknown.exit_code != 0 and "no user with email" in unknown.output


def test_taking_the_operator_flag_away_ends_the_operators_sessions(app, world, runner):
    admin = world.a.users["admin"]
    admin.is_platform_operator = True
    db.session.commit()
    _, session = signed_in(app, admin)
    assert request(session, "GET", "/admin/rq/").status_code == 200

    assert runner.invoke(args=["users", "set-operator", admin.email, "--off"]).exit_code == 0

    assert to_login(request(session, "GET", "/admin/rq/"))
