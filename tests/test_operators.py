"""Platform operators: set by the CLI only; they alone reach the RQ dashboard, whose state
changes are POST with the CSRF token. Every rq-dashboard route is walked, with CSRF on."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, User
from jobs.worker import run_burst
from tests import factories
from tests.admin_support import PENDING, csrf_token, login

# Values for the variable parts of rq-dashboard's routes; {job} is a real failed job.
ROUTE_VALUES = {
    "instance_number": 0,
    "queue_name": "send",
    "registry_name": "failed",
    "per_page": 8,
    "order": "asc",
    "page": 1,
    "filename": "js/jquery-3.5.1.min.js",
}


@pytest.fixture
def failed_job(app):
    """A job that really failed on the send queue (int('not a number') raises ValueError)."""
    queue = Queue("send", connection=app.extensions["redis"])
    job = queue.enqueue("builtins.int", "not a number")
    run_burst(app, ["send"])
    assert job.id in FailedJobRegistry("send", connection=app.extensions["redis"]).get_job_ids()
    return job.id


def rq_routes(app, job_id: str) -> dict[str, bool]:
    """One URL for every route rq-dashboard registers under /admin/rq -> whether it takes POST."""
    routes: dict[str, bool] = {}
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            if not rule.endpoint.startswith("rq_dashboard."):
                continue
            values = {name: ROUTE_VALUES.get(name, job_id) for name in rule.arguments}
            url = rule.build(values, append_unknown=False)[1]
            routes[url] = routes.get(url, False) or "POST" in rule.methods
    assert len(routes) >= 15, routes  # every page, JSON feed and action of rq-dashboard 0.9.0
    return routes


def rq_urls(app, job_id: str) -> list[str]:
    """Every route's URL, plus the bare prefix and a path rq-dashboard does not have."""
    return [*sorted(rq_routes(app, job_id)), "/admin/rq", "/admin/rq/no-such-page"]


def _state(app, job_id: str) -> tuple:
    redis = app.extensions["redis"]
    return (
        sorted(FailedJobRegistry("send", connection=redis).get_job_ids()),
        Queue("send", connection=redis).count,
        redis.exists(f"rq:job:{job_id}"),
    )


def test_the_cli_names_operators_and_records_it(runner, world):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "ops@platform.example.com",
            "--role",
            "viewer",
            "--enterprise",
            "Platform",
            "--password",
            "long-enough-pw",
            "--platform-operator",
        ]
    )
    assert result.exit_code == 0, result.output
    assert "(platform operator)" in result.output
    ops = db.session.scalar(select(User).where(User.email == "ops@platform.example.com"))
    assert ops.is_platform_operator

    admin = world.a.users["admin"]
    assert not admin.is_platform_operator
    result = runner.invoke(args=["users", "set-operator", admin.email, "--on"])
    assert result.exit_code == 0 and "is now a platform operator" in result.output
    result = runner.invoke(args=["users", "set-operator", admin.email, "--off"])
    assert result.exit_code == 0 and "is no longer a platform operator" in result.output
    db.session.expire_all()
    assert not db.session.get(User, admin.id).is_platform_operator

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "user.operator")).all()
    assert [(e.target_id, e.details["platformOperator"], e.severity) for e in events] == [
        (str(ops.id), [False, True], "high"),
        (str(admin.id), [False, True], "high"),
        (str(admin.id), [True, False], "high"),
    ]
    result = runner.invoke(args=["users", "set-operator", "nobody@example.com", "--on"])
    assert result.exit_code != 0 and "no user with email nobody@example.com" in result.output


def test_no_admin_form_sets_the_operator_flag(app, client, world):
    """The user forms have no such field: a forged one is ignored on create and on edit."""
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    assert "operator" not in client.get("/admin/users/new/").get_data(as_text=True).lower()
    client.post(
        "/admin/users/new/",
        data={
            "email": "sneaky@a.example.com",
            "role": "admin",
            "password": "long-enough-pw",
            "is_platform_operator": "y",
        },
    )
    viewer = world.a.users["viewer"]
    client.post(
        f"/admin/users/edit/?id={viewer.id}", data={"role": "viewer", "active": "y", "is_platform_operator": "y"}
    )
    db.session.expire_all()
    sneaky = db.session.scalar(select(User).where(User.email == "sneaky@a.example.com"))
    assert sneaky is not None and not sneaky.is_platform_operator
    assert not db.session.get(User, viewer.id).is_platform_operator


@pytest.mark.parametrize("role", ["admin", "manager", "viewer"])
def test_a_second_enterprise_gets_403_on_every_rq_url(app, client, world, failed_job, role):
    """Enterprise B's people, CSRF token in hand, GET and POST every /admin/rq URL: 403, nothing changes."""
    login(client, world.b.users[role])
    token = csrf_token(client, PENDING + "/")
    before = _state(app, failed_job)
    wrong = []
    for url in rq_urls(app, failed_job):
        for method in ("GET", "POST"):
            response = client.open(url, method=method, headers={"X-CSRFToken": token})
            if response.status_code != 403:
                wrong.append(f"{method} {url} -> {response.status_code}")
    assert not wrong, wrong
    assert _state(app, failed_job) == before
    assert "RQ dashboard" not in client.get(PENDING + "/").get_data(as_text=True)


def test_anonymous_is_sent_to_login_from_every_rq_url(app, client, failed_job):
    token = csrf_token(client, "/login")
    before = _state(app, failed_job)
    wrong = []
    for url in rq_urls(app, failed_job):
        for method in ("GET", "POST"):
            response = client.open(url, method=method, headers={"X-CSRFToken": token})
            if response.status_code != 302 or urlsplit(response.location).path != "/login":
                wrong.append(f"{method} {url} -> {response.status_code} {response.location}")
    assert not wrong, wrong
    assert _state(app, failed_job) == before


def test_the_get_requeue_route_is_refused_even_to_an_operator(app, client, failed_job):
    login(client, factories.operator())
    response = client.get("/admin/rq/requeue/send")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert failed_job in FailedJobRegistry("send", connection=app.extensions["redis"]).get_job_ids()


def test_every_rq_state_change_by_get_is_refused_and_read_pages_open(app, client, failed_job):
    """For an operator, GET on an action route (one that takes POST) is 405; every other page is 200."""
    login(client, factories.operator())
    before = _state(app, failed_job)
    wrong = []
    for url, action in rq_routes(app, failed_job).items():
        want = 405 if action else 200
        response = client.get(url, follow_redirects=True)  # /0/ and /0/view redirect to /admin/rq/
        if response.status_code != want:
            wrong.append(f"GET {url} -> {response.status_code}, want {want}")
    assert not wrong, wrong
    assert _state(app, failed_job) == before


def test_an_operator_requeues_by_post_with_the_csrf_token(app, client, failed_job):
    login(client, factories.operator())
    page = client.get("/admin/rq/")
    assert page.status_code == 200
    assert client.post("/admin/rq/requeue/send").status_code == 400  # no token: refused by CSRF
    assert failed_job in FailedJobRegistry("send", connection=app.extensions["redis"]).get_job_ids()
    token = client.get_cookie("_csrf_token", path="/admin/rq").value
    response = client.post("/admin/rq/requeue/send", headers={"X-CSRFToken": token})
    assert response.status_code == 200 and response.get_json() == {"status": "OK", "count": 1}
    assert Queue("send", connection=app.extensions["redis"]).job_ids == [failed_job]


def test_only_operators_see_the_menu_link(app, client, world):
    login(client, world.a.users["admin"])
    assert "/admin/rq/" not in client.get(PENDING + "/").get_data(as_text=True)
    client.post("/logout", data={"csrf_token": csrf_token(client, PENDING + "/")})
    login(client, factories.operator())
    assert "/admin/rq/" in client.get(PENDING + "/").get_data(as_text=True)


def test_the_demo_has_an_operator_and_its_admin_is_a_tenant(app, runner, client):
    result = runner.invoke(args=["demo", "seed", "--leads", "40"])
    assert result.exit_code == 0, result.output
    assert "operator@demo.local / demo-password" in result.output
    users = {u.email: u for u in db.session.scalars(select(User))}
    assert users["operator@demo.local"].is_platform_operator
    assert users["operator@demo.local"].enterprise.name == "Platform"
    assert not any(users[f"{r}@demo.local"].is_platform_operator for r in ("admin", "manager", "viewer"))
    login(client, users["admin@demo.local"], "demo-password")
    assert client.get("/admin/rq/").status_code == 403
    assert client.get("/admin/jobs/").status_code == 200
