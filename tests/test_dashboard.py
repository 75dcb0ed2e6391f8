"""The dashboard (/admin/): the enterprise's numbers, each linking to the table that lists them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest

from admin_views.filters import period
from app.extensions import db
from app.models import SentBatch
from app.models.types import utcnow
from app.services import pipeline, sending
from tests import factories
from tests.admin_support import login


def _file(world, integration, status: str, leads: int, days_ago: int) -> SentBatch:
    when = utcnow() - timedelta(days=days_ago)
    batch = SentBatch(
        enterprise_id=integration.enterprise_id,
        integration_id=integration.id,
        advertiser_id=world.a.advertiser.id,
        advertiser_name="x",
        campaign_id=integration.campaign_id,
        campaign_name="x",
        label=integration.label,
        delivery_method="local",
        trigger="schedule",
        lead_count=leads,
        status=status,
        created_at=when,
        updated_at=when,
        sent_at=when if status == "delivered" else None,
        last_error="refused" if status == "failed" else None,
    )
    db.session.add(batch)
    db.session.commit()
    return batch


@pytest.fixture
def board(world):
    """A: files delivered today and 3 days ago, a feed whose last two files failed, two queues.
    B: the same kind of rows, which A must never count."""
    a, b = world.a, world.b
    failing = factories.integration(a.campaign, "Failing feed")
    _file(world, a.integration, "delivered", 40, 0)
    _file(world, a.integration, "delivered", 2, 3)
    _file(world, failing, "delivered", 5, 5)
    _file(world, failing, "failed", 7, 2)
    _file(world, failing, "failed", 7, 1)
    _file(world, b.integration, "delivered", 900, 0)
    _file(world, b.integration, "failed", 900, 1)
    factories.leads(a.campaign, 3)  # 3 pending on each of A's two feeds
    factories.leads(b.campaign, 50)
    soon = utcnow() + timedelta(hours=2)
    a.integration.next_run_at = soon
    failing.next_run_at = soon + timedelta(days=3)
    db.session.commit()
    return {"failing": failing, "soon": soon}


def _links(page: str) -> dict[str, str]:
    """id -> href of the dashboard's headline numbers."""
    found = re.finditer(r'<a href="([^"]+)" class="bm-dash-number" id="([^"]+)"', page)
    return {m.group(2): unescape(m.group(1)) for m in found}


def _rows(client, url: str) -> list[str]:
    """The row ids a table page lists (each row links to its View page)."""
    response = client.get(url)
    assert response.status_code == 200
    found = re.findall(r'/(?:sent-batches|pending-batch)/view/(\d+)"', response.get_data(as_text=True))
    return list(dict.fromkeys(found))


def test_dashboard_numbers_are_the_enterprises_own_and_link_to_their_rows(app, world, board):
    client = app.test_client()
    login(client, world.a.users["viewer"])
    response = client.get("/admin/")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    links = _links(page)
    numbers = dict(re.findall(r'class="bm-dash-number" id="(bm-dash-\w+)">([\d,]+)<', page))
    assert numbers == {
        "bm-dash-files": "3",
        "bm-dash-leads": "47",
        "bm-dash-failed": "2",
        "bm-dash-pending": "6",
        "bm-dash-scheduled": "1",
    }
    delivered = {
        str(b.id)
        for b in db.session.query(SentBatch).filter_by(enterprise_id=world.a.enterprise.id, status="delivered")
    }
    assert set(_rows(client, links["bm-dash-files"])) == delivered
    failed = {
        str(b.id) for b in db.session.query(SentBatch).filter_by(integration_id=board["failing"].id, status="failed")
    }
    assert set(_rows(client, links["bm-dash-failed"])) == failed
    assert set(_rows(client, links["bm-dash-scheduled"])) == {str(world.a.integration.id)}
    assert set(_rows(client, links["bm-dash-pending"])) == {str(world.a.integration.id), str(board["failing"].id)}


def test_dashboard_charts_carry_per_day_counts_and_links(app, world, board):
    client = app.test_client()
    login(client, world.a.users["manager"])
    page = client.get("/admin/").get_data(as_text=True)
    data = json.loads(unescape(re.search(r'id="bm-dashboard-data"[^>]*>(.*?)</script>', page, re.S).group(1)))
    assert len(data["delivered"]["labels"]) == 30
    assert data["delivered"]["files"][-1] == 1 and data["delivered"]["leads"][-1] == 40
    assert data["delivered"]["files"][-4] == 1 and data["delivered"]["leads"][-4] == 2
    assert data["failed"]["files"][-2:] == [1, 0] and data["failed"]["files"][-3] == 1
    assert sum(data["scheduled"]["sends"]) == 1
    # The bar of 3 days ago lists exactly that day's delivered file.
    three_days_ago = db.session.query(SentBatch).filter_by(lead_count=2).one()
    assert _rows(client, data["delivered"]["links"][-4]) == [str(three_days_ago.id)]
    yesterday = db.session.query(SentBatch).filter_by(integration_id=board["failing"].id, status="failed")
    yesterday = max(yesterday, key=lambda b: b.id)
    assert _rows(client, data["failed"]["links"][-2]) == [str(yesterday.id)]
    hour = next(i for i, n in enumerate(data["scheduled"]["sends"]) if n)
    assert _rows(client, data["scheduled"]["links"][hour]) == [str(world.a.integration.id)]


def test_failing_panel_lists_the_feed_whose_last_files_failed_until_it_recovers(app, world, board):
    client = app.test_client()
    login(client, world.a.users["viewer"])
    page = client.get("/admin/").get_data(as_text=True)
    panel = page.split('id="bm-dash-failing"')[1].split("</table>")[0]
    assert f'data-integration-id="{board["failing"].id}"' in panel
    assert f'data-integration-id="{world.a.integration.id}"' not in panel
    assert ">2</a>" in panel  # failed twice in a row
    factories.leads(world.a.campaign, 1, prefix="recover")
    [outcome] = sending.batch_now([board["failing"].id], world.a.users["manager"])
    pipeline.process_batch(outcome.batch_id)
    page = client.get("/admin/").get_data(as_text=True)
    assert (
        f'data-integration-id="{board["failing"].id}"' not in page.split('id="bm-dash-failing"')[1].split("</table>")[0]
    )


def test_dashboard_is_the_admin_home_and_needs_a_login(app, world):
    client = app.test_client()
    assert client.get("/admin/").status_code == 302
    login(client, world.b.users["viewer"])
    page = client.get("/admin/").get_data(as_text=True)
    assert "No leads waiting." in page and "Nothing scheduled" in page
    assert 'src="/static/vendor/chartjs-4.5.1/chart.umd.min.js"' in page
    assert "<script>" not in page  # the CSP runs no inline code: data goes in a JSON script tag


@pytest.mark.parametrize(
    ("text", "hours"),
    [("2026-11-29", 24), ("2026-11-29T06", 1), ("2026-11-01/2026-11-30", 720), ("2026-11-29T22/2026-11-30T01", 4)],
)
def test_period_filter_values(text, hours):
    start, end = period(text)
    assert start.tzinfo is not None and (end - start) == timedelta(hours=hours)


@pytest.mark.parametrize("text", ["", "2026-02-30", "2026-11-29T25", "2026-11-30/2026-11-01", "yesterday"])
def test_period_filter_refuses_nonsense(app, world, text):
    assert period(text) is None
    client = app.test_client()
    login(client, world.a.users["viewer"])
    assert (
        client.get(
            "/v2/system/campaign-lead-batch/sent-batches/", query_string={"flt0_sent_in_period_utc": text}
        ).status_code
        == 200
    )


def test_failing_panel_shows_the_ten_most_recent_failures_of_more(app, world):
    feeds = [factories.integration(world.a.campaign, f"Feed {n}") for n in range(12)]
    for n, feed in enumerate(feeds):
        _file(world, feed, "failed", 1, days_ago=12 - n)  # feed 11 failed last
    client = app.test_client()
    login(client, world.a.users["viewer"])
    page = client.get("/admin/").get_data(as_text=True)
    panel = page.split('id="bm-dash-failing"')[1].split("</table>")[0]
    shown = [int(i) for i in re.findall(r'data-integration-id="(\d+)"', panel)]
    assert shown == [feed.id for feed in reversed(feeds[2:])]
    assert "the 10 most recent of 12" in page
