"""Admin polish in a real browser: error pages in the admin layout, row buttons named in words,
no bulk-action controls on an empty table. Screenshots of each page go to the test's tmp dir."""

from __future__ import annotations

import pytest
from flask import current_app

from app.extensions import db
from app.models import SentBatch
from app.services import download_links, pipeline, sending
from app.services.actors import SYSTEM
from app.services.storage import get_store
from tests import factories
from tests.admin_support import PENDING, SENT
from tests.browser.test_admin_browser import login, logout, row

pytestmark = pytest.mark.browser


@pytest.fixture
def broken_page(app):
    """A page that fails the way a bug does (installed by the test, before the server starts)."""

    def broken():
        raise RuntimeError("a bug")

    app.add_url_rule("/admin/broken-for-test", "broken_for_test", broken)
    # TESTING propagates exceptions to the test client; the live server must answer like production.
    app.config["PROPAGATE_EXCEPTIONS"] = False


def assert_error_page(page, status: int, *, signed_in: bool, shot) -> None:
    error = page.locator(f".bm-error[data-status='{status}']")
    error.wait_for()
    page.screenshot(path=shot(f"error-{status}"))
    # The admin layout: the navigation bar and brand, and (signed in) the user menu.
    assert page.locator("nav.navbar .navbar-brand").inner_text().strip() == "Batch Manager"
    assert page.locator("#bm-user-menu").count() == (1 if signed_in else 0)
    heading = error.locator("h1").inner_text()
    assert heading and page.title() == f"{heading} - Batch Manager"
    # A sentence, and a link back.
    assert error.locator("p.lead").inner_text().endswith(".")
    back = error.locator("a.bm-error-back")
    assert back.inner_text().strip() == ("Back to Batch Manager" if signed_in else "Log in")


def test_error_pages_are_in_the_admin_layout_for_every_role(page, broken_page, live, world, tmp_path):
    base, _worker = live
    shot = lambda name: str(tmp_path / f"{name}.png")  # noqa: E731
    delivered = factories.integration(world.a.campaign, "Gone feed")
    factories.leads(world.a.campaign, 2, prefix="gone")
    (outcome,) = sending.send_integration(delivered.id, "schedule", SYSTEM)
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    batch = db.session.get(SentBatch, outcome.batch_id)
    get_store().delete(batch.storage_key)

    for role in ("viewer", "manager", "admin"):
        login(page, base, world.a.users[role])
        response = page.goto(f"{base}/admin/no-such-page")
        assert response.status == 404
        assert_error_page(page, 404, signed_in=True, shot=shot)
        # Another enterprise's file does not exist here either.
        assert page.goto(f"{base}{SENT}/view/{world.b.integration.id + 10_000}").status == 404
        assert_error_page(page, 404, signed_in=True, shot=shot)
        if role != "admin":
            assert page.goto(f"{base}/admin/integrations/new/").status == 403
            assert_error_page(page, 403, signed_in=True, shot=shot)
            assert "Your role does not allow it." in page.locator(".bm-error p.lead").inner_text()
        else:
            assert page.goto(f"{base}/admin/rq/").status == 403  # operators only
            assert_error_page(page, 403, signed_in=True, shot=shot)
        if role != "viewer":
            assert page.goto(f"{base}{SENT}/download/{batch.id}").status == 410
            assert_error_page(page, 410, signed_in=True, shot=shot)
            assert page.locator(".bm-error h1").inner_text() == f"File #{batch.id} can no longer be downloaded"
        assert page.goto(f"{base}/admin/broken-for-test").status == 500
        assert_error_page(page, 500, signed_in=True, shot=shot)
        assert page.locator(".bm-error code").inner_text()  # the request id to quote
        with page.expect_navigation():
            page.click("a.bm-error-back")
        assert page.url.rstrip("/").endswith("/admin") or "/pending-batch/" in page.url
        logout(page)

    # Signed out: an expired e-mailed download link is a 410 page, with a way in.
    token = download_links.make_token(batch.id)
    current_app.config["DOWNLOAD_LINK_MAX_AGE"] = -1
    assert page.goto(f"{base}/files/{token}").status == 410
    assert_error_page(page, 410, signed_in=False, shot=shot)
    assert "expired" in page.locator(".bm-error p.lead").inner_text()


def test_row_buttons_say_what_they_do(page, live, world, tmp_path):
    base, _worker = live
    integ = world.a.integration
    factories.leads(world.a.campaign, 2, prefix="ok")
    (ok,) = sending.send_integration(integ.id, "schedule", SYSTEM)
    assert pipeline.process_batch(ok.batch_id) == "delivered"
    # A file whose destination refuses it: failed, so Retry and Requeue show.
    broken = factories.integration(world.a.campaign, "Refused feed", delivery={"directory": "/etc/not-allowed"})
    factories.leads(world.a.campaign, 1, prefix="bad")
    (bad,) = sending.send_integration(broken.id, "schedule", SYSTEM)
    assert pipeline.process_batch(bad.batch_id) == "failed"
    factories.leads(world.a.campaign, 1, prefix="waiting")

    login(page, base, world.a.users["admin"])
    page.goto(base + PENDING + "/")
    page.screenshot(path=str(tmp_path / "pending.png"))
    labels = row(page, integ.label).locator(".bm-act-label >> visible=true").all_inner_texts()
    assert labels == ["Configure", "View", "Batch now"]

    page.goto(base + SENT + "/")
    page.screenshot(path=str(tmp_path / "sent.png"))
    failed = row(page, "Refused feed").locator(".bm-act-label >> visible=true").all_inner_texts()
    assert failed == ["View", "Download", "Retry", "Requeue"]
    delivered = row(page, integ.label).locator(".bm-act-label >> visible=true").all_inner_texts()
    assert delivered == ["View", "Download", "Resend"]
    # Each label is visible text on the page, not only a tooltip.
    # Retry (a failed file) and Resend (a delivered one) no longer look alike: different words and icons.
    retry = row(page, "Refused feed").locator(".bm-act-btn", has_text="Retry")
    resend = row(page, integ.label).locator(".bm-act-btn", has_text="Resend")
    assert retry.is_visible() and resend.is_visible()
    assert retry.locator(".fa").get_attribute("class") != resend.locator(".fa").get_attribute("class")

    page.goto(f"{base}/admin/users/")
    assert (
        "Edit"
        in page.locator("table.model-list tbody tr").first.locator(".bm-act-label >> visible=true").all_inner_texts()
    )


def test_an_empty_table_has_no_bulk_action_controls(page, live, world):
    base, _worker = live
    login(page, base, world.a.users["manager"])
    page.goto(base + PENDING + "/")
    assert page.locator(".bm-empty").is_visible()
    assert page.locator("a.nav-link:has-text('With selected')").count() == 0
    assert page.locator("input.action-rowtoggle").count() == 0
    factories.leads(world.a.campaign, 1)
    page.goto(base + PENDING + "/")
    assert page.locator("a.nav-link:has-text('With selected')").count() == 1
    assert page.locator("input.action-rowtoggle").count() == 1
