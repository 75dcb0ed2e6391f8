"""Campaign end final batches, and the tick as RQ's cron scheduler enqueues and a worker runs it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rq import Queue

from app.extensions import db
from app.models import Campaign, SentBatch
from app.services import campaign_end, sending
from app.services.queueing import TICK_QUEUE
from jobs.tick import build_cron_scheduler
from tests import factories
from tests.engine_support import attached_lead_ids, batches, drain, pending_count


def _end_campaign(world, when: date) -> None:
    campaign = db.session.get(Campaign, world.a.campaign.id)
    campaign.end_date = when
    db.session.commit()


def test_a_campaign_past_its_end_sends_its_pending_leads_in_a_final_batch_once(world):
    factories.leads(world.a.campaign, 8)
    now = datetime(2026, 7, 2, 0, 5, tzinfo=UTC)
    _end_campaign(world, date(2026, 7, 2))
    assert campaign_end.send_due(now) == []  # ends today: not passed yet

    _end_campaign(world, date(2026, 7, 1))
    assert campaign_end.send_due(now) == [world.a.campaign.id]
    assert campaign_end.send_due(now + timedelta(minutes=1)) == []
    drain()
    (batch,) = batches(world.a.integration.id)
    assert batch.trigger == "campaign_end" and batch.status == "delivered" and batch.lead_count == 8
    assert pending_count(world.a.integration.id) == 0
    db.session.expire_all()
    assert db.session.get(Campaign, world.a.campaign.id).final_batch_at == now
    assert batches(world.b.integration.id) == []  # another campaign, still running


def test_the_final_batch_goes_out_even_while_a_batch_now_is_in_flight(world):
    factories.leads(world.a.campaign, 3)
    (first,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    factories.leads(world.a.campaign, 2, prefix="late")
    _end_campaign(world, date(2026, 7, 1))
    assert campaign_end.send_due(datetime(2026, 7, 3, tzinfo=UTC)) == [world.a.campaign.id]
    final = [b for b in batches(world.a.integration.id) if b.trigger == "campaign_end"]
    assert [b.lead_count for b in final] == [2]
    assert set(attached_lead_ids(first.batch_id)).isdisjoint(attached_lead_ids(final[0].id))


def test_the_cron_scheduler_enqueues_the_tick_and_a_worker_runs_it(world, app):
    redis = app.extensions["redis"]
    scheduler = build_cron_scheduler(redis)
    tick_job, reconcile_job, sweep_job = scheduler.get_jobs()
    assert (tick_job.cron, reconcile_job.interval, sweep_job.cron) == ("* * * * *", 15, "17 * * * *")
    tick_job.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)  # due now
    # The tick, and the reconciler (an interval job runs at once when the scheduler starts).
    assert len(scheduler.enqueue_jobs()) == 2
    assert Queue(TICK_QUEUE, connection=redis).count == 2

    factories.leads(world.a.campaign, 4)
    _end_campaign(world, date.today() - timedelta(days=1))
    drain()  # the tick runs in the worker, finds the ended campaign, its send job runs too
    sent = db.session.query(SentBatch).all()
    assert [(b.trigger, b.status, b.lead_count) for b in sent] == [("campaign_end", "delivered", 4)]
