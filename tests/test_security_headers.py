"""Every response carries the frame, sniffing, referrer and content-security headers; every
HTML page runs only this site's scripts: inline ones carry the request's nonce, none has an
inline event handler, nothing loads from another origin."""

from __future__ import annotations

import re

import pytest
from flask import g

from app.extensions import db
from tests.admin_support import PENDING, SENT, login, populate
from tests.test_admin_permissions import CASES

PAGES = ["/login", "/api/v4/docs", "/no-such-page"] + [
    case.path for case in CASES if case.method == "GET" and (case.operator_ok or case.ok) == 200
]
NONCE = re.compile(r"script-src 'self' 'nonce-([A-Za-z0-9_-]+)'")


@pytest.fixture
def admin_client(app, world):
    ids = populate(world)["a"]
    world.a.users["admin"].is_platform_operator = True  # so the RQ dashboard pages are checked too
    db.session.commit()
    client = app.test_client()
    login(client, world.a.users["admin"])
    return client, ids


def headers_ok(response) -> list[str]:
    wrong = []
    for name, want in [
        ("X-Frame-Options", "DENY"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "same-origin"),
    ]:
        if response.headers.get(name) != want:
            wrong.append(f"{name}: {response.headers.get(name)!r}")
    if "frame-ancestors 'none'" not in response.headers.get("Content-Security-Policy", ""):
        wrong.append(f"CSP: {response.headers.get('Content-Security-Policy')!r}")
    return wrong


def page_problems(html: str, nonce: str) -> list[str]:
    problems = []
    for tag in re.findall(r"<script\b[^>]*>", html):
        inline = "src=" not in tag and 'type="text/template"' not in tag
        if inline and f'nonce="{nonce}"' not in tag:
            problems.append(f"inline script without this request's nonce: {tag}")
    if re.search(r"<style\b", html):
        problems.append("inline <style>")
    problems += [f"inline handler {m}" for m in re.findall(r"<[^>]+\s(on[a-z]+)=", html)]
    problems += [
        f"off-site asset {m}" for m in re.findall(r"""(?:src|href)=["'](?:https?:)?//[^"']+\.(?:js|css)""", html)
    ]
    return problems


def test_every_page_carries_the_headers_and_runs_only_its_own_scripts(app, admin_client):
    client, ids = admin_client
    wrong = []
    for path in PAGES:
        url = path.format(**vars(ids))
        g.pop("_login_user", None)
        response = client.get(url, follow_redirects=True)
        if response.status_code not in (200, 404):
            wrong.append(f"{url}: {response.status_code}")
        wrong += [f"{url}: {w}" for w in headers_ok(response)]
        if response.mimetype != "text/html":  # downloads and JSON of the admin
            if response.headers["Content-Security-Policy"] != "default-src 'none'; frame-ancestors 'none'":
                wrong.append(f"{url}: {response.mimetype} with {response.headers['Content-Security-Policy']}")
            continue
        nonce = NONCE.search(response.headers["Content-Security-Policy"])
        assert nonce, url
        wrong += [f"{url}: {p}" for p in page_problems(response.get_data(as_text=True), nonce.group(1))]
    assert not wrong, "\n".join(wrong)


def test_each_response_gets_its_own_nonce(app, client):
    first = NONCE.search(client.get("/login").headers["Content-Security-Policy"]).group(1)
    second = NONCE.search(client.get("/login").headers["Content-Security-Policy"]).group(1)
    assert first != second and len(first) >= 16


def test_the_rq_dashboard_script_gets_the_nonce_and_rendered_data_does_not(admin_client):
    """Canary for admin_views/rq_nonce.py: rq-dashboard's inline page script is still the tag it expects."""
    client, _ = admin_client
    response = client.get("/admin/rq/0/view/jobs")
    nonce = NONCE.search(response.headers["Content-Security-Policy"]).group(1)
    html = response.get_data(as_text=True)
    assert html.count(f'nonce="{nonce}"') == 1
    assert not page_problems(html, nonce)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v4/campaign-lead-batches", 401),
        ("/api/v4/openapi.json", 200),
        ("/static/bm/admin.js", 200),
        ("/api/v4/docs/assets/swagger-ui-bundle.js", 200),
        ("/healthz", None),
    ],
)
def test_json_and_files_carry_a_locked_policy(client, path, status):
    response = client.get(path)
    if status is not None:
        assert response.status_code == status
    assert not headers_ok(response)
    if response.mimetype != "text/html":
        assert response.headers["Content-Security-Policy"] == "default-src 'none'; frame-ancestors 'none'"


def test_the_docs_page_loads_swagger_ui_from_this_site(client):
    page = client.get("/api/v4/docs").get_data(as_text=True)
    assert "/api/v4/docs/assets/swagger-ui-bundle.js" in page and "/api/v4/openapi.json" in page
    assert "cdn" not in page.lower()
    assert client.get("/api/v4/docs/assets/index.html").status_code == 404
    assert client.get("/api/v4/docs/assets/..%2F..%2Fapp%2F__init__.py").status_code == 404


def test_list_pages_use_the_handler_free_filter_and_action_menus(admin_client):
    client, _ = admin_client
    for path in (PENDING + "/", SENT + "/"):
        html = client.get(path).get_data(as_text=True)
        assert 'class="dropdown-item filter"' in html
    assert 'class="dropdown-item bm-bulk-action" href="#" data-action="batch_now"' in client.get(
        PENDING + "/"
    ).get_data(as_text=True)
