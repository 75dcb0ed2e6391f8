"""Empty runs in a real browser: the Sent table leaves them out until a manager asks with the
"Empty runs" filter; then each shows its badge and slot, with no file to download or resend."""

from __future__ import annotations

import os

import pytest

from jobs.send import send_scheduled
from tests import factories
from tests.browser.test_admin_browser import login, row
from tests.engine_support import drain

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BM_SCREENSHOTS")


def _filter_empty_runs(page, choice: str) -> None:
    page.click("a.nav-link:has-text('Add Filter')")
    page.locator(".field-filters a.filter", has_text="Empty runs").first.click()
    page.locator("table.filters tr").last.locator("select.filter-val").select_option(choice, force=True)
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")


def test_a_manager_shows_the_empty_runs_with_the_filter(page, live, app, world):
    base, _worker = live
    integ = factories.integration(world.a.campaign, "Quiet partner feed", timezone="Europe/London")
    factories.leads(world.a.campaign, 2, prefix="b")
    [file] = send_scheduled(integ.id, "202611300600")
    [empty] = send_scheduled(integ.id, "202612010600")
    drain()

    login(page, base, world.a.users["manager"])
    page.goto(base + "/v2/system/campaign-lead-batch/sent-batches/")
    rows = page.locator("table.model-list tbody tr")
    assert rows.count() == 1 and "Delivered" in row(page, "Quiet partner feed").inner_text()

    _filter_empty_runs(page, "too")
    assert "empty_runs_shown=too" in page.url
    assert page.locator("table.model-list tbody tr").count() == 2

    page.goto(base + "/v2/system/campaign-lead-batch/sent-batches/")
    _filter_empty_runs(page, "only")
    assert page.locator("table.model-list tbody tr").count() == 1
    run = row(page, "Quiet partner feed")
    status = run.locator("td.col-status").inner_text()
    assert "Empty run" in status and "nothing to send at the 2026-12-01 06:00:00" in status
    assert run.locator(f'[data-id="{empty["batchId"]}"]').count() == 1
    # No file: the Download, Resend and Retry buttons stay hidden for it.
    for action in ("download", "resend", "retry", "requeue"):
        assert not run.locator(f".bm-act-{action}").is_visible()
    if SHOTS:
        page.screenshot(path=os.path.join(SHOTS, "empty-runs.png"))
    assert file["batchId"] != empty["batchId"]
