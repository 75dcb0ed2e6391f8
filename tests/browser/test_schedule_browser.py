"""The Configure form's Schedule card in Chromium: kinds, their fields, words, next five runs."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from app.extensions import db
from app.models import BatchCsvIntegration
from tests.browser.test_admin_browser import login

pytestmark = pytest.mark.browser


def _runs(page) -> list[str]:
    return page.locator("#bm-schedule-runs li").all_inner_texts()


def test_choose_each_kind_see_its_runs_fix_an_error_and_save(page, live, world, tmp_path):
    base, _ = live
    integ = world.a.integration
    problems: list[str] = []
    page.on("pageerror", lambda e: problems.append(str(e)))
    login(page, base, world.a.users["admin"])
    page.goto(f"{base}/admin/integrations/edit/?id={integ.id}")
    assert page.locator("#schedule_cron").is_visible() and not page.locator("#schedule_at").is_visible()

    page.select_option("#schedule_kind", "lastBusinessDay")
    assert not page.locator("#schedule_cron").is_visible() and not page.locator("#schedule_interval").is_visible()
    page.fill("#timezone", "Europe/Paris")
    page.fill("#schedule_at", "06:00")
    words = page.locator("#bm-schedule-words")
    expect(words).to_have_text("At 06:00 on the last business day of the month (Monday to Friday) (Europe/Paris)")
    runs = _runs(page)
    assert len(runs) == 5 and all(re.match(r"(Mon|Tue|Wed|Thu|Fri) .*, 06:00 CES?T", r) for r in runs), runs

    page.select_option("#schedule_kind", "every")
    for field in ("#schedule_interval", "#schedule_unit", "#schedule_at", "#schedule_start"):
        assert page.locator(field).is_visible(), field
    page.fill("#schedule_interval", "2")
    page.select_option("#schedule_unit", "weeks")
    page.fill("#schedule_start", "2026-03-16")  # a date input: the browser's own picker
    expect(words).to_have_text("At 06:00, every 2 weeks on Monday, from 2026-03-16 (Europe/Paris)")
    assert all(r.startswith("Mon ") for r in _runs(page))
    page.screenshot(path=str(tmp_path / "schedule-every.png"), full_page=True)

    # A time the service refuses: the form says so on the field and saves nothing.
    page.fill("#schedule_at", "25:00")
    page.locator("#bm-schedule-runs li.text-danger").wait_for()
    with page.expect_navigation():
        page.click("#bm-save")
    assert "Not saved." in page.inner_text(".alert-danger")
    assert "a local time HH:MM" in page.locator("#schedule_at ~ .invalid-feedback").inner_text()
    assert page.locator("#schedule_interval").input_value() == "2"  # what was typed stays
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).schedule_cron == "0 6 * * *"

    page.fill("#schedule_at", "06:00")
    with page.expect_navigation():
        page.click("#bm-save")
    assert "saved" in page.inner_text(".alert-success")
    db.session.expire_all()
    saved = db.session.get(BatchCsvIntegration, integ.id)
    assert (saved.schedule_cron, saved.timezone) == ("@every 2 weeks 06:00 from 2026-03-16", "Europe/Paris")
    row = page.locator("table.model-list tbody tr", has_text=integ.label)
    assert "At 06:00, every 2 weeks on Monday, from 2026-03-16 (Europe/Paris)" in row.inner_text()

    page.goto(f"{base}/admin/integrations/edit/?id={integ.id}")
    assert page.locator("#schedule_kind").input_value() == "every"
    assert page.locator("#schedule_start").input_value() == "2026-03-16"
    assert not page.locator("#schedule_cron").is_visible()
    assert len(_runs(page)) == 5
    assert problems == []
