"""Delivery caps on a controlled clock: N leads per local day / week / month, DST-correct."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from app.extensions import db
from app.services import delivery_caps, scheduling, sending, ticks
from tests import factories
from tests.engine_support import batches, counter, drain, pending_count

LONDON = "Europe/London"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _hourly_with_cap(integ, cap: int, period: str, start: datetime) -> None:
    integ.schedule_cron, integ.timezone, integ.send_empty = "0 * * * *", LONDON, False
    integ.cap_leads, integ.cap_period = cap, period
    integ.next_run_at = scheduling.next_run(integ.schedule_cron, LONDON, start)
    db.session.commit()


def test_250_pending_with_100_a_day_go_out_as_100_100_50_on_three_london_days_across_spring_dst(world):
    """Hourly runs, a cap of 100 a day: the first run of each local day takes what the day allows.

    London jumps to BST at 01:00 UTC on Sunday 29 March 2026, so Monday 30 March starts at
    23:00 UTC on the 29th: the third file goes out then, not at midnight UTC.
    """
    integ = world.a.integration
    factories.leads(world.a.campaign, 250)
    start, end = _utc(2026, 3, 27, 23, 30), _utc(2026, 3, 30, 2, 0)
    _hourly_with_cap(integ, 100, "day", start)
    now = start
    while now <= end:
        ticks.enqueue_due_sends(now)
        drain()
        now += timedelta(minutes=30)

    files = [b for b in batches(integ.id) if b.lead_count]
    assert [b.lead_count for b in files] == [100, 100, 50]
    assert [b.counted_at for b in files] == [_utc(2026, 3, 28, 0), _utc(2026, 3, 29, 0), _utc(2026, 3, 29, 23)]
    assert [b.counted_at.astimezone(ZoneInfo(LONDON)).strftime("%a %H:%M") for b in files] == [
        "Sat 00:00",
        "Sun 00:00",
        "Mon 00:00",
    ]
    assert all(b.status == "delivered" for b in files)
    assert len([b for b in batches(integ.id) if b.status != "empty"]) == 3  # capped runs send no empty file
    # Only the runs after the last lead went out found nothing: recorded as empty runs, not the capped ones.
    runs = [b.counted_at for b in batches(integ.id) if b.status == "empty"]
    assert runs == [_utc(2026, 3, 30, 0), _utc(2026, 3, 30, 1), _utc(2026, 3, 30, 2)]
    assert pending_count(integ.id) == 0 and counter(integ.id) == 0


def test_the_rest_stays_pending_and_batch_now_respects_the_days_cap(world):
    integ = world.a.integration
    integ.cap_leads, integ.cap_period, integ.timezone = 40, "day", LONDON
    db.session.commit()
    factories.leads(world.a.campaign, 70)

    (first,) = sending.batch_now([integ.id], world.a.users["admin"])
    assert first.lead_count == 40 and counter(integ.id) == 30 and pending_count(integ.id) == 30
    drain()
    (second,) = sending.batch_now([integ.id], world.a.users["admin"])
    assert second.status == "empty" and second.batch_id is None
    assert pending_count(integ.id) == 30


def test_a_cap_splits_with_max_leads_per_file(world):
    integ = world.a.integration
    integ.cap_leads, integ.cap_period, integ.max_leads_per_file = 25, "week", 10
    db.session.commit()
    factories.leads(world.a.campaign, 60)
    outcomes = sending.batch_now([integ.id], world.a.users["admin"])
    assert [o.lead_count for o in outcomes] == [10, 10, 5]
    assert pending_count(integ.id) == 35


def test_windows_are_local_calendar_periods():
    # Autumn: Sunday 25 October 2026 in London is 25 hours long.
    start, end = delivery_caps.window("day", LONDON, _utc(2026, 10, 25, 12))
    assert (start, end) == (_utc(2026, 10, 24, 23), _utc(2026, 10, 26, 0))
    # Weeks start on Monday, local midnight.
    assert delivery_caps.window("week", LONDON, _utc(2026, 3, 29, 12)) == (_utc(2026, 3, 23, 0), _utc(2026, 3, 29, 23))
    assert delivery_caps.window("month", LONDON, _utc(2026, 12, 31, 23, 30)) == (_utc(2026, 12, 1), _utc(2027, 1, 1))
    assert delivery_caps.window("month", "America/New_York", _utc(2026, 11, 1, 3)) == (
        _utc(2026, 10, 1, 4),
        _utc(2026, 11, 1, 4),
    )


def test_the_cap_through_the_api_set_shown_and_cleared(client, world):
    url = f"/api/v4/batch-integrations/{world.a.integration.id}"
    admin = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    response = client.patch(url, json={"schedule": {"capLeads": 100, "capPeriod": "day"}}, headers=admin)
    assert response.status_code == 200, response.json
    assert response.json["data"]["schedule"]["capLeads"] == 100
    assert response.json["data"]["schedule"]["capPeriod"] == "day"
    db.session.expire_all()
    integ = db.session.get(type(world.a.integration), world.a.integration.id)
    assert (integ.cap_leads, integ.cap_period) == (100, "day")

    for change, field in (
        ({"capLeads": 0, "capPeriod": "day"}, "schedule.capLeads"),
        ({"capLeads": 10, "capPeriod": "fortnight"}, "schedule.capPeriod"),
        ({"capLeads": True, "capPeriod": "week"}, "schedule.capLeads"),
    ):
        refused = client.patch(url, json={"schedule": change}, headers=admin)
        assert refused.status_code == 422, (change, refused.json)
        assert field in refused.json["error"]["details"], (change, refused.json)
    db.session.expire_all()
    assert db.session.get(type(integ), integ.id).cap_leads == 100  # nothing half-written

    cleared = client.patch(url, json={"schedule": {"capLeads": None, "capPeriod": None}}, headers=admin)
    assert cleared.status_code == 200 and cleared.json["data"]["schedule"]["capLeads"] is None


def test_the_openapi_document_describes_the_cap(client):
    spec = client.get("/api/v4/openapi.json").json
    schemas = spec["components"]["schemas"]
    found = [s for s in schemas.values() if "capPeriod" in s.get("properties", {})]
    assert len(found) >= 2  # the request body and the response
    assert any(set(s["properties"]["capPeriod"].get("enum", [])) >= {"day", "week", "month"} for s in found)


def test_the_configure_form_sets_shows_and_validates_the_cap(client, world, app):
    from tests.admin_support import login
    from tests.test_admin_config import _form

    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    url = f"/admin/integrations/edit/?id={world.a.integration.id}"
    response = client.post(url, data=_form(world, cap_leads="100", cap_period="day"))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    db.session.expire_all()
    integ = db.session.get(type(world.a.integration), world.a.integration.id)
    assert (integ.cap_leads, integ.cap_period) == (100, "day")
    page = client.get(url).get_data(as_text=True)
    assert 'name="cap_leads"' in page and 'value="100"' in page
    assert '<option selected value="day">' in page or 'value="day" selected' in page

    for bad, message in (
        ({"cap_leads": "0", "cap_period": "week"}, "Number must be between 1 and 10000000"),
        ({"cap_leads": "-5", "cap_period": "day"}, "Number must be between 1 and 10000000"),
    ):
        refused = client.post(url, data=_form(world, **bad))
        page = refused.get_data(as_text=True)
        assert refused.status_code == 200 and "Not saved." in page and message in page, (bad, page[-3000:])
    db.session.expire_all()
    assert db.session.get(type(integ), integ.id).cap_leads == 100

    cleared = client.post(url, data=_form(world, cap_leads="", cap_period=""))
    assert cleared.status_code == 302
    db.session.expire_all()
    assert db.session.get(type(integ), integ.id).cap_period is None


def test_the_preview_holds_what_the_cap_allows_now(client, world):
    integ = world.a.integration
    integ.cap_leads, integ.cap_period = 5, "day"
    db.session.commit()
    factories.leads(world.a.campaign, 8)
    auth = {"Authorization": f"Bearer {world.a.tokens['manager']}"}
    url = f"/api/v4/batch-manager/{integ.id}/preview-file"
    preview = client.get(url, headers=auth)
    assert preview.status_code == 200 and preview.headers["X-Lead-Count"] == "5"
    (sent,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert sent.lead_count == 5
    used_up = client.get(url, headers=auth)
    assert used_up.status_code == 409 and "delivery cap" in used_up.json["error"]["message"]
