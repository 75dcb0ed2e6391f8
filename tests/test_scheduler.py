"""The scheduler tick on a controlled clock: DST in Europe/London, two ticks at once, catch-up."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Queue

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import scheduling, ticks
from app.services.queueing import SEND_QUEUE
from tests import factories
from tests.engine_support import batches, counter, drain


def _utc(*args) -> datetime:
    return datetime(*args, tzinfo=UTC)


def _schedule(integ: BatchCsvIntegration, cron: str, tz: str, start: datetime) -> None:
    integ.schedule_cron, integ.timezone, integ.send_empty = cron, tz, True
    integ.next_run_at = scheduling.next_run(cron, tz, start)
    db.session.commit()


def _run_clock(start: datetime, end: datetime, step: timedelta, integration_id: int) -> list[str]:
    """Tick every `step` from start to end; return the integration's slots enqueued, in order."""
    slots, now = [], start
    while now <= end:
        slots += [s for s in ticks.enqueue_due_sends(now) if s.startswith(f"{integration_id}:")]
        now += step
    return slots


@pytest.mark.parametrize(
    ("start", "expected_utc"),
    [
        # Spring forward (29 March 2026: 01:00 GMT -> 02:00 BST). 01:30 does not exist that
        # day: the run happens when the clocks jump, it is not skipped.
        (_utc(2026, 3, 27, 12), [_utc(2026, 3, 28, 1, 30), _utc(2026, 3, 29, 1, 0), _utc(2026, 3, 30, 0, 30)]),
        # Fall back (25 October 2026: 02:00 BST -> 01:00 GMT). 01:30 happens twice; one send.
        (_utc(2026, 10, 23, 12), [_utc(2026, 10, 24, 0, 30), _utc(2026, 10, 25, 0, 30), _utc(2026, 10, 26, 1, 30)]),
    ],
    ids=["spring", "autumn"],
)
def test_london_cron_across_dst_sends_exactly_the_expected_runs(world, start, expected_utc):
    integ = world.a.integration
    _schedule(integ, "30 1 * * *", "Europe/London", start)
    slots = _run_clock(start, start + timedelta(days=3) - timedelta(minutes=1), timedelta(minutes=10), integ.id)
    expected_keys = [scheduling.slot_key(t, "Europe/London") for t in expected_utc]
    assert slots == [f"{integ.id}:{key}" for key in expected_keys]
    assert [k[-4:] for k in expected_keys] == ["0130", "0200" if start.month == 3 else "0130", "0130"]

    drain()
    sent = [b for b in batches(integ.id)]
    assert [b.trigger for b in sent] == ["schedule"] * 3
    assert all(b.status == "delivered" for b in sent)


def test_hourly_london_schedule_on_the_autumn_change_sends_each_local_hour_once(world):
    integ = world.a.integration
    start = _utc(2026, 10, 24, 22, 30)
    _schedule(integ, "0 * * * *", "Europe/London", start)
    slots = _run_clock(start, _utc(2026, 10, 25, 4, 0), timedelta(minutes=5), integ.id)
    keys = [s.split(":")[1][-4:] for s in slots]
    assert keys == ["0000", "0100", "0200", "0300", "0400"]
    assert len(set(slots)) == len(slots)


def test_hourly_london_schedule_on_the_spring_change_skips_nothing(world):
    integ = world.a.integration
    start = _utc(2026, 3, 28, 22, 30)
    _schedule(integ, "0 * * * *", "Europe/London", start)
    slots = _run_clock(start, _utc(2026, 3, 29, 3, 0), timedelta(minutes=5), integ.id)
    # 01:00 local does not exist; its run and the 02:00 run are one send at the jump.
    assert [s.split(":")[1][-4:] for s in slots] == ["2300", "0000", "0200", "0300", "0400"]


def test_two_ticks_at_once_send_once(world, app):
    integ = world.a.integration
    factories.leads(world.a.campaign, 5)
    now = _utc(2026, 6, 1, 6, 0)
    integ.next_run_at = now
    db.session.commit()

    barrier = threading.Barrier(4)
    results: list[list[str]] = []

    def tick() -> None:
        with app.app_context():
            barrier.wait()
            results.append(ticks.enqueue_due_sends(now))
            db.session.remove()

    threads = [threading.Thread(target=tick) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(len(r) for r in results) == [0, 0, 0, 1]
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 1

    drain()
    (batch,) = batches(integ.id)
    assert batch.trigger == "schedule" and batch.lead_count == 5
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at == _utc(2026, 6, 2, 6, 0)


def test_the_database_guard_holds_when_redis_forgets_the_job(world, app):
    integ = world.a.integration
    now = _utc(2026, 6, 1, 6, 0)
    integ.next_run_at = now
    db.session.commit()
    assert len(ticks.enqueue_due_sends(now)) == 1
    app.extensions["redis"].flushdb()  # the unique job id is gone...
    assert ticks.enqueue_due_sends(now) == []  # ...but next_run_at already moved on


def test_two_ticks_racing_with_redis_emptied_between_them_send_once(world, app):
    """Both ticks read the due slot; the first sends it, Redis restarts empty (the job id guard
    is gone), then the second tries: it loses the conditional UPDATE and enqueues nothing."""
    integ = world.a.integration
    factories.leads(world.a.campaign, 5)
    now = _utc(2026, 6, 1, 6, 0)
    integ.next_run_at = now
    db.session.commit()
    first_read, second_read = ticks.due_slots(now), ticks.due_slots(now)
    key = scheduling.slot_key(now, integ.timezone)

    assert [ticks.take_slot(row, now) for row in first_read] == [f"{integ.id}:{key}"]
    drain()
    app.extensions["redis"].flushdb()
    factories.leads(world.a.campaign, 3, prefix="late")  # arrived after the slot's file went out
    assert [ticks.take_slot(row, now) for row in second_read] == [None]
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 0
    drain()
    (batch,) = batches(integ.id)  # one file for the slot; the late leads wait for the next one
    assert batch.lead_count == 5 and counter(integ.id) == 3


def test_a_slot_whose_send_cannot_be_queued_is_given_back_to_the_next_tick(world, app):
    integ = world.a.integration
    now = _utc(2026, 6, 1, 6, 0)
    integ.next_run_at = now
    db.session.commit()
    reachable = app.extensions["redis"]
    app.extensions["redis"] = redis_lib.Redis(host="127.0.0.1", port=1, socket_connect_timeout=1)  # nobody there
    try:
        assert ticks.enqueue_due_sends(now) == []
    finally:
        app.extensions["redis"] = reachable
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at == now  # not advanced past an unsent slot
    assert len(ticks.enqueue_due_sends(now)) == 1  # Redis is back: the next tick sends it


def test_a_stale_tick_finding_the_job_already_queued_does_not_queue_it_again(world, app):
    """The Redis guard: a tick that read next_run_at before another advanced it sends nothing new."""
    from app.services.queueing import enqueue_scheduled_send

    integ = world.a.integration
    now = _utc(2026, 6, 1, 6, 0)
    integ.next_run_at = now
    db.session.commit()
    key = scheduling.slot_key(now, integ.timezone)
    assert enqueue_scheduled_send(integ.id, key) is not None
    assert enqueue_scheduled_send(integ.id, key) is None
    assert ticks.enqueue_due_sends(now) == []  # same slot: refused by the job id, next run advanced
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at > now


def test_after_downtime_the_tick_sends_once_then_waits_for_the_next_slot(world):
    integ = world.a.integration
    _schedule(integ, "0 6 * * *", "UTC", _utc(2026, 6, 1, 0, 0))  # due 1 June 06:00
    late = _utc(2026, 6, 4, 9, 0)
    assert len(ticks.enqueue_due_sends(late)) == 1
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integ.id).next_run_at == _utc(2026, 6, 5, 6, 0)
    assert ticks.enqueue_due_sends(late + timedelta(hours=1)) == []


def test_new_integrations_get_a_next_run_and_disabled_ones_never_send(world):
    a, b = world.a.integration, world.b.integration
    a.next_run_at = None
    b.enabled, b.next_run_at = False, _utc(2026, 1, 1)
    db.session.commit()
    now = _utc(2026, 6, 1, 12, 0)
    assert ticks.enqueue_due_sends(now) == []
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, a.id).next_run_at == _utc(2026, 6, 2, 6, 0)


def test_an_unusable_schedule_is_skipped_without_stopping_the_others(world):
    a, b = world.a.integration, world.b.integration
    now = _utc(2026, 6, 1, 6, 0)
    a.schedule_cron, a.next_run_at = "not a cron", now
    b.next_run_at = now
    db.session.commit()
    assert ticks.enqueue_due_sends(now) == [f"{b.id}:{scheduling.slot_key(now, 'UTC')}"]


def test_one_tick_gives_each_schedule_its_own_next_run(world):
    """The tick works a slot's next run out once per schedule; rows with another schedule get theirs."""
    now = _utc(2026, 6, 1, 6, 0)
    daily, london, tokyo, hourly, daily_too = (
        world.a.integration,
        factories.integration(world.a.campaign, schedule_cron="0 7 * * *", timezone="Europe/London"),
        factories.integration(world.a.campaign, timezone="Asia/Tokyo"),  # the same cron, another zone
        factories.integration(world.a.campaign, schedule_cron="0 * * * *"),
        factories.integration(world.a.campaign),
    )
    for integ in (daily, london, hourly, daily_too):
        integ.next_run_at = now  # 07:00 in London is 06:00 UTC in June
    tokyo.next_run_at = _utc(2026, 5, 31, 21, 0)  # 06:00 in Tokyo, due since
    db.session.commit()
    assert len(ticks.enqueue_due_sends(now)) == 5
    db.session.expire_all()
    integrations = (daily, london, tokyo, hourly, daily_too)
    assert [db.session.get(BatchCsvIntegration, i.id).next_run_at for i in integrations] == [
        _utc(2026, 6, 2, 6, 0),
        _utc(2026, 6, 2, 6, 0),
        _utc(2026, 6, 1, 21, 0),
        _utc(2026, 6, 1, 7, 0),
        _utc(2026, 6, 2, 6, 0),
    ]


def test_run_tick_and_the_cli_tick(world, runner):
    result = runner.invoke(args=["ops", "tick"])
    assert result.exit_code == 0, result.output
    assert '"scheduled": []' in result.output


def test_every_procfile_process_is_a_cli_command(app):
    """The Procfile's worker and scheduler lines name commands that exist (and only those)."""
    procfile = (Path(__file__).resolve().parents[1] / "Procfile").read_text()
    rq_commands = {line.split(" rq ")[1].split()[0] for line in procfile.splitlines() if " rq " in line}
    assert rq_commands == {"worker", "cron"}
    assert set(app.cli.commands["rq"].commands) == rq_commands


def test_next_run_is_always_strictly_later_and_in_utc():
    after = _utc(2026, 10, 25, 0, 30)
    for tz in ("Europe/London", "America/New_York", "Australia/Lord_Howe", "Asia/Kolkata", "UTC"):
        for cron in ("30 1 * * *", "*/7 * * * *", "0 2 * * 0"):
            current = after
            for run in scheduling.next_runs(cron, tz, after, 30):
                assert run > current and run.tzinfo is UTC
                current = run
