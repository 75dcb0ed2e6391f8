"""Brute force on /login: failures are counted per account and per address in Redis;
past the limit every login is refused with 429 and Retry-After, the right password
included, until the window ends. Failed and refused logins are in the audit log."""

from __future__ import annotations

from flask import current_app, g
from sqlalchemy import select

from app.auth import throttle
from app.extensions import db
from app.models import AuditEvent
from tests.admin_support import csrf_token
from tests.factories import PASSWORD


def attempt(client, email: str, password: str, address: str = "127.0.0.1"):
    g.pop("_login_user", None)
    g.pop("csrf_token", None)
    token = csrf_token(client, "/login")
    return client.post(
        "/login",
        data={"email": email, "password": password, "csrf_token": token},
        environ_base={"REMOTE_ADDR": address},
    )


def end_window() -> None:
    """Time travel: the counters' windows run out (their TTL reaches zero)."""
    redis = current_app.extensions["redis"]
    for key in redis.scan_iter(throttle.PREFIX + "*"):
        redis.expire(key, 0)  # a TTL of zero: the key expires now


def test_the_sixth_wrong_password_gets_429_and_the_right_one_waits_for_the_window(app, client, world):
    email = world.a.users["viewer"].email
    for _ in range(5):
        response = attempt(client, email, "wrong-password")
        assert response.status_code == 200
        assert "Wrong email or password." in response.get_data(as_text=True)

    refused = attempt(client, email, "wrong-password")
    assert refused.status_code == 429
    assert 0 < int(refused.headers["Retry-After"]) <= 60
    assert "Too many failed sign-ins" in refused.get_data(as_text=True)
    right = attempt(client, email, PASSWORD)
    assert right.status_code == 429

    end_window()
    assert attempt(client, email, PASSWORD).status_code == 302


def test_the_account_is_throttled_from_every_address(app, client, world):
    email = world.a.users["viewer"].email
    for n in range(5):
        attempt(client, email, "wrong-password", address=f"127.0.0.{n + 1}")

    assert attempt(client, email, PASSWORD, address="127.0.0.99").status_code == 429
    other_account = attempt(client, world.a.users["admin"].email, PASSWORD, address="127.0.0.99")
    assert other_account.status_code == 302


def test_one_address_trying_many_accounts_is_throttled(app, client, world):
    app.config["LOGIN_THROTTLE_ADDRESS"] = 3
    for n in range(3):
        attempt(client, f"nobody{n}@example.com", "wrong-password", address="127.0.0.7")

    assert attempt(client, world.a.users["admin"].email, PASSWORD, address="127.0.0.7").status_code == 429
    assert attempt(client, world.a.users["admin"].email, PASSWORD, address="127.0.0.8").status_code == 302


def test_a_successful_login_resets_the_account_count(app, client, world):
    email = world.a.users["viewer"].email
    for _ in range(4):
        attempt(client, email, "wrong-password")
    assert attempt(client, email, PASSWORD).status_code == 302
    client.post("/logout", data={"csrf_token": csrf_token(client, "/admin/account/")})

    for _ in range(4):
        assert attempt(client, email, "wrong-password").status_code == 200


def test_failed_and_throttled_logins_are_audited_once_per_window(app, client, world):
    user = world.a.users["viewer"]
    for _ in range(7):
        attempt(client, user.email, "wrong-password")

    events = db.session.scalars(select(AuditEvent).order_by(AuditEvent.id)).all()
    assert [e.action for e in events] == ["login.failed"] * 5 + ["login.throttled"]
    throttled = events[-1]
    assert (throttled.enterprise_id, throttled.target_id, throttled.actor, throttled.severity) == (
        user.enterprise_id,
        str(user.id),
        "anonymous",
        "high",
    )
    assert throttled.details == {"email": user.email, "address": "127.0.0.1"}


def test_unknown_emails_are_counted_and_audited_without_an_enterprise(app, client):
    for _ in range(6):
        attempt(client, "ghost@example.com", "wrong-password")

    assert attempt(client, "ghost@example.com", "anything").status_code == 429
    events = db.session.scalars(select(AuditEvent)).all()
    assert {(e.action, e.enterprise_id, e.target_id) for e in events} == {
        ("login.failed", None, None),
        ("login.throttled", None, None),
    }


def test_throttling_can_be_switched_off(app, client, world):
    app.config["LOGIN_THROTTLE_ENABLED"] = False
    email = world.a.users["viewer"].email
    for _ in range(8):
        assert attempt(client, email, "wrong-password").status_code == 200
    assert attempt(client, email, PASSWORD).status_code == 302
