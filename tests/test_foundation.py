"""The foundation: schema from migrations, health, users and tokens, CLI."""

from sqlalchemy import func, select

from app.extensions import db
from app.models import ApiToken, User
from app.services import accounts
from tests import factories


def test_healthz_reports_database_redis_and_storage(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json == {"status": "ok", "checks": {"database": "ok", "redis": "ok", "storage": "ok"}}


def test_healthz_is_503_when_redis_is_unreachable(app, client, monkeypatch):
    import redis

    monkeypatch.setitem(app.extensions, "redis", redis.Redis(unix_socket_path="/nonexistent/redis.sock"))
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json["checks"]["redis"].startswith("error")


def test_login_page_renders_and_bad_password_is_refused(app, client):
    factories.user("Acme", "viewer", email="v@acme.test")
    page = client.get("/login")
    assert page.status_code == 200 and b"Sign in" in page.data
    app.config["WTF_CSRF_ENABLED"] = False
    response = client.post("/login", data={"email": "v@acme.test", "password": "wrong"})
    assert b"Wrong email or password" in response.data


def test_login_post_without_csrf_token_is_refused(client):
    factories.user("Acme", "viewer", email="v@acme.test")
    response = client.post("/login", data={"email": "v@acme.test", "password": factories.PASSWORD})
    assert response.status_code == 400


def test_cli_creates_user_enterprise_and_token(runner):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "Ops@Example.com",
            "--role",
            "manager",
            "--enterprise",
            "Acme",
            "--password",
            "s3cret-pass",
        ]
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ops@example.com"))
    assert user.enterprise.name == "Acme" and user.role == "manager"
    assert user.password_hash.startswith("$argon2")

    result = runner.invoke(args=["users", "create-token", "--email", "ops@example.com", "--name", "crm"])
    assert result.exit_code == 0, result.output
    raw = result.stdout.strip().splitlines()[0]
    stored = db.session.scalar(select(ApiToken))
    assert raw not in stored.token_hash and accounts.user_for_token(raw).id == user.id
    assert stored.last_used_at is not None


def test_cli_rejects_bad_role_and_duplicate_email(runner):
    bad = runner.invoke(
        args=["users", "create", "--email", "x@y.z", "--role", "owner", "--enterprise", "A", "--password", "longenough"]
    )
    assert bad.exit_code != 0
    ok = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@y.z",
            "--role",
            "viewer",
            "--enterprise",
            "A",
            "--password",
            "longenough",
        ]
    )
    assert ok.exit_code == 0
    dup = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "x@y.z",
            "--role",
            "viewer",
            "--enterprise",
            "A",
            "--password",
            "longenough",
        ]
    )
    assert dup.exit_code != 0 and "already registered" in dup.output
    assert db.session.scalar(select(func.count(User.id))) == 1


def test_revoked_token_is_refused(app):
    user = factories.user("Acme")
    token, raw = accounts.create_token(user, "t")
    accounts.revoke_token(token)
    assert accounts.user_for_token(raw) is None
    assert accounts.user_for_token("bm_not-a-token") is None
