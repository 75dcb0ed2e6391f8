"""Schedule kinds through the API (POST/PATCH/GET, 422s that change nothing), the Pending
table's words and the Configure form (fields, errors, the next-five-runs preview)."""

from __future__ import annotations

import calendar
import itertools
import re
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration
from tests import factories
from tests.admin_support import PENDING, login
from tests.test_admin_config import _form
from tests.test_api_integrations import bearer, payload

PARIS = "Europe/Paris"
LAST_BUSINESS_DAY = {"kind": "lastBusinessDay", "at": "06:00", "timezone": PARIS}
EVERY = {"kind": "every", "interval": 2, "unit": "weeks", "at": "07:30", "startDate": "2026-01-05"}


def _local_runs(schedule: dict) -> list[datetime]:
    runs = [datetime.fromisoformat(r.replace("Z", "+00:00")) for r in schedule["nextRuns"]]
    assert len(runs) == 5 and runs == sorted(runs)
    return [r.astimezone(ZoneInfo(schedule["timezone"])) for r in runs]


def _is_last_business_day(day: date) -> bool:
    last = date(day.year, day.month, calendar.monthrange(day.year, day.month)[1])
    later = [last - timedelta(days=n) for n in range((last - day).days)]
    return day.weekday() < 5 and all(d.weekday() >= 5 for d in later)


def test_a_last_business_day_integration_through_the_api(client, world):
    admin = bearer(world.a.tokens["admin"])
    created = client.post(
        "/api/v4/batch-integrations", json=payload(world, schedule={**LAST_BUSINESS_DAY, "capLeads": 50}), headers=admin
    )
    assert created.status_code == 201, created.json
    data = created.json["data"]
    schedule = data["schedule"]
    assert {k: schedule[k] for k in ("kind", "at", "timezone", "capLeads", "capPeriod")} == {
        "kind": "lastBusinessDay",
        "at": "06:00",
        "timezone": PARIS,
        "capLeads": 50,
        "capPeriod": None,
    }
    assert "cron" not in schedule
    assert schedule["description"] == "At 06:00 on the last business day of the month (Monday to Friday) (Europe/Paris)"
    runs = _local_runs(schedule)
    assert all(r.strftime("%H:%M") == "06:00" and _is_last_business_day(r.date()) for r in runs)
    assert len({(r.year, r.month) for r in runs}) == 5
    assert data["nextRunAt"] == schedule["nextRuns"][0]
    one = client.get(f"/api/v4/batch-integrations/{data['id']}", headers=bearer(world.a.tokens["viewer"]))
    assert one.json["data"]["schedule"] == schedule

    factories.leads(world.a.campaign, 2)
    pending = client.get("/api/v4/batch-manager", query_string={"label": "Nightly CRM"}, headers=admin).json["data"]
    assert [(row["schedule"], row["scheduleCron"]) for row in pending] == [
        (schedule["description"], "@lastbusinessday 06:00")
    ]


def test_patch_switches_kinds_and_keeps_the_shared_settings(client, world):
    integ = world.a.integration
    url = f"/api/v4/batch-integrations/{integ.id}"
    admin = bearer(world.a.tokens["admin"])
    first = client.patch(url, json={"schedule": {"timezone": PARIS, "capLeads": 10, "capPeriod": "day"}}, headers=admin)
    assert first.status_code == 200 and first.json["data"]["schedule"]["kind"] == "cron"

    every = client.patch(url, json={"schedule": EVERY}, headers=admin)
    assert every.status_code == 200, every.json
    schedule = every.json["data"]["schedule"]
    assert {k: schedule[k] for k in (*EVERY, "timezone", "capLeads", "capPeriod")} == {
        **EVERY,
        "timezone": PARIS,
        "capLeads": 10,
        "capPeriod": "day",
    }
    assert schedule["description"] == "At 07:30, every 2 weeks on Monday, from 2026-01-05 (Europe/Paris)"
    runs = _local_runs(schedule)
    assert all(r.strftime("%a %H:%M") == "Mon 07:30" and (r.date() - date(2026, 1, 5)).days % 14 == 0 for r in runs)
    assert [(b - a).days for a, b in itertools.pairwise(runs)] == [14, 14, 14, 14]
    db.session.expire_all()
    stored = db.session.get(BatchCsvIntegration, integ.id)
    assert stored.schedule_cron == "@every 2 weeks 07:30 from 2026-01-05"
    assert stored.next_run_at.strftime("%Y-%m-%dT%H:%M:%SZ") == schedule["nextRuns"][0]

    # The shared settings alone keep the kind; a time zone moves the runs with it.
    moved = client.patch(url, json={"schedule": {"timezone": "America/New_York"}}, headers=admin).json["data"]
    assert moved["schedule"]["kind"] == "every" and moved["schedule"]["at"] == "07:30"
    assert all(r.strftime("%a %H:%M") == "Mon 07:30" for r in _local_runs(moved["schedule"]))

    # {cron} is a cron schedule, as it always was.
    back = client.patch(url, json={"schedule": {"cron": "0 6 * * 1-5"}}, headers=admin).json["data"]["schedule"]
    assert (back["kind"], back["cron"], back["timezone"], back["capLeads"]) == (
        "cron",
        "0 6 * * 1-5",
        "America/New_York",
        10,
    )
    assert "at" not in back


BAD_SCHEDULES = [
    ({"kind": "monthly", "at": "06:00"}, "schedule.kind"),
    ({"kind": None, "cron": "0 6 * * *"}, "schedule.kind"),
    ({"kind": "lastBusinessDay", "at": "24:00"}, "schedule.at"),
    ({"kind": "lastBusinessDay", "at": "6:00"}, "schedule.at"),
    ({"kind": "lastBusinessDay"}, "schedule.at"),
    ({**EVERY, "interval": 0}, "schedule.interval"),
    ({**EVERY, "interval": 366}, "schedule.interval"),
    ({**EVERY, "interval": "2"}, "schedule.interval"),
    ({**EVERY, "interval": True}, "schedule.interval"),
    ({**EVERY, "unit": "months"}, "schedule.unit"),
    ({**EVERY, "startDate": "2026-02-30"}, "schedule.startDate"),
    ({**EVERY, "startDate": "1999-12-31"}, "schedule.startDate"),
    ({**EVERY, "startDate": "9999-12-31"}, "schedule.startDate"),
    ({**EVERY, "startDate": "05/01/2026"}, "schedule.startDate"),
    ({**EVERY, "cron": "0 6 * * *"}, "schedule.cron"),
    ({"at": "07:00"}, "schedule.at"),  # a kind's own setting needs its kind
    ({"kind": "cron"}, "schedule.cron"),
    ({"cron": "@every 2 weeks 06:00 from 2026-01-05"}, "schedule.cron"),  # the stored form is not a cron line
]


@pytest.mark.parametrize(("schedule", "field"), BAD_SCHEDULES)
def test_bad_schedules_are_422_naming_the_field_and_change_nothing(client, world, schedule, field):
    integ = world.a.integration
    admin = bearer(world.a.tokens["admin"])
    before = (integ.schedule_cron, integ.timezone, integ.next_run_at, integ.updated_at)
    refused = client.patch(f"/api/v4/batch-integrations/{integ.id}", json={"schedule": schedule}, headers=admin)
    assert refused.status_code == 422, refused.json
    assert field in refused.json["error"]["details"], refused.json
    body = payload(world, schedule={"timezone": "UTC", **schedule})
    created = client.post("/api/v4/batch-integrations", json=body, headers=admin)
    assert created.status_code == 422 and field in created.json["error"]["details"], created.json
    db.session.expire_all()
    after = db.session.get(BatchCsvIntegration, integ.id)
    assert (after.schedule_cron, after.timezone, after.next_run_at, after.updated_at) == before
    assert db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Nightly CRM")) is None


def test_the_service_checks_schedules_itself(world):
    """The form calls the service without the API's schema: the same fields are refused there."""
    from app.errors import ValidationError
    from app.services import integrations

    integ = world.a.integration
    cases = [
        ({"kind": "every", "interval": "x", "unit": "weeks", "at": "06:00", "startDate": "2026-01-05"}, "interval"),
        ({"kind": "lastBusinessDay", "at": "06:00", "interval": 2}, "interval"),
        ({"kind": "lastBusinessDay", "at": "06:00", "timezone": "Mars/Olympus"}, "timezone"),
        ({"kind": "yearly"}, "kind"),
    ]
    for schedule, key in cases:
        with pytest.raises(ValidationError) as caught:
            integrations.update_integration(integ, {"schedule": schedule}, world.a.users["admin"])
        assert f"schedule.{key}" in caught.value.details, (schedule, caught.value.details)
        db.session.rollback()
    assert db.session.get(BatchCsvIntegration, integ.id).schedule_cron == "0 6 * * *"


# -- the admin ---------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, world, app):
    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    return client


def _schedule_form(world, **schedule) -> dict:
    return _form(world, timezone=PARIS, **schedule)


def test_the_configure_form_saves_shows_and_describes_each_kind(admin_client, world):
    integ = world.a.integration
    url = f"/admin/integrations/edit/?id={integ.id}"
    saved = admin_client.post(url, data=_schedule_form(world, schedule_kind="lastBusinessDay", schedule_at="06:00"))
    assert saved.status_code == 302, saved.get_data(as_text=True)[-3000:]
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).schedule_cron == "@lastbusinessday 06:00"
    page = admin_client.get(url).get_data(as_text=True)
    assert re.search(r'<option selected value="lastBusinessDay">|value="lastBusinessDay" selected', page)
    assert 'name="schedule_at"' in page and 'value="06:00"' in page
    assert "At 06:00 on the last business day of the month (Monday to Friday) (Europe/Paris)" in page
    runs = re.search(r'<ol class="bm-runs[^>]*>(.*?)</ol>', page, re.S).group(1)
    assert len(re.findall(r"<li>", runs)) == 5 and "06:00 CE" in runs

    every = _schedule_form(
        world,
        schedule_kind="every",
        schedule_interval="3",
        schedule_unit="days",
        schedule_at="21:15",
        schedule_start="2026-02-01",
        schedule_cron="not looked at for this kind",
    )
    assert admin_client.post(url, data=every).status_code == 302
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).schedule_cron == "@every 3 days 21:15 from 2026-02-01"
    assert "At 21:15, every 3 days, from 2026-02-01 (Europe/Paris)" in admin_client.get(url).get_data(as_text=True)
    listing = admin_client.get("/admin/integrations/").get_data(as_text=True)
    assert "At 21:15, every 3 days, from 2026-02-01 (Europe/Paris)" in listing

    factories.leads(world.a.campaign, 2)
    pending = admin_client.get(PENDING + "/").get_data(as_text=True)
    assert "At 21:15, every 3 days, from 2026-02-01 (Europe/Paris)" in pending


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"schedule_kind": "every", "schedule_interval": "abc"}, "schedule_interval", "a whole number from 1 to 365"),
        ({"schedule_kind": "every", "schedule_interval": "0"}, "schedule_interval", "a whole number from 1 to 365"),
        ({"schedule_kind": "every", "schedule_start": ""}, "schedule_start", "a date YYYY-MM-DD"),
        ({"schedule_kind": "every", "schedule_start": "2026-02-30"}, "schedule_start", "a date YYYY-MM-DD"),
        ({"schedule_kind": "lastBusinessDay", "schedule_at": "25:00"}, "schedule_at", "a local time HH:MM"),
        ({"schedule_kind": "weekly"}, "schedule_kind", "Not a valid choice"),
        ({"schedule_kind": "cron", "schedule_cron": "61 * * * *"}, "schedule_cron", "five-field cron"),
    ],
)
def test_the_configure_form_shows_clear_errors_and_saves_nothing(admin_client, world, changes, field, message):
    integ = world.a.integration
    url = f"/admin/integrations/edit/?id={integ.id}"
    data = {"schedule_interval": "2", "schedule_unit": "weeks", "schedule_at": "06:00", "schedule_start": "2026-01-05"}
    refused = admin_client.post(url, data=_schedule_form(world, **{**data, **changes}))
    page = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "Not saved." in page
    start = page.index(f'for="{field}"')
    group = page[start : page.find('class="form-group', start)]  # the field's own form group
    assert "is-invalid" in group and message in group, group
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).schedule_cron == "0 6 * * *"


def test_the_schedule_preview_gives_words_and_five_runs_or_the_problems(admin_client):
    preview = "/admin/integrations/schedule-preview"
    every = admin_client.get(
        preview,
        query_string={
            "schedule_kind": "every",
            "schedule_interval": "2",
            "schedule_unit": "weeks",
            "schedule_at": "06:00",
            "schedule_start": "2026-03-16",
            "timezone": PARIS,
            "schedule_cron": "ignored",
        },
    ).get_json()
    assert every["ok"] and every["description"] == "At 06:00, every 2 weeks on Monday, from 2026-03-16 (Europe/Paris)"
    assert len(every["runs"]) == 5 and all(
        r["local"].startswith("Mon ") and ", 06:00 CE" in r["local"] for r in every["runs"]
    )
    bad = admin_client.get(
        preview,
        query_string={"schedule_kind": "every", "schedule_interval": "x", "schedule_at": "6", "timezone": PARIS},
    ).get_json()
    assert bad["ok"] is False and {"interval", "unit", "at", "startDate"} <= set(bad["errors"])
    last = admin_client.get(
        preview, query_string={"schedule_kind": "lastBusinessDay", "schedule_at": "18:00", "timezone": "UTC"}
    ).get_json()
    assert last["ok"] and all(r["local"][:3] in {"Mon", "Tue", "Wed", "Thu", "Fri"} for r in last["runs"])
