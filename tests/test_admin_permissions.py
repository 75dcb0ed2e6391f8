"""Permission matrix: every admin page and action x every role x own / other enterprise x anonymous.

Expected: anonymous -> 302 to the login page; a role below the page's -> 403; the
right role on its own enterprise's object -> the page's normal answer; the right role
on another enterprise's object -> 404 (its existence is never revealed).

The platform operator is the admin of an enterprise of its own ("Platform"): it alone
reaches the RQ dashboard, and to the tenants' pages it is just another enterprise's
admin (404 on A's and B's objects alike). Operator-only cases are 403 for every tenant
role; `operator_ok` is the operator's answer where it differs from `ok`.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

import pytest
from flask import g
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import SentBatch
from tests import factories
from tests.admin_support import PENDING, SENT, login, populate

RANK = {"anonymous": -1, "viewer": 0, "manager": 1, "admin": 2}


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # may hold {integration} {batch} {credential} {token} {user}
    role: str  # lowest role allowed
    ok: int  # status for an allowed role on its own objects
    scoped: bool = True  # another enterprise's object in the path -> 404
    data: tuple = ()
    operator_only: bool = False  # cross-tenant tools: platform operators, never a tenant role
    operator_ok: int | None = None

    def url(self, objects) -> str:
        return self.path.format(**vars(objects))


CASES = [
    # Pages (GET)
    Case("dashboard", "GET", "/admin/", "viewer", 200, scoped=False),
    Case("lead trace", "GET", "/admin/lead-trace/?by=externalId&q=ext-1", "viewer", 200, scoped=False),
    Case("pending list", "GET", PENDING + "/", "viewer", 200, scoped=False),
    Case("pending leads", "GET", PENDING + "/view/{integration}", "viewer", 200),
    Case("sent list", "GET", SENT + "/", "viewer", 200, scoped=False),
    Case("sent leads", "GET", SENT + "/view/{batch}", "viewer", 200),
    Case("download", "GET", SENT + "/download/{batch}", "manager", 200),
    Case("status json", "GET", SENT + "/status.json?ids={batch}", "viewer", 200, scoped=False),
    Case("integrations list", "GET", "/admin/integrations/", "viewer", 200, scoped=False),
    Case("integration new", "GET", "/admin/integrations/new/", "admin", 200, scoped=False),
    Case("configure", "GET", "/admin/integrations/edit/?id={integration}", "admin", 200),
    Case(
        "schedule preview",
        "GET",
        "/admin/integrations/schedule-preview?cron=0+6+*+*+*&timezone=UTC",
        "viewer",
        200,
        scoped=False,
    ),
    Case("credentials list", "GET", "/admin/credentials/", "admin", 200, scoped=False),
    Case("credential new", "GET", "/admin/credentials/new/", "admin", 200, scoped=False),
    Case("credential replace", "GET", "/admin/credentials/edit/?id={credential}", "admin", 200),
    Case("users list", "GET", "/admin/users/", "admin", 200, scoped=False),
    Case("user new", "GET", "/admin/users/new/", "admin", 200, scoped=False),
    Case("user edit", "GET", "/admin/users/edit/?id={user}", "admin", 200),
    Case("tokens list", "GET", "/admin/api-tokens/", "admin", 200, scoped=False),
    Case("token new", "GET", "/admin/api-tokens/new/", "admin", 200, scoped=False),
    Case("audit log", "GET", "/admin/audit/", "admin", 200, scoped=False),
    Case("data retention", "GET", "/admin/retention/", "admin", 200, scoped=False),
    Case("erase a person", "GET", "/admin/erasure/", "admin", 200, scoped=False),
    Case("my account", "GET", "/admin/account/", "viewer", 200, scoped=False),
    Case("jobs list", "GET", "/admin/jobs/", "viewer", 200, scoped=False),
    Case("jobs list filtered", "GET", "/admin/jobs/?flt0_status_equals=failed", "viewer", 200, scoped=False),
    # RQ dashboard: every tenant's jobs, so operators only; every route of rq-dashboard is
    # also walked with CSRF on in test_operators.py.
    *[
        Case(f"rq {name}", "GET", path, "admin", 200, scoped=False, operator_only=True)
        for name, path in (
            ("dashboard", "/admin/rq/"),
            ("workers", "/admin/rq/0/view/workers"),
            ("jobs page", "/admin/rq/0/view/jobs/send/finished/8/asc/1"),
            ("job page", "/admin/rq/0/view/job/batch-{batch}-claim"),
            ("queues json", "/admin/rq/0/data/queues.json"),
            ("jobs json", "/admin/rq/0/data/jobs/send/finished/8/asc/1.json"),
            ("job json", "/admin/rq/0/data/job/batch-{batch}-claim.json"),
        )
    ],
    Case("rq requeue all by GET", "GET", "/admin/rq/requeue/send", "admin", 200, False, (), True, 405),
    # A finished job cannot be requeued: 409 from RQ, answered as a refusal (not a 500).
    Case("rq requeue job", "POST", "/admin/rq/job/batch-{batch}-claim/requeue", "admin", 409, False, (), True),
    # Actions (POST)
    Case("batch now row", "POST", PENDING + "/batch-now/{integration}", "manager", 302),
    # The bulk action validates all ids first: another enterprise's id is refused with a
    # message (302 back to the list) and nothing is sent; checked in test_admin_actions.
    Case(
        "batch now bulk",
        "POST",
        PENDING + "/action/",
        "manager",
        302,
        False,
        (("action", "batch_now"), ("rowid", "{integration}")),
    ),
    Case("save columns", "POST", PENDING + "/columns", "viewer", 302, False, (("columns", "label"),)),
    Case("retry", "POST", SENT + "/retry/{batch}", "manager", 302),
    Case("resend", "POST", SENT + "/resend/{batch}", "manager", 302),
    Case("requeue", "POST", SENT + "/requeue/{batch}", "manager", 302),
    Case("jobs retry", "POST", "/admin/jobs/retry/{batch}", "manager", 302),
    Case("jobs requeue", "POST", "/admin/jobs/requeue/{batch}", "manager", 302),
    Case("jobs save columns", "POST", "/admin/jobs/columns", "viewer", 302, False, (("columns", "label"),)),
    *[
        Case(f"rq {name}", "POST", path, "admin", 200, scoped=False, operator_only=True)
        for name, path in (
            ("requeue all", "/admin/rq/requeue/send"),
            ("compact", "/admin/rq/queue/send/compact"),
            ("empty", "/admin/rq/queue/send/scheduled/empty"),
            ("delete job", "/admin/rq/job/no-such-job/delete"),
        )
    ],
    Case("integration create", "POST", "/admin/integrations/new/", "admin", 200, False, (("label", ""),)),
    Case(
        "integration save", "POST", "/admin/integrations/edit/?id={integration}", "admin", 200, True, (("label", ""),)
    ),
    Case(
        "test connection",
        "POST",
        "/admin/integrations/test-connection",
        "admin",
        200,
        False,
        (("delivery_method", "local"),),
    ),
    Case(
        "credential create",
        "POST",
        "/admin/credentials/new/",
        "admin",
        302,
        False,
        (("name", "matrix cred {user}"), ("kind", "password"), ("password", "another-secret")),
    ),
    Case(
        "credential replace save",
        "POST",
        "/admin/credentials/edit/?id={credential}",
        "admin",
        302,
        True,
        (("password", "new-secret-1"),),
    ),
    Case(
        "user create",
        "POST",
        "/admin/users/new/",
        "admin",
        302,
        False,
        (("email", "new-person-{user}-{person}@example.com"), ("role", "viewer"), ("password", "long-enough-pw")),
    ),
    Case(
        "user save", "POST", "/admin/users/edit/?id={user}", "admin", 302, True, (("role", "viewer"), ("active", "y"))
    ),
    Case(
        "token create",
        "POST",
        "/admin/api-tokens/new/",
        "admin",
        200,
        False,
        (("user_id", "{user}"), ("name", "matrix")),
    ),
    Case("token revoke", "POST", "/admin/api-tokens/revoke/{token}", "admin", 302),
    Case("user log out everywhere", "POST", "/admin/users/end-sessions/{user}", "admin", 302),
    Case(
        "my password",
        "POST",
        "/admin/account/",
        "viewer",
        200,
        False,
        (("current_password", "not-it"), ("new_password", "long-enough-pw")),
    ),
    Case("my other sessions", "POST", "/admin/account/end-sessions", "viewer", 302, scoped=False),
    Case("logout", "POST", "/logout", "viewer", 302, scoped=False),
]


def expected(case: Case, role: str, target: str) -> int:
    if role == "anonymous":
        return 302
    if case.operator_only:
        return (case.ok if case.operator_ok is None else case.operator_ok) if role == "operator" else 403
    if role == "operator":  # the admin of a third enterprise: A's and B's objects are not its own
        return 404 if case.scoped else case.ok
    if RANK[role] < RANK[case.role]:
        return 403
    if target == "other" and case.scoped:
        return 404
    return case.ok


@pytest.fixture
def objects(app, world):
    app.config["WTF_CSRF_ENABLED"] = False  # CSRF has its own test (test_admin_csrf.py)
    return populate(world)


def test_permission_matrix(app, world, objects):
    """One set-up, five people: anonymous, viewer, manager and admin of enterprise A, a platform operator."""
    world.extra["operator"] = factories.operator()
    wrong = []
    for role in ("anonymous", "viewer", "manager", "admin", "operator"):
        wrong += _check_role(app, world, objects, role)
    assert not wrong, "\n".join(wrong)


def _check_role(app, world, objects, role: str) -> list[str]:
    # The app fixture's app context spans the test, so requests share flask.g, where
    # Flask-Login caches the user: drop it when switching to another person's client.
    g.pop("_login_user", None)
    client = app.test_client()
    if role == "operator":
        login(client, world.extra["operator"])
    elif role != "anonymous":
        login(client, world.a.users[role])
    wrong = []
    for target in ("own", "other"):
        ids = objects["a"] if target == "own" else objects["b"]
        for case in CASES:
            if case.name == "logout":
                continue
            url = case.url(ids)
            if case.method == "GET":
                response = client.get(url)
            else:
                data = MultiDict([(k, v.format(**vars(ids), person=role)) for k, v in case.data])
                response = client.post(url, data=data)
            want = expected(case, role, target)
            if response.status_code != want:
                wrong.append(
                    f"{case.name} {target} as {role}: {case.method} {url} -> {response.status_code}, want {want}"
                )
            elif role == "anonymous" and urlsplit(response.location).path != "/login":
                wrong.append(f"{case.name} as anonymous: redirected to {response.location}, not the login page")
    logout = client.post("/logout")
    if (logout.status_code, urlsplit(logout.location).path) != (302, "/login"):
        wrong.append(f"logout as {role}: {logout.status_code} {logout.location}")
    return wrong


def test_other_enterprise_is_never_sent_or_changed(app, client, world, objects):
    """The 302s of the cross-enterprise actions changed nothing of enterprise B."""
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    b = objects["b"]
    before = db.session.scalars(select(SentBatch.id).where(SentBatch.enterprise_id == world.b.enterprise.id)).all()
    client.post(PENDING + "/action/", data={"action": "batch_now", "rowid": str(b.integration)})
    client.post(PENDING + "/batch-now/" + str(b.integration))
    client.post(SENT + f"/resend/{b.batch}")
    db.session.expire_all()
    after = db.session.scalars(select(SentBatch.id).where(SentBatch.enterprise_id == world.b.enterprise.id)).all()
    assert after == before
    status = client.get(SENT + f"/status.json?ids={b.batch}").get_json()
    assert status == {"data": {}}


def test_lists_never_show_another_enterprise(app, client, world, objects):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    b_texts = [world.b.integration.label, world.b.campaign.name, world.b.advertiser.name, world.b.users["viewer"].email]
    for path in (
        PENDING + "/",
        SENT + "/",
        "/admin/integrations/",
        "/admin/users/",
        "/admin/api-tokens/",
        "/admin/audit/",
        "/admin/credentials/",
    ):
        page = client.get(path).get_data(as_text=True)
        assert client.get(path).status_code == 200
        for text in [*b_texts, "b sftp password"]:
            assert text not in page, f"{text!r} of enterprise B shown on {path}"
    configure = client.get(f"/admin/integrations/edit/?id={objects['a'].integration}").get_data(as_text=True)
    assert "b sftp password" not in configure  # the credential select offers own credentials only
    assert world.b.campaign.name not in configure
