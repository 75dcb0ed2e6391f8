"""API access: bearer tokens (401), roles (403), CORS preflight, rate limits (429), error shape."""

from __future__ import annotations

import pytest

from app import create_app
from app.extensions import db
from app.models import ApiToken, SentBatch, User
from app.services import accounts
from tests.conftest import make_config

ALLOWED_ORIGIN = "https://crm.example.com"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_no_or_bad_token_is_401_with_www_authenticate(client, world):
    bad = [{}, {"Authorization": "Bearer "}, {"Authorization": "Bearer bm_not-a-real-token"}]
    bad += [{"Authorization": "Basic abc"}, {"Authorization": world.a.tokens["admin"]}]
    for headers in bad:
        for method, path in (("get", "/api/v4/batch-manager"), ("post", "/api/v4/batch-manager-batch-now")):
            response = getattr(client, method)(path, headers=headers, json={"integrationIds": [1]})
            assert response.status_code == 401, (headers, path)
            assert response.headers["WWW-Authenticate"].startswith("Bearer")
            assert response.json["error"]["code"] == "unauthorized"


def test_revoked_token_and_deactivated_user_are_refused(client, world):
    token = world.a.tokens["viewer"]
    assert client.get("/api/v4/batch-manager", headers=bearer(token)).status_code == 200
    accounts.revoke_token(db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == world.a.users["viewer"].id)))
    assert client.get("/api/v4/batch-manager", headers=bearer(token)).status_code == 401

    manager = world.a.tokens["manager"]
    db.session.get(User, world.a.users["manager"].id).active = False
    db.session.commit()
    assert client.get("/api/v4/batch-manager", headers=bearer(manager)).status_code == 401


def test_token_use_is_recorded(client, world):
    client.get("/api/v4/advertisers", headers=bearer(world.a.tokens["admin"]))
    token = db.session.scalar(db.select(ApiToken).where(ApiToken.user_id == world.a.users["admin"].id))
    assert token.last_used_at is not None


def test_session_cookie_does_not_authenticate_the_api(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = False
    from tests import factories

    login = client.post("/login", data={"email": world.a.users["admin"].email, "password": factories.PASSWORD})
    assert login.status_code in (302, 303)
    assert client.get("/api/v4/batch-manager").status_code == 401


ROLE_CASES = (
    ("post", "/api/v4/batch-manager-batch-now", {"integrationIds": [0]}, "manager"),
    ("post", "/api/v4/advertisers", {"name": "New"}, "admin"),
    ("post", "/api/v4/campaigns", {"advertiserId": 0, "name": "New"}, "admin"),
    ("post", "/api/v4/credentials", {"name": "c", "kind": "password", "secret": "pw"}, "admin"),
    ("post", "/api/v4/batch-integrations", {"campaignId": 1, "label": "x", "fields": [], "delivery": {}}, "admin"),
    ("patch", "/api/v4/batch-integrations/{integration}", {"label": "x"}, "admin"),
    ("post", "/api/v4/batch-integrations/{integration}/test-connection", None, "admin"),
    ("post", "/api/v4/campaigns/{campaign}/leads", {"leads": []}, "manager"),
    ("post", "/api/v4/campaign-lead-batches/{batch}/resend", None, "manager"),
    ("post", "/api/v4/campaign-lead-batches/{batch}/retry", None, "manager"),
    ("get", "/api/v4/campaign-lead-batches/{batch}/download", None, "manager"),
)


def test_role_too_low_is_403(client, world):
    """Viewers read; managers also send and download; only admins configure. Checked before the body."""
    batch = SentBatch(
        enterprise_id=world.a.enterprise.id,
        integration_id=world.a.integration.id,
        advertiser_id=world.a.advertiser.id,
        advertiser_name="a",
        campaign_id=world.a.campaign.id,
        campaign_name="c",
        label="l",
        delivery_method="local",
        trigger="schedule",
        status="delivered",
    )
    db.session.add(batch)
    db.session.commit()
    for method, path, body, minimum in ROLE_CASES:
        url = path.format(integration=world.a.integration.id, campaign=world.a.campaign.id, batch=batch.id)
        too_low = ["viewer"] if minimum == "manager" else ["viewer", "manager"]
        for role in too_low:
            kwargs = {"headers": bearer(world.a.tokens[role])}
            if body is not None:
                kwargs["json"] = body
            response = getattr(client, method)(url, **kwargs)
            assert response.status_code == 403, (role, url, response.json)
            assert response.json["error"]["code"] == "forbidden"


def test_unknown_route_and_method_answer_json(client, world):
    missing = client.get("/api/v4/nothing-here", headers=bearer(world.a.tokens["admin"]))
    assert missing.status_code == 404 and missing.json["error"]["code"] == "not_found"
    wrong = client.delete("/api/v4/batch-manager", headers=bearer(world.a.tokens["admin"]))
    assert wrong.status_code == 405 and "GET" in wrong.headers["Allow"]
    assert wrong.json["error"]["code"] == "method_not_allowed"


def test_malformed_json_body_is_422_not_500(client, world):
    response = client.post(
        "/api/v4/batch-manager-batch-now",
        data="{not json",
        content_type="application/json",
        headers=bearer(world.a.tokens["admin"]),
    )
    assert response.status_code in (400, 422)
    assert "error" in response.json


def _app_with(session_dir, database_url, redis_url, **extra):
    return create_app(make_config(session_dir, database_url, redis_url, **extra))


def test_preflight_from_allowed_origin_is_204_without_auth(session_dir, database_url, redis_url, app):
    cors_app = _app_with(session_dir, database_url, redis_url, CORS_ORIGINS=[ALLOWED_ORIGIN])
    client = cors_app.test_client()
    for path, method in (("/api/v4/batch-manager", "GET"), ("/api/v4/batch-manager-batch-now", "POST")):
        response = client.options(
            path,
            headers={
                "Origin": ALLOWED_ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": "Authorization, Content-Type",
                "Access-Control-Request-Private-Network": "true",
            },
        )
        assert response.status_code == 204
        assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
        assert method in response.headers["Access-Control-Allow-Methods"]
        assert "authorization" in response.headers["Access-Control-Allow-Headers"].lower()
        assert "Access-Control-Allow-Private-Network" not in response.headers


def test_preflight_from_other_origin_gets_no_cors_headers(session_dir, database_url, redis_url, app):
    cors_app = _app_with(session_dir, database_url, redis_url, CORS_ORIGINS=[ALLOWED_ORIGIN])
    client = cors_app.test_client()
    response = client.options(
        "/api/v4/batch-manager",
        headers={"Origin": "https://evil.example.net", "Access-Control-Request-Method": "GET"},
    )
    assert response.status_code == 204
    assert not [h for h, _ in response.headers.items() if h.lower().startswith("access-control-")]


def test_actual_request_from_allowed_origin_exposes_headers(session_dir, database_url, redis_url, world):
    cors_app = _app_with(session_dir, database_url, redis_url, CORS_ORIGINS=[ALLOWED_ORIGIN])
    response = cors_app.test_client().get(
        "/api/v4/batch-manager", headers={"Origin": ALLOWED_ORIGIN, **bearer(world.a.tokens["viewer"])}
    )
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == ALLOWED_ORIGIN
    assert "ETag" in response.headers["Access-Control-Expose-Headers"]


@pytest.fixture
def limited_client(session_dir, database_url, redis_url, app):
    limited = _app_with(
        session_dir,
        database_url,
        redis_url,
        RATELIMIT_ENABLED=True,
        RATELIMIT_BATCH_NOW="2/minute",
        RATELIMIT_INTAKE="2/minute",
    )
    yield limited.test_client()
    # The limiter object is shared: leave it off again for the tests that follow.
    _app_with(session_dir, database_url, redis_url)


def test_batch_now_is_rate_limited_per_token_with_retry_after(limited_client, world):
    body = {"integrationIds": [world.a.integration.id]}
    manager, admin = bearer(world.a.tokens["manager"]), bearer(world.a.tokens["admin"])
    assert [
        limited_client.post("/api/v4/batch-manager-batch-now", json=body, headers=manager).status_code for _ in range(2)
    ] == [202, 202]
    blocked = limited_client.post("/api/v4/batch-manager-batch-now", json=body, headers=manager)
    assert blocked.status_code == 429
    assert blocked.json["error"]["code"] == "rate_limited"
    assert 1 <= int(blocked.headers["Retry-After"]) <= 60
    # Another token (another user) has its own budget, even from the same address.
    assert limited_client.post("/api/v4/batch-manager-batch-now", json=body, headers=admin).status_code == 202


def test_lead_intake_is_rate_limited(limited_client, world):
    url = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    headers = bearer(world.a.tokens["manager"])
    for i in range(2):
        lead = {"externalId": f"r{i}", "status": "valid", "fields": {}}
        assert limited_client.post(url, json={"leads": [lead]}, headers=headers).status_code == 201
    blocked = limited_client.post(url, json={"leads": [{"externalId": "r9", "status": "valid"}]}, headers=headers)
    assert blocked.status_code == 429 and int(blocked.headers["Retry-After"]) >= 1
    # Reads are not limited.
    assert limited_client.get("/api/v4/batch-manager", headers=headers).status_code == 200
