"""Every state change in the admin needs the CSRF token: without it, 400 and nothing changes."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import ApiToken, AuditEvent, BatchCsvIntegration, Credential, SentBatch, TablePreference, User
from tests import factories
from tests.admin_support import PENDING, csrf_token, login, populate
from tests.test_admin_permissions import CASES

POSTS = [c for c in CASES if c.method == "POST"]
RQ_POSTS = ["/admin/rq/job/some-job/delete", "/admin/rq/job/some-job/requeue", "/admin/rq/queue/send/queued/empty"]


def _state() -> dict:
    db.session.expire_all()
    return {
        model.__name__: db.session.scalar(select(func.count()).select_from(model))
        for model in (SentBatch, Credential, User, ApiToken, TablePreference, BatchCsvIntegration, AuditEvent)
    } | {"revoked": db.session.scalar(select(func.count()).where(ApiToken.revoked_at.is_not(None)))}


@pytest.fixture
def objects(app, world):
    app.config["WTF_CSRF_ENABLED"] = False
    ids = populate(world)
    return ids


def test_every_admin_post_without_token_is_refused(app, client, world, objects):
    login(client, world.a.users["admin"])
    app.config["WTF_CSRF_ENABLED"] = True
    before = _state()
    refused = []
    for case in POSTS:
        data = MultiDict([(k, v.format(**vars(objects["a"]), person="admin")) for k, v in case.data])
        response = client.post(case.url(objects["a"]), data=data)
        if response.status_code != 400:
            refused.append(f"{case.name}: {response.status_code}")
    for url in RQ_POSTS:
        response = client.post(url)
        if response.status_code != 400:
            refused.append(f"{url}: {response.status_code}")
    assert not refused, refused
    assert _state() == before
    assert client.get(PENDING + "/").status_code == 200  # still logged in: logout was refused too


def test_wrong_token_is_refused_and_right_token_works(app, client, world):
    factories.leads(world.a.campaign, 2)
    login(client, world.a.users["manager"])
    url = PENDING + f"/batch-now/{world.a.integration.id}"
    assert client.post(url, data={"csrf_token": "not-the-token"}).status_code == 400
    token = csrf_token(client, PENDING + "/")
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302
    assert 'queued <a class="alert-link"' in client.get(PENDING + "/").get_data(as_text=True)


def test_login_form_needs_the_token(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    response = client.post("/login", data={"email": world.a.users["admin"].email, "password": "x"})
    assert response.status_code == 400


def test_rq_dashboard_posts_carry_the_token_in_its_cookie(app, client, world):
    """rq-dashboard's own JS sends the _csrf_token cookie as X-CSRFToken; that passes the check."""
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, factories.operator())
    app.config["WTF_CSRF_ENABLED"] = True
    client.get("/admin/rq/")
    cookie = client.get_cookie("_csrf_token", path="/admin/rq")
    assert cookie is not None
    response = client.post("/admin/rq/queue/send/queued/empty", headers={"X-CSRFToken": cookie.value})
    assert response.status_code == 200
