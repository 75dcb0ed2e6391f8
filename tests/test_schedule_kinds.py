"""Last business day of the month and every N days / weeks: runs, words, and the scheduler
tick on a controlled clock (Europe/Paris: CET, CEST from 29 March 2026, CET from 25 October)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import delivery_caps, integrations, schedule_kinds, scheduling, ticks
from app.services.actors import SYSTEM
from tests import factories
from tests.engine_support import batches, drain, pending_count

PARIS = "Europe/Paris"


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _local(instant: datetime, timezone: str = PARIS) -> str:
    return instant.astimezone(ZoneInfo(timezone)).strftime("%a %Y-%m-%d %H:%M %Z")


def _set_schedule(integ: BatchCsvIntegration, schedule: dict) -> None:
    """Save the schedule the way the API and the form do; the first tick then sets the next run."""
    integrations.update_integration(integ, {"schedule": schedule}, SYSTEM)
    integ.next_run_at = None  # as an integration the scheduler has not seen yet
    db.session.commit()


def _run_clock(start: datetime, end: datetime, step: timedelta, integration_id: int) -> list[tuple[datetime, str]]:
    """run_tick every `step` from start to end; (tick time, slot key) of each send it enqueued."""
    fired, now = [], start
    while now <= end:
        for slot in ticks.run_tick(now)["scheduled"]:
            owner, key = slot.split(":")
            if owner == str(integration_id):
                fired.append((now, key))
        now += step
    return fired


def test_last_business_day_runs_in_paris_skip_weekends_and_follow_dst():
    runs = scheduling.next_runs("@lastbusinessday 06:00", PARIS, _utc(2026, 1, 1), 5)
    assert [_local(r) for r in runs] == [
        "Fri 2026-01-30 06:00 CET",  # the 31st is a Saturday
        "Fri 2026-02-27 06:00 CET",  # the 28th is a Saturday
        "Tue 2026-03-31 06:00 CEST",  # after the spring change: 04:00 UTC
        "Thu 2026-04-30 06:00 CEST",
        "Fri 2026-05-29 06:00 CEST",  # the 31st is a Sunday
    ]
    assert runs[0] == _utc(2026, 1, 30, 5) and runs[2] == _utc(2026, 3, 31, 4)
    # Strictly after: at the very run, the next one is a month later.
    assert scheduling.next_run("@lastbusinessday 06:00", PARIS, _utc(2026, 1, 30, 5)) == _utc(2026, 2, 27, 5)
    assert scheduling.next_run("@lastbusinessday 06:00", PARIS, _utc(2026, 1, 30, 4, 59)) == _utc(2026, 1, 30, 5)


def test_every_two_weeks_keeps_its_weekday_and_local_time_across_both_changes():
    every = "@every 2 weeks 06:00 from 2026-03-16"
    spring = scheduling.next_runs(every, PARIS, _utc(2026, 3, 1), 3)
    assert [_local(r) for r in spring] == [
        "Mon 2026-03-16 06:00 CET",
        "Mon 2026-03-30 06:00 CEST",
        "Mon 2026-04-13 06:00 CEST",
    ]
    assert [r.hour for r in spring] == [5, 4, 4]
    autumn = scheduling.next_runs(every, PARIS, _utc(2026, 10, 1), 2)
    assert [_local(r) for r in autumn] == ["Mon 2026-10-12 06:00 CEST", "Mon 2026-10-26 06:00 CET"]
    assert [r.hour for r in autumn] == [4, 5]
    # Anchored: saved any day, the runs are the start date plus whole fortnights.
    for after in (_utc(2026, 5, 1), _utc(2026, 5, 11, 3, 59), _utc(2026, 5, 11, 4)):
        first = scheduling.next_run(every, PARIS, after)
        local_day = first.astimezone(ZoneInfo(PARIS)).date()
        assert (local_day - date(2026, 3, 16)).days % 14 == 0 and first > after


def test_before_its_start_date_a_schedule_waits_for_it():
    assert scheduling.next_run("@every 3 days 09:15 from 2027-02-01", PARIS, _utc(2026, 12, 1)) == _utc(
        2027, 2, 1, 8, 15
    )


def test_a_run_in_the_spring_gap_goes_at_the_jump_and_a_run_in_the_repeated_hour_once():
    # 29 March 2026, Paris: 02:00 CET -> 03:00 CEST; 02:30 does not exist that day.
    gap = scheduling.next_runs("@every 3 days 02:30 from 2026-03-26", PARIS, _utc(2026, 3, 25), 3)
    assert gap == [_utc(2026, 3, 26, 1, 30), _utc(2026, 3, 29, 1, 0), _utc(2026, 4, 1, 0, 30)]
    # 25 October 2026, Paris: 03:00 CEST -> 02:00 CET; 02:30 happens twice, the run once.
    repeat = scheduling.next_runs("@every 1 weeks 02:30 from 2026-10-18", PARIS, _utc(2026, 10, 24), 2)
    assert repeat == [_utc(2026, 10, 25, 0, 30), _utc(2026, 11, 1, 1, 30)]


@pytest.mark.parametrize(
    "expression",
    ["@lastbusinessday 23:30", "@every 3 days 02:30 from 2026-03-26", "@every 2 weeks 06:00 from 2026-03-16"],
)
def test_slot_keys_of_every_kind_map_back_to_their_instants(expression):
    # The cap window of a scheduled file is found from its slot key (delivery_caps.slot_time).
    for run in scheduling.next_runs(expression, PARIS, _utc(2026, 3, 1), 5):
        assert delivery_caps.slot_time(scheduling.slot_key(run, PARIS), PARIS) == run


def test_words_and_settings_of_each_kind():
    cases = {
        "@lastbusinessday 06:00": (
            "At 06:00 on the last business day of the month (Monday to Friday) (Europe/Paris)",
            {"kind": "lastBusinessDay", "at": "06:00"},
        ),
        "@every 2 weeks 06:00 from 2026-03-16": (
            "At 06:00, every 2 weeks on Monday, from 2026-03-16 (Europe/Paris)",
            {"kind": "every", "interval": 2, "unit": "weeks", "at": "06:00", "startDate": "2026-03-16"},
        ),
        "@every 1 days 18:45 from 2026-01-01": (
            "At 18:45, every day, from 2026-01-01 (Europe/Paris)",
            {"kind": "every", "interval": 1, "unit": "days", "at": "18:45", "startDate": "2026-01-01"},
        ),
        "0 6 * * 1-5": ("At 06:00 AM, Monday through Friday (Europe/Paris)", {"kind": "cron", "cron": "0 6 * * 1-5"}),
    }
    for expression, (words, settings) in cases.items():
        assert scheduling.describe(expression, PARIS) == words
        assert scheduling.settings_of(expression) == settings
        assert scheduling.validate_settings({**settings, "timezone": PARIS}) == expression
    assert scheduling.describe("@every 7 days 00:00 from 2026-01-01") == "At 00:00, every 7 days, from 2026-01-01"


def test_malformed_expressions_are_refused_not_guessed():
    for bad in (
        "@lastbusinessday 6:00",
        "@every 0 days 06:00 from 2026-01-01",
        "@every 2 months 06:00 from 2026-01-01",
    ):
        with pytest.raises(ValueError):
            schedule_kinds.parse(bad)
    assert schedule_kinds.parse("0 6 * * *") is None


def test_the_tick_sends_a_last_business_day_integration_on_friday_30_january_at_06_paris(world):
    integ = world.a.integration
    _set_schedule(integ, {"kind": "lastBusinessDay", "at": "06:00", "timezone": PARIS})
    assert integ.schedule_cron == "@lastbusinessday 06:00"
    factories.leads(world.a.campaign, 7)

    fired = _run_clock(_utc(2026, 1, 28), _utc(2026, 2, 2), timedelta(minutes=15), integ.id)
    assert fired == [(_utc(2026, 1, 30, 5, 0), "202601300600")]  # the tick at 06:00 Paris, not before
    drain()
    (batch,) = batches(integ.id)
    assert (batch.trigger, batch.status, batch.lead_count) == ("schedule", "delivered", 7)
    assert batch.counted_at == _utc(2026, 1, 30, 5)
    assert pending_count(integ.id) == 0
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at == _utc(2026, 2, 27, 5)


def test_the_tick_sends_an_every_two_weeks_integration_on_the_right_mondays_across_the_spring_change(world):
    integ = world.a.integration
    _set_schedule(
        integ,
        {"kind": "every", "interval": 2, "unit": "weeks", "at": "06:00", "startDate": "2026-03-16", "timezone": PARIS},
    )
    factories.leads(world.a.campaign, 3, prefix="first")
    fired = _run_clock(_utc(2026, 3, 14), _utc(2026, 3, 20), timedelta(hours=1), integ.id)
    drain()
    factories.leads(world.a.campaign, 4, prefix="second")
    fired += _run_clock(_utc(2026, 3, 20, 1), _utc(2026, 4, 12), timedelta(hours=1), integ.id)
    drain()

    # 06:00 Paris is 05:00 UTC before 29 March and 04:00 UTC after it.
    assert fired == [(_utc(2026, 3, 16, 5), "202603160600"), (_utc(2026, 3, 30, 4), "202603300600")]
    sent = batches(integ.id)
    assert [(b.lead_count, b.status) for b in sent] == [(3, "delivered"), (4, "delivered")]
    assert [b.counted_at for b in sent] == [_utc(2026, 3, 16, 5), _utc(2026, 3, 30, 4)]
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at == _utc(2026, 4, 13, 4)


def test_the_tick_sends_a_weekly_run_in_the_repeated_autumn_hour_once(world):
    integ = world.a.integration
    _set_schedule(
        integ,
        {"kind": "every", "interval": 1, "unit": "weeks", "at": "02:30", "startDate": "2026-10-18", "timezone": PARIS},
    )
    integ.send_empty = True
    db.session.commit()
    fired = _run_clock(_utc(2026, 10, 24, 22), _utc(2026, 10, 25, 3), timedelta(minutes=10), integ.id)
    assert fired == [(_utc(2026, 10, 25, 0, 30), "202610250230")]
    drain()
    assert [b.trigger for b in batches(integ.id)] == ["schedule"]
