"""Error pages for people (admin layout, plain fallback) while API clients and scripts keep JSON."""

from __future__ import annotations

from app.error_pages import LAYOUT
from tests.admin_support import login

HTML = {"Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


def test_a_browser_gets_pages_in_the_layout_and_the_api_keeps_json(client, world):
    login(client, world.a.users["viewer"])
    page = client.get("/admin/no-such-page", headers=HTML)
    body = page.get_data(as_text=True)
    assert page.status_code == 404 and page.mimetype == "text/html"
    assert 'data-status="404"' in body and 'id="bm-user-menu"' in body and "Back to Batch Manager" in body
    assert "<title>Page not found - Batch Manager</title>" in body
    forbidden = client.get("/admin/integrations/new/", headers=HTML)
    assert forbidden.status_code == 403 and "Your role does not allow it." in forbidden.get_data(as_text=True)
    api = client.get("/api/v4/no-such-thing", headers={**HTML, "Authorization": f"Bearer {world.a.tokens['viewer']}"})
    assert api.status_code == 404 and api.json["error"]["code"] == "not_found"


def test_domain_errors_are_pages_for_browsers_and_json_for_scripts(app, client, world):
    from app.services import download_links

    token = download_links.make_token(999_999)
    assert client.get(f"/files/{token}").json["error"]["code"] == "not_found"
    page = client.get(f"/files/{token}", headers=HTML)
    body = page.get_data(as_text=True)
    assert page.status_code == 404 and 'data-status="404"' in body and "Log in</a>" in body


def test_when_the_layout_cannot_be_drawn_the_plain_page_says_the_same(app, client, world):
    def broken_layout(*args, **kwargs):
        raise RuntimeError("the menu needs the database")

    app.extensions[LAYOUT] = broken_layout  # as when the error's cause breaks the admin layout too
    login(client, world.a.users["viewer"])
    page = client.get("/admin/no-such-page", headers=HTML)
    body = page.get_data(as_text=True)
    assert page.status_code == 404 and '<h1 class="h3">Page not found</h1>' in body
    assert "bm-user-menu" not in body and "bm-error-back" in body


def test_an_expired_form_is_a_page_with_a_sentence(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = True
    login(client, world.a.users["manager"])
    response = client.post(
        f"/v2/system/campaign-lead-batch/pending-batch/batch-now/{world.a.integration.id}", headers=HTML
    )
    body = response.get_data(as_text=True)
    assert response.status_code == 400 and "The form had expired" in body and "Reload the page and try again." in body


def test_requests_that_are_not_for_a_page_get_the_short_answer(client, world):
    # A browser's /favicon.ico asks for images: no layout is drawn (it is slow, and its session
    # cookie could overwrite the one a login sets at the same moment).
    login(client, world.a.users["viewer"])
    response = client.get("/favicon.ico", headers={"Accept": "image/avif,image/webp,image/*,*/*;q=0.8"})
    assert response.status_code == 404 and "bm-error" not in response.get_data(as_text=True)
