"""The admin in a real browser: log in, filter, Batch now, live status, Download, custom columns."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import SentBatch
from app.services import sending
from app.services.storage import get_store
from tests import factories
from tests.admin_support import PENDING, SENT

pytestmark = pytest.mark.browser


def login(page, base: str, user) -> None:
    page.goto(f"{base}/login")
    page.fill("input[name=email]", user.email)
    page.fill("input[name=password]", factories.PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url("**/pending-batch/**")


def logout(page) -> None:
    page.click("#bm-user-menu")
    page.click("#bm-logout")
    page.wait_for_url("**/login")


def row(page, text: str):
    return page.locator("table.model-list tbody tr", has_text=text)


def add_filter(page, name: str, value) -> None:
    """Use Flask-Admin's own filter UI: Add Filter -> field -> value -> Apply."""
    page.click("a.nav-link:has-text('Add Filter')")
    page.locator(".field-filters a.filter", has_text=name).first.click()
    page.locator("table.filters tr").last.locator("input.filter-val").fill(str(value))
    with page.expect_navigation():
        page.click("#filter_form button[type=submit]")


@pytest.fixture
def feeds(world):
    """Three feeds of enterprise A with leads waiting, under two advertisers and campaigns."""
    adv = factories.advertiser(world.a.enterprise, "Zephyr Telecom")
    camp = factories.campaign(adv, "Zephyr Winter")
    second = factories.integration(camp, "Zephyr nightly")
    third = factories.integration(world.a.campaign, "Partner weekly")
    factories.leads(world.a.campaign, 3, prefix="a")
    factories.leads(camp, 2, prefix="z")
    return {"first": world.a.integration, "second": second, "third": third, "adv": adv, "camp": camp}


def test_filter_both_tables_by_each_field(page, live, world, feeds):
    base, _worker = live
    manager = world.a.users["manager"]
    # One sent file per feed so the Sent table has rows to filter too.
    sending.batch_now([feeds["first"].id, feeds["second"].id], manager)
    factories.leads(world.a.campaign, 1, prefix="again")
    factories.leads(feeds["camp"], 1, prefix="again")
    login(page, base, manager)
    wanted, unwanted = feeds["second"].label, feeds["first"].label
    for table in (PENDING, SENT):
        for name, value in [
            ("Advertiser ID", feeds["adv"].id),
            ("Advertiser Name", "zephyr"),
            ("Campaign ID", feeds["camp"].id),
            ("Campaign Name", "Winter"),
            ("Label", "nightly"),
        ]:
            page.goto(base + table + "/")
            add_filter(page, name, value)
            assert row(page, wanted).count() >= 1, (table, name)
            assert row(page, unwanted).count() == 0, (table, name)
    assert row(page, world.b.integration.label).count() == 0


def test_batch_now_one_then_several_then_download(page, live, world, feeds):
    base, worker = live
    login(page, base, world.a.users["manager"])

    # One row: the send is watched in flight, then turns Delivered without a reload.
    worker.running.clear()
    row(page, feeds["first"].label).locator("button.bm-batch-now").click()
    page.wait_for_url("**/pending-batch/**")
    assert "queued file #" in page.locator(".bm-flashes").inner_text()
    page.goto(base + SENT + "/")
    first = row(page, feeds["first"].label)
    assert first.locator(".bm-status").get_attribute("data-status") == "claimed"
    page.evaluate("window.__notReloaded = true")
    worker.running.set()
    first.locator(".bm-status[data-status='delivered']").wait_for()
    assert page.evaluate("window.__notReloaded") is True
    assert first.locator(".bm-act-download").is_visible()

    # Several rows with the bulk action.
    page.goto(base + PENDING + "/")
    row(page, feeds["second"].label).locator("input.action-checkbox").check()
    row(page, feeds["third"].label).locator("input.action-checkbox").check()
    page.click("a.nav-link:has-text('With selected')")
    with page.expect_navigation():
        page.click(".dropdown-item:has-text('Batch now')")
    flashes = page.locator(".bm-flashes").inner_text()
    assert f"{feeds['second'].label}: queued file" in flashes
    assert f"{feeds['third'].label}: queued file" in flashes
    page.goto(base + SENT + "/")
    for feed in (feeds["second"], feeds["third"]):
        row(page, feed.label).first.locator(".bm-status[data-status='delivered']").wait_for()

    # Download: the browser gets exactly the stored bytes.
    db.session.expire_all()
    batch = db.session.scalar(select(SentBatch).where(SentBatch.integration_id == feeds["first"].id))
    with page.expect_download() as info:
        row(page, feeds["first"].label).first.locator(".bm-act-download").click()
    downloaded = Path(info.value.path()).read_bytes()
    with get_store().open(batch.storage_key) as fh:
        assert downloaded == fh.read()
    assert info.value.suggested_filename == batch.file_name


def test_custom_columns_survive_logout(page, live, world, feeds):
    base, _ = live
    user = world.a.users["viewer"]
    login(page, base, user)
    headers = page.locator("table.model-list thead th.column-header")
    default = headers.all_inner_texts()
    assert "Campaign End Date" in [h.strip() for h in default]

    page.click("#bm-columns-toggle")
    page.locator(".bm-columns-menu label", has_text="Campaign End Date").click()
    page.locator(".bm-columns-menu label", has_text="Delivery method").click()
    with page.expect_navigation():
        page.click("#bm-columns-save")
    chosen = [h.strip() for h in headers.all_inner_texts()]
    assert "Delivery method" in chosen and "Campaign End Date" not in chosen

    # Sorting and filtering still work with the new set.
    with page.expect_navigation():
        page.click("th.column-header a:has-text('Delivery method')")
    assert row(page, feeds["first"].label).count() == 1
    add_filter(page, "Label", "nightly")
    assert row(page, feeds["second"].label).count() == 1 and row(page, feeds["first"].label).count() == 0

    logout(page)
    login(page, base, user)
    assert [h.strip() for h in headers.all_inner_texts()] == chosen

    page.click("#bm-columns-toggle")
    with page.expect_navigation():
        page.click("#bm-columns-reset")
    assert headers.all_inner_texts() == default
