"""Under the Content-Security-Policy, in headless Chromium: every admin page, the login
page, the RQ dashboard and the API docs work with no CSP violation and no script error;
the API docs render with every request off this machine blocked."""

from __future__ import annotations

from urllib.parse import urlsplit

import pytest

from app.extensions import db
from tests import factories
from tests.admin_support import PENDING, populate
from tests.browser.test_admin_browser import login, row
from tests.test_admin_permissions import CASES

pytestmark = pytest.mark.browser

WATCH = """
window.__csp = [];
document.addEventListener('securitypolicyviolation', function (e) {
  window.__csp.push(e.violatedDirective + ' ' + e.blockedURI + ' ' + (e.sample || ''));
});
"""


class Watcher:
    """CSP violations, console errors and uncaught script errors of one page, over navigations."""

    def __init__(self, page) -> None:
        self.page = page
        self.problems: list[str] = []
        self.dialogs: list[str] = []
        page.add_init_script(WATCH)
        page.on("console", self._console)
        page.on("pageerror", lambda e: self.problems.append(f"script error: {e}"))
        page.on("dialog", lambda d: self.dialogs.append(d.message))
        page.on("response", lambda r: self.problems.append(f"{r.status} {r.url}") if r.status >= 400 else None)

    def _console(self, message) -> None:
        # A failed load shows up as a response >= 400 below, with its URL; only Chromium's own
        # /favicon.ico probe (no page asks for one) reaches the console and nothing else.
        if message.type == "error" and not message.text.startswith("Failed to load resource"):
            self.problems.append(f"console: {message.text}")

    def check(self, where: str) -> None:
        for violation in self.page.evaluate("window.__csp || []"):
            self.problems.append(f"{where}: CSP {violation}")


def test_every_admin_page_works_under_the_csp(page, live, world):
    base, _worker = live
    ids = populate(world)["a"]
    admin = world.a.users["admin"]
    admin.is_platform_operator = True  # the RQ dashboard is for platform operators only
    db.session.commit()
    watch = Watcher(page)

    page.goto(f"{base}/login")
    # login.css (no inline <style>) is applied
    assert page.evaluate("getComputedStyle(document.body).backgroundColor") == "rgb(246, 248, 250)"
    login(page, base, admin)

    pages = [c.path.format(**vars(ids)) for c in CASES if c.method == "GET" and (c.operator_ok or c.ok) == 200]
    pages = [p for p in pages if "download" not in p and ".json" not in p and "preview?" not in p]
    pages += ["/admin/account/"]
    for path in pages:
        response = page.goto(base + path)
        assert response.status == 200, path
        page.wait_for_load_state("load")
        watch.check(path)

    # Filters: Add Filter -> a field adds a filter row (Flask-Admin's script, our handler-free menu).
    page.goto(base + PENDING + "/")
    page.click("a.nav-link:has-text('Add Filter')")
    page.locator(".field-filters a.filter", has_text="Label").first.click()
    assert page.locator("table.filters tr").count() == 1
    assert urlsplit(page.url).path == PENDING + "/"  # the "#" link did not navigate
    watch.check("filters")

    # A row button with data-confirm asks first, then posts.
    with page.expect_navigation():
        row(page, world.a.integration.label).locator("button.bm-batch-now").click()
    assert any("pending leads" in d for d in watch.dialogs)
    assert "queued file #" in page.locator(".bm-flashes").inner_text()
    watch.check("batch now")

    # Bulk action menu (was an inline onclick in Flask-Admin's macro).
    factories.leads(world.a.campaign, 2, prefix="more")
    page.goto(base + PENDING + "/")
    row(page, world.a.integration.label).locator("input.action-checkbox").check()
    page.click("a.nav-link:has-text('With selected')")
    with page.expect_navigation():
        page.click(".bm-bulk-action:has-text('Batch now')")
    assert page.locator(".bm-flashes").count() == 1
    watch.check("bulk action")

    # Flask-Admin's javascript:void(0) placeholders: a click is a no-op, not a violation.
    page.goto(base + f"/admin/users/edit/?id={ids.user}")
    page.click("a.nav-link.active:has-text('Edit')")
    watch.check("placeholder link")

    # Replacing a credential shows only its kind's fields (script moved out of the page).
    page.goto(base + f"/admin/credentials/edit/?id={ids.credential}")
    assert page.locator("#password").is_visible()
    assert not page.locator("#private_key").is_visible()
    watch.check("credential edit")

    # The user menu (Bootstrap's dropdown) leads to My account.
    page.click("#bm-user-menu")
    page.click("#bm-account")
    page.wait_for_url("**/admin/account/")
    watch.check("account")

    # The RQ dashboard's own page script runs (it fills the queue table from its JSON).
    page.goto(base + "/admin/rq/")
    page.locator("table", has_text="send").first.wait_for()
    watch.check("rq dashboard")

    assert not watch.problems, "\n".join(watch.problems)


def test_api_docs_render_with_the_network_blocked(chromium, live):
    base, _worker = live
    context = chromium.new_context()
    attempted: list[str] = []

    def loopback_only(route) -> None:
        if urlsplit(route.request.url).hostname in ("127.0.0.1", "::1"):
            route.continue_()
        else:
            attempted.append(route.request.url)
            route.abort()

    context.route("**/*", loopback_only)
    page = context.new_page()
    watch = Watcher(page)
    try:
        page.goto(base + "/api/v4/docs")
        page.locator(".info .title", has_text="Batch Manager API").wait_for(timeout=15_000)
        page.locator(".opblock-summary-path", has_text="/api/v4/campaign-lead-batches").first.wait_for()
        page.locator(".opblock-tag").first.click()  # the UI is live, not just painted
        watch.check("docs")
    finally:
        context.close()
    assert attempted == []
    assert not watch.problems, "\n".join(watch.problems)


def test_no_page_can_be_framed(page, live):
    base, _worker = live
    page.set_content(f'<iframe id="f" src="{base}/login"></iframe>')
    page.wait_for_timeout(1000)
    framed = page.frames[1]
    # Chromium refuses the framed login page (X-Frame-Options / frame-ancestors): an error page instead.
    assert framed.url != f"{base}/login", framed.url
    assert framed.locator("input[name=email]").count() == 0
