"""Jobs and the RQ dashboard in a real browser: a manager retries a failed send from Jobs; a
platform operator requeues failed jobs with rq-dashboard's own buttons (POST + CSRF)."""

from __future__ import annotations

import os
import re
import time

import pytest
from rq import Queue
from rq.registry import FailedJobRegistry

from app.extensions import db
from app.models import SentBatch
from app.services import credentials, sending
from jobs.worker import run_burst
from tests import factories
from tests.browser.test_admin_browser import login, row

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BM_SCREENSHOTS")  # set to a folder to keep what the browser saw


def _wait_status(batch_id: int, status: str, timeout: float = 20) -> SentBatch:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        db.session.expire_all()
        batch = db.session.get(SentBatch, batch_id)
        if batch.status == status and (status != "stored" or batch.last_error):
            return batch
        time.sleep(0.2)
    raise AssertionError(f"file {batch_id} is {batch.status}, not {status}")


def _sftp_feed(world, label: str, server):
    integ = factories.integration(world.a.campaign, label)
    cred = credentials.create_credential(integ.enterprise_id, f"{label} login", "password", server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", server.settings(), cred.id
    db.session.commit()
    return integ


def _send(app, world, integ, intervals: list[int], prefix: str) -> int:
    app.config["SEND_RETRY_INTERVALS"] = intervals
    factories.leads(world.a.campaign, 3, prefix=prefix)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    return outcome.batch_id


def test_a_manager_retries_a_failed_send_from_jobs(page, live, app, world, sftp_server):
    base, _worker = live
    delivered = _send(app, world, world.a.integration, [], "local")
    _wait_status(delivered, "delivered")
    failing = _sftp_feed(world, "Partner SFTP nightly", sftp_server)
    flaky = _sftp_feed(world, "CRM SFTP hourly", sftp_server)
    sftp_server.stop()
    failed = _send(app, world, failing, [], "sftp-a")
    _wait_status(failed, "failed")
    retrying = _send(app, world, flaky, [600], "sftp-b")
    _wait_status(retrying, "stored")
    other = factories.leads(world.b.campaign, 2, prefix="b")
    assert other["accepted"] == 2
    sending.batch_now([world.b.integration.id], world.b.users["manager"])

    login(page, base, world.a.users["manager"])
    page.click("a.nav-link:has-text('Jobs')")
    page.wait_for_url("**/admin/jobs/**")
    assert page.locator("table.model-list tbody tr").count() == 3  # B's send is not here
    assert row(page, "Partner SFTP nightly").locator(".bm-status").inner_text().strip() == "Failed"
    flaky_row = row(page, "CRM SFTP hourly")
    assert flaky_row.locator(".bm-status").inner_text().strip() == "Retrying"
    assert re.fullmatch(r"in (9|10) minutes", flaky_row.locator("td.col-next_attempt_at").inner_text().strip())
    assert "refused" in flaky_row.locator("td.col-last_error").inner_text()
    assert row(page, world.a.integration.label).locator(".bm-status").inner_text().strip() == "Delivered"
    assert row(page, "CRM SFTP hourly").locator(".bm-job-retry button").count() == 0
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "jobs.png"), full_page=True)

    sftp_server.start()
    app.config["SEND_RETRY_INTERVALS"] = []
    with page.expect_navigation():
        row(page, "Partner SFTP nightly").locator(".bm-job-retry button").click()
    assert f"File #{failed} will be delivered again." in page.locator(".bm-flashes").inner_text()
    assert _wait_status(failed, "delivered").attempts == 2
    page.reload()
    assert row(page, "Partner SFTP nightly").locator(".bm-status").inner_text().strip() == "Delivered"


def test_an_operator_uses_rq_dashboards_own_buttons(page, live, app, world):
    """rq-dashboard's JS posts with the CSRF cookie; the guard lets the operator through."""
    base, _worker = live
    redis = app.extensions["redis"]
    # A queue the test's worker does not serve, so the requeued job stays visible.
    job = Queue("reports", connection=redis).enqueue("builtins.int", "not a number")
    run_burst(app, ["reports"])
    assert FailedJobRegistry("reports", connection=redis).get_job_ids() == [job.id]

    login(page, base, factories.operator())
    page.goto(base + "/admin/rq/0/view/jobs/reports/failed/8/asc/1")
    page.locator(f"tr[data-job-id='{job.id}']").wait_for()
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "rq-operator.png"))
    page.click("#requeue-all-btn")
    page.locator("#confirmation-modal-yes").click()
    deadline = time.monotonic() + 10
    while Queue("reports", connection=redis).count != 1 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert Queue("reports", connection=redis).job_ids == [job.id]
    assert FailedJobRegistry("reports", connection=redis).get_job_ids() == []
