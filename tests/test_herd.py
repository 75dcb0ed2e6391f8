"""The 06:00 herd: every due integration taken in one tick, one job per scheduled file, Batch now ahead."""

from __future__ import annotations

from datetime import UTC, datetime

from rq import Queue

from app.extensions import db
from app.services import sending, ticks
from app.services.queueing import SEND_QUEUE
from jobs.worker import make_worker
from tests import factories
from tests.engine_support import batches


def _due(integrations, now) -> None:
    for integ in integrations:
        integ.next_run_at = now
    db.session.commit()


def _run_one_job(app) -> None:
    """Run exactly the job at the head of the send queue, in this process."""
    db.session.commit()
    make_worker(app, [SEND_QUEUE], simple=True).work(burst=True, max_jobs=1, with_scheduler=False)
    db.session.expire_all()


def test_more_integrations_than_a_page_are_all_taken_in_one_tick(world, app, monkeypatch):
    monkeypatch.setattr(ticks, "DUE_PER_TICK", 2)  # pages of two: five due integrations take three pages
    now = datetime(2026, 6, 1, 6, 0, tzinfo=UTC)
    integrations = [world.a.integration] + [factories.integration(world.a.campaign) for _ in range(4)]
    _due(integrations, now)
    assert sorted(int(k.split(":")[0]) for k in ticks.enqueue_due_sends(now)) == sorted(i.id for i in integrations)
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 5
    assert ticks.enqueue_due_sends(now) == []  # every slot moved on: nothing twice


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
    assert queue.job_ids[0] == f"batch-{outcome.batch_id}-claim" and queue.count == 4
    _run_one_job(app)
    db.session.expire_all()
    assert batches(world.a.integration.id)[0].status == "delivered"
