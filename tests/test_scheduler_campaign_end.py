"""Campaign end final batches, and the tick as RQ's cron scheduler enqueues and a worker runs it."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from rq import Queue

from app.extensions import db
from app.models import Campaign, SentBatch
from app.services import campaign_end, sending
from app.services.queueing import TICK_QUEUE
from jobs.tick import RETENTION_CRON, build_cron_scheduler
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
    tick_job, reconcile_job, sweep_job, retention_job = scheduler.get_jobs()
    assert (tick_job.cron, reconcile_job.interval, sweep_job.cron) == ("* * * * *", 15, "17 * * * *")
    assert retention_job.cron == RETENTION_CRON  # daily, at a quiet hour
    tick_job.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)  # due now
    # The tick, and the reconciler (an interval job runs at once when the scheduler starts).
    assert len(scheduler.enqueue_jobs()) == 2
    assert Queue(TICK_QUEUE, connection=redis).count == 2

    factories.leads(world.a.campaign, 4)
    _end_campaign(world, date.today() - timedelta(days=1))
    drain()  # the tick runs in the worker, finds the ended campaign, its send job runs too
    sent = db.session.query(SentBatch).all()
    assert [(b.trigger, b.status, b.lead_count) for b in sent] == [("campaign_end", "delivered", 4)]


def _after_the_final_batch(world, deliver_after_end: bool) -> tuple[int, datetime]:
    """Campaign A ended on 1 July; its final batch went out; 4 leads arrive later; a slot is due."""
    from app.models import BatchCsvIntegration
    from app.services import ticks

    integ = db.session.get(BatchCsvIntegration, world.a.integration.id)
    integ.deliver_after_end = deliver_after_end
    factories.leads(world.a.campaign, 3)
    _end_campaign(world, date(2026, 7, 1))
    assert campaign_end.send_due(datetime(2026, 7, 2, 0, 5, tzinfo=UTC)) == [world.a.campaign.id]
    drain()
    factories.leads(world.a.campaign, 4, prefix="late")
    slot = datetime(2026, 7, 3, 6, 0, tzinfo=UTC)
    integ.next_run_at = slot
    db.session.commit()
    assert len(ticks.enqueue_due_sends(slot)) == 1
    drain()
    return integ.id, slot


def test_scheduled_sends_stop_after_the_final_batch_when_switched_off(world):
    integration_id, _ = _after_the_final_batch(world, deliver_after_end=False)
    assert [(b.trigger, b.lead_count) for b in batches(integration_id)] == [("campaign_end", 3)]
    assert pending_count(integration_id) == 4  # kept for a person's Batch now
    (now,) = sending.batch_now([integration_id], world.a.users["manager"])
    assert now.lead_count == 4


def test_deliver_even_if_the_campaign_has_ended_keeps_the_schedule_going(world):
    integration_id, _ = _after_the_final_batch(world, deliver_after_end=True)
    assert [(b.trigger, b.lead_count) for b in batches(integration_id)] == [("campaign_end", 3), ("schedule", 4)]
    assert pending_count(integration_id) == 0


def test_the_switch_through_the_api_and_the_form(client, world, app):
    from app.models import BatchCsvIntegration
    from tests.admin_support import login
    from tests.test_admin_config import _form

    url = f"/api/v4/batch-integrations/{world.a.integration.id}"
    admin = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    assert client.get(url, headers=admin).json["data"]["schedule"]["deliverAfterCampaignEnd"] is True
    off = client.patch(url, json={"schedule": {"deliverAfterCampaignEnd": False}}, headers=admin)
    assert off.status_code == 200 and off.json["data"]["schedule"]["deliverAfterCampaignEnd"] is False
    bad = client.patch(url, json={"schedule": {"deliverAfterCampaignEnd": "yes"}}, headers=admin)
    assert bad.status_code == 422 and "schedule.deliverAfterCampaignEnd" in bad.json["error"]["details"]

    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    edit = f"/admin/integrations/edit/?id={world.a.integration.id}"
    assert "Deliver even if the campaign has ended" in client.get(edit).get_data(as_text=True)
    assert client.post(edit, data=_form(world, deliver_after_end="y")).status_code == 302
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, world.a.integration.id).deliver_after_end is True
