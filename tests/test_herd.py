"""The 06:00 herd: every due integration taken in one tick, in group jobs of SEND_GROUP_SIZE, Batch now ahead."""

from __future__ import annotations

from datetime import UTC, datetime

import redis as redis_lib
from rq import Queue

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import queueing, scheduled_send, sending, ticks
from app.services.queueing import SEND_QUEUE
from jobs.worker import make_worker
from tests import factories
from tests.engine_support import batches, drain


def _due(integrations, now) -> None:
    for integ in integrations:
        integ.next_run_at = now
    db.session.commit()


def _run_one_job(app) -> None:
    """Run exactly the job at the head of the send queue, in this process."""
    db.session.commit()
    make_worker(app, [SEND_QUEUE], simple=True).work(burst=True, max_jobs=1, with_scheduler=False)
    db.session.expire_all()


def _queued_slots(app) -> list[list[int]]:
    """The integration ids of each queued job, in queue order."""
    jobs = Queue(SEND_QUEUE, connection=app.extensions["redis"]).jobs
    return [[slot[0] for slot in job.args[0]] if job.func_name.endswith("group") else [job.args[0]] for job in jobs]


def test_more_integrations_than_a_page_are_all_taken_in_one_tick(world, app, monkeypatch):
    monkeypatch.setattr(ticks, "DUE_PER_TICK", 2)  # pages of two: five due integrations take three pages
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    integrations = [world.a.integration] + [factories.integration(world.a.campaign) for _ in range(4)]
    _due(integrations, now)
    assert sorted(int(k.split(":")[0]) for k in ticks.enqueue_due_sends(now)) == sorted(i.id for i in integrations)
    assert _queued_slots(app) == [
        [i.id for i in integrations[:2]],
        [i.id for i in integrations[2:4]],
        [integrations[4].id],
    ]
    assert ticks.enqueue_due_sends(now) == []  # every slot moved on: nothing twice


def test_a_tick_queues_each_step_of_whole_groups_before_it_takes_the_next(world, app, monkeypatch):
    """Other workers start on the first groups while the tick takes the rest of the minute; when
    Redis refuses a step, that step's slots are given back and the tick takes no more."""
    monkeypatch.setitem(app.config, "SEND_GROUP_SIZE", 2)
    monkeypatch.setattr(ticks, "TAKE_STEP", 3)  # rounded up to whole groups: steps of 4
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    integrations = [world.a.integration] + [factories.integration(world.a.campaign) for _ in range(11)]
    ids = [i.id for i in integrations]
    _due(integrations, now)
    seen, refuse = [], [False, True]
    real_enqueue = queueing.enqueue_scheduled_sends

    def enqueue(slots):
        # Records what each step hands to Redis and what the queue already holds. The second
        # step meets Redis refusing: a real outage at that instant cannot be timed from a test.
        seen.append(([slot[0] for slot in slots], _queued_slots(app)))
        if refuse[len(seen) - 1]:
            raise redis_lib.ConnectionError("Redis is away")
        return real_enqueue(slots)

    monkeypatch.setattr(queueing, "enqueue_scheduled_sends", enqueue)
    assert [int(k.split(":")[0]) for k in ticks.enqueue_due_sends(now)] == ids[:4]
    assert seen == [(ids[:4], []), (ids[4:8], [ids[:2], ids[2:4]])]  # the third step was never taken
    db.session.expire_all()
    next_runs = [db.session.get(BatchCsvIntegration, i).next_run_at for i in ids]
    assert all(run > now for run in next_runs[:4]) and next_runs[4:] == [now] * 8

    monkeypatch.setattr(queueing, "enqueue_scheduled_sends", real_enqueue)  # Redis is back
    assert [int(k.split(":")[0]) for k in ticks.enqueue_due_sends(now)] == ids[4:]
    assert _queued_slots(app) == [ids[i : i + 2] for i in range(0, 12, 2)]


def test_a_tick_queues_the_minute_in_groups_and_each_slot_gets_one_file(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "SEND_GROUP_SIZE", 2)
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    integrations = [world.a.integration] + [factories.integration(world.a.campaign) for _ in range(4)]
    factories.leads(world.a.campaign, 3)
    _due(integrations, now)
    assert len(ticks.enqueue_due_sends(now)) == 5
    assert [len(ids) for ids in _queued_slots(app)] == [2, 2, 1]
    drain()
    for integ in integrations:
        assert [(b.status, b.lead_count, b.trigger) for b in batches(integ.id)] == [("delivered", 3, "schedule")]


def test_a_group_run_again_after_its_worker_died_sends_no_slot_twice(world, app):
    """RQ retries a job whose worker was killed: the slots the group already sent are skipped."""
    other = factories.integration(world.a.campaign)
    factories.leads(world.a.campaign, 2)
    slots = [(world.a.integration.id, "202606010600"), (other.id, "202606010600")]
    assert [o["status"] for o in scheduled_send.send_slots(slots)] == ["queued", "queued"]
    factories.leads(world.a.campaign, 4, prefix="later")  # arrived since: they wait for the next slot
    assert scheduled_send.send_slots(slots) == []
    for integ in (world.a.integration, other):
        assert [(b.status, b.lead_count) for b in batches(integ.id)] == [("delivered", 2)]
    assert scheduled_send.send_slots([(other.id, "202606020600")])[0]["leadCount"] == 4


def test_a_send_that_fails_in_a_group_is_retried_alone_and_the_group_goes_on(world, app):
    factories.leads(world.a.campaign, 2)
    missing = 987654  # its claim raises before anything is claimed
    outcomes = scheduled_send.send_slots([(missing, "202606010600"), (world.a.integration.id, "202606010600")])
    assert [(o["integrationId"], o["status"]) for o in outcomes] == [(world.a.integration.id, "queued")]
    assert [b.status for b in batches(world.a.integration.id)] == ["delivered"]
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).job_ids == [f"send-{missing}-202606010600"]


def test_a_group_past_its_budget_hands_the_rest_to_a_job_at_the_front(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "SEND_GROUP_SIZE", 3)
    monkeypatch.setitem(app.config, "SEND_GROUP_BUDGET", 1e-6)  # spent by the first file
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    integrations = [world.a.integration] + [factories.integration(world.a.campaign) for _ in range(5)]
    factories.leads(world.a.campaign, 1)
    _due(integrations, now)
    ticks.enqueue_due_sends(now)
    assert _queued_slots(app) == [[i.id for i in integrations[:3]], [i.id for i in integrations[3:]]]
    _run_one_job(app)
    assert [b.status for b in batches(integrations[0].id)] == ["delivered"]
    if db.engine.dialect.name == "postgresql":
        # The group claimed its three files together (app.services.group_send): the two the
        # budget left go on in process jobs, ahead of the second group.
        rest = [batch for integ in integrations[1:3] for batch in batches(integ.id)]
        assert [(b.status, b.lease_owner) for b in rest] == [("claimed", None)] * 2
        assert _queued_slots(app) == [[b.id] for b in rest] + [[i.id for i in integrations[3:]]]
    else:
        # The rest of the first group is next, ahead of the second group.
        assert _queued_slots(app) == [[i.id for i in integrations[1:3]], [i.id for i in integrations[3:]]]
    drain()
    for integ in integrations:
        assert [(b.status, b.lead_count) for b in batches(integ.id)] == [("delivered", 1)]


def test_a_scheduled_send_delivers_its_file_in_its_own_job(world, app):
    factories.leads(world.a.campaign, 5)
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    _due([world.a.integration], now)
    assert len(ticks.enqueue_due_sends(now)) == 1
    _run_one_job(app)
    (batch,) = batches(world.a.integration.id)
    assert (batch.status, batch.lead_count, batch.attempts) == ("delivered", 5, 1)
    assert batch.lease_owner is None and batch.lease_until is None
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 0  # no second job for the file


def test_a_split_send_delivers_the_first_file_and_queues_the_others(world, app):
    integ = world.a.integration
    integ.max_leads_per_file = 2
    factories.leads(world.a.campaign, 5)
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    _due([integ], now)
    ticks.enqueue_due_sends(now)
    _run_one_job(app)
    assert [(b.status, b.lead_count) for b in batches(integ.id)] == [
        ("delivered", 2),
        ("claimed", 2),
        ("claimed", 1),
    ]
    queued = Queue(SEND_QUEUE, connection=app.extensions["redis"]).job_ids
    assert queued == [f"batch-{b.id}-claim" for b in batches(integ.id)[1:]]  # in file order
    _run_one_job(app)
    _run_one_job(app)
    assert [b.status for b in batches(integ.id)] == ["delivered"] * 3


def test_batch_now_goes_ahead_of_the_scheduled_herd(world, app):
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    herd = [factories.integration(world.b.campaign) for _ in range(3)]
    _due(herd, now)
    assert len(ticks.enqueue_due_sends(now)) == 3
    factories.leads(world.a.campaign, 3)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    queue = Queue(SEND_QUEUE, connection=app.extensions["redis"])
    assert queue.job_ids[0] == f"batch-{outcome.batch_id}-claim" and queue.count == 2  # Batch now, then the group
    _run_one_job(app)
    db.session.expire_all()
    assert batches(world.a.integration.id)[0].status == "delivered"


def test_a_group_skips_a_paused_integration_and_one_stopped_with_its_campaign(world, app):
    from app.models.types import utcnow

    paused, stopped, live = (factories.integration(world.a.campaign) for _ in range(3))
    factories.leads(world.a.campaign, 2)
    paused.paused_at = utcnow()
    ended = factories.campaign(world.a.advertiser)
    stopped.campaign_id, stopped.deliver_after_end = ended.id, False
    ended.final_batch_at = utcnow()
    db.session.commit()
    slots = [(i.id, "202606010600") for i in (paused, stopped, live)]
    assert [o["integrationId"] for o in scheduled_send.send_slots(slots)] == [live.id]
    assert batches(paused.id) == [] and batches(stopped.id) == []
    assert [b.status for b in batches(live.id)] == ["delivered"]
