"""The dashboard and the lead trace in a real browser: the charts are drawn on their canvases
(Chart.js from the app's own static files, under the app's CSP), clicking a bar or a number
lands on the filtered table that lists exactly those rows, and a traced lead links to its file."""

from __future__ import annotations

import os
import re

import pytest

from app.extensions import db
from app.models import SentBatch
from app.services import pipeline, sending
from tests import factories
from tests.browser.test_admin_browser import login
from tests.test_dashboard import board  # noqa: F401 (the fixture)

pytestmark = pytest.mark.browser
SHOTS = os.environ.get("BM_SCREENSHOTS")  # set to a folder to keep what the browser saw


def _listed(page) -> list[str]:
    """Ids of the rows the table shows (each row links to its View page)."""
    hrefs = page.locator("table.model-list tbody a[href*='/view/']").evaluate_all("els => els.map(e => e.href)")
    return list(dict.fromkeys(re.search(r"/view/(\d+)", h).group(1) for h in hrefs))


def _painted(page, canvas_id: str) -> int:
    """How many pixels of the canvas are not transparent (0: nothing was drawn)."""
    return page.evaluate(
        """id => {
            const c = document.getElementById(id);
            const px = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            let n = 0;
            for (let i = 3; i < px.length; i += 4) { if (px[i]) { n++; } }
            return n;
        }""",
        canvas_id,
    )


def _click_bar(page, canvas_id: str, index: int) -> None:
    """Click the bar of `index` where Chart.js drew it."""
    x, y = page.evaluate(
        """([id, i]) => {
            const bar = Chart.getChart(document.getElementById(id)).getDatasetMeta(0).data[i];
            return [bar.x, bar.y + (bar.base - bar.y) / 2];
        }""",
        [canvas_id, index],
    )
    box = page.locator(f"#{canvas_id}").bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)


def _data(page) -> dict:
    return page.evaluate("JSON.parse(document.getElementById('bm-dashboard-data').textContent)")


def test_dashboard_draws_its_charts_and_each_bar_opens_its_rows(page, live, app, world, board):  # noqa: F811
    base, _worker = live
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    missing: list[str] = []
    page.on("response", lambda r: missing.append(r.url) if r.status >= 400 else None)
    login(page, base, world.a.users["viewer"])
    page.click("a.navbar-brand")
    page.wait_for_url(f"{base}/admin/")
    for canvas in ("bm-chart-delivered", "bm-chart-failed", "bm-chart-scheduled"):
        page.wait_for_selector(f"#{canvas}[data-drawn=true]")
        assert _painted(page, canvas) > 1000, canvas
    # No CSP violation and no script error; the browser's own favicon probe may 404.
    assert [u for u in missing if not u.endswith("/favicon.ico")] == []
    assert [e for e in errors if "404" not in e] == []
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/dashboard.png", full_page=True)

    data = _data(page)
    cases = [
        ("bm-chart-delivered", data["delivered"]["files"], "sent-batches"),
        ("bm-chart-failed", data["failed"]["files"], "sent-batches"),
        ("bm-chart-scheduled", data["scheduled"]["sends"], "pending-batch"),
    ]
    for canvas, values, table in cases:
        index = max(i for i, v in enumerate(values) if v)
        page.goto(f"{base}/admin/")
        page.wait_for_selector(f"#{canvas}[data-drawn=true]")
        _click_bar(page, canvas, index)
        page.wait_for_url(re.compile(rf"/{table}/\?.*flt"))
        assert len(_listed(page)) == values[index], canvas
        # The table shows the filter it applied, in Flask-Admin's own filter form.
        assert page.locator("table.filters input.filter-val").count() >= 1

    # The last delivered bar is today's: 1 file, the one of 40 leads.
    page.goto(f"{base}/admin/")
    page.wait_for_selector("#bm-chart-delivered[data-drawn=true]")
    _click_bar(page, "bm-chart-delivered", 29)
    page.wait_for_url(re.compile(r"flt1_sent_in_period_utc="))
    [today] = _listed(page)
    assert db.session.get(SentBatch, int(today)).lead_count == 40


@pytest.mark.parametrize(
    ("number", "table", "count"),
    [
        ("#bm-dash-files", "sent-batches", 3),
        ("#bm-dash-failed", "sent-batches", 2),
        ("#bm-dash-pending", "pending-batch", 2),
    ],
)
def test_each_dashboard_number_lands_on_its_filtered_table(page, live, world, board, number, table, count):  # noqa: F811
    base, _worker = live
    login(page, base, world.a.users["viewer"])
    page.goto(f"{base}/admin/")
    page.click(number)
    page.wait_for_url(re.compile(rf"/{table}/"))
    assert len(_listed(page)) == count


def test_failing_panel_and_largest_queues_link_to_the_integrations_rows(page, live, world, board):  # noqa: F811
    base, _worker = live
    login(page, base, world.a.users["viewer"])
    page.goto(f"{base}/admin/")
    failing = board["failing"]
    page.locator(f"#bm-dash-failing tr[data-integration-id='{failing.id}'] a.bm-dash-number").first.click()
    page.wait_for_url(re.compile(r"flt0_integration_id_equals="))
    listed = _listed(page)
    assert len(listed) == 2
    assert {db.session.get(SentBatch, int(i)).status for i in listed} == {"failed"}
    page.goto(f"{base}/admin/")
    page.locator("#bm-dash-largest a.bm-dash-number").first.click()
    page.wait_for_url(re.compile(r"/pending-batch/\?flt0_integration_id_equals="))
    assert len(_listed(page)) == 1


def test_lead_trace_in_the_browser_finds_the_lead_and_opens_its_file(page, live, world):
    base, _worker = live
    second = factories.integration(world.a.campaign, "A second feed")
    factories.leads(world.a.campaign, 2, prefix="crm")
    [outcome] = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    pipeline.process_batch(outcome.batch_id)
    login(page, base, world.a.users["viewer"])
    page.click("a:has-text('Lead trace')")
    page.select_option("#bm-trace-by", "email")
    page.fill("#bm-trace-q", "PERSON1@example.com")
    page.click("#bm-trace-go")
    page.wait_for_selector("#bm-trace-count")
    assert page.locator(".bm-trace-lead").count() == 1
    assert page.locator(f"tr[data-integration-id='{second.id}'][data-state=pending]").count() == 1
    if SHOTS:
        page.screenshot(path=f"{SHOTS}/lead-trace.png", full_page=True)
    page.locator(f"tr[data-integration-id='{world.a.integration.id}'][data-state=delivered] a.bm-trace-file").click()
    page.wait_for_url(re.compile(rf"/sent-batches/view/{outcome.batch_id}"))
    assert page.locator("text=person1@example.com").count() >= 1
