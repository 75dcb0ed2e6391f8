"""A paused integration in a real browser: a manager finds it with the Health filter, sees
the badge and the failed files' errors, presses Resume, and the pending leads are delivered."""

from __future__ import annotations

import os

import pytest

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import credentials, sending
from tests import factories
from tests.browser.test_admin_browser import login, row
from tests.browser.test_jobs_browser import _wait_status

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BM_SCREENSHOTS")


def test_a_manager_finds_a_paused_feed_sees_why_and_resumes_it(page, live, app, world, sftp_server):
    base, _worker = live
    app.config["SEND_RETRY_INTERVALS"] = []
    integ = factories.integration(world.a.campaign, "Partner SFTP nightly", pause_after_failures=2)
    cred = credentials.create_credential(integ.enterprise_id, "partner login", "password", sftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", sftp_server.settings(), cred.id
    db.session.commit()
    sftp_server.stop()
    failed = []
    for n in range(2):
        factories.leads(world.a.campaign, 2, prefix=f"f{n}")
        (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
        failed.append(_wait_status(outcome.batch_id, "failed").id)
    factories.leads(world.a.campaign, 3, prefix="waiting")
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).paused_at is not None

    login(page, base, world.a.users["manager"])
    page.click("a.nav-link:has-text('Add Filter')")
    page.locator(".field-filters a.filter", has_text="Health").first.click()
    page.locator("table.filters tr").last.locator("select.filter-val").select_option(
        "paused", force=True
    )  # select2 hides it
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")
    assert page.locator("table.model-list tbody tr").count() == 1
    paused = row(page, "Partner SFTP nightly")
    assert "Paused" in paused.locator("td.col-label").inner_text()
    assert "2 failed in a row" in paused.locator("td.col-health").inner_text()
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "paused-browser.png"))

    page.click("a.nav-link:has-text('Sent Batches')")
    page.wait_for_url("**/sent-batches/**")
    errors = page.locator("table.model-list tbody tr .bm-error")
    assert errors.count() == 2 and all("connection refused" in e for e in errors.all_inner_texts())

    sftp_server.start()
    page.goto(base + "/v2/system/campaign-lead-batch/pending-batch/")
    with page.expect_navigation():
        row(page, "Partner SFTP nightly").locator(".bm-act-resume button").click()  # confirm() accepted
    assert "resumed" in page.locator(".bm-flashes").inner_text()
    db.session.expire_all()
    integ = db.session.get(BatchCsvIntegration, integ.id)
    assert integ.paused_at is None
    deadline_batch = max(failed) + 1
    assert _wait_status(deadline_batch, "delivered").lead_count == 3
