"""Lost jobs and killed workers: the reconciler and a fresh worker finish every file exactly once."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from rq import Queue

from app.extensions import db
from app.models import SentBatch
from app.models.types import utcnow
from app.services import sending, ticks
from jobs.queues import SEND_QUEUE
from tests import factories
from tests.engine_support import (
    attached_lead_ids,
    batches,
    csv_rows,
    delivered_files,
    drain,
    run_worker,
    stored_bytes,
    worker_env,
)


def _later(app) -> object:
    return utcnow() + timedelta(seconds=app.config["STUCK_AFTER_SECONDS"] + 1)


def test_a_batch_whose_job_was_lost_is_reenqueued_once_and_delivered(world, app):
    factories.leads(world.a.campaign, 5)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    app.extensions["redis"].flushdb()  # Redis restarted without its data: the job is gone

    assert ticks.reconcile_stuck() == []  # not stuck yet
    later = _later(app)
    assert ticks.reconcile_stuck(later) == [outcome.batch_id]
    assert ticks.reconcile_stuck(later) == []  # a second reconciler at once does nothing
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 1

    drain()
    (batch,) = batches()
    assert batch.status == "delivered" and len(attached_lead_ids(batch.id)) == 5
    assert ticks.reconcile_stuck(_later(app) + timedelta(hours=1)) == []  # delivered: left alone


def test_reconciling_a_batch_whose_job_still_exists_delivers_it_once(world, app):
    factories.leads(world.a.campaign, 5)
    sending.batch_now([world.a.integration.id], world.a.users["manager"])
    assert len(ticks.reconcile_stuck(_later(app))) == 1
    assert Queue(SEND_QUEUE, connection=app.extensions["redis"]).count == 2  # original + re-enqueued
    drain()
    (batch,) = batches()
    assert batch.status == "delivered" and batch.attempts == 1
    assert len(delivered_files(world.a.integration.delivery["directory"])) == 1


def test_failed_and_delivered_batches_are_never_reenqueued(world, app):
    factories.leads(world.a.campaign, 2)
    integ = world.a.integration
    good = dict(integ.delivery)
    integ.delivery = {"directory": "/etc/not-allowed"}
    db.session.commit()
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    assert batches()[0].status == "failed"
    assert ticks.reconcile_stuck(_later(app)) == []
    integ.delivery = good
    db.session.commit()


@pytest.mark.slow
@pytest.mark.parametrize("stage", ["after_claim", "after_store", "during_upload"])
def test_a_worker_sigkilled_mid_send_then_reconciler_and_fresh_worker(
    world, app, session_dir, database_url, redis_url, stage
):
    """Real `flask rq worker` subprocesses; the pipeline's test hook SIGKILLs horse and worker."""
    integ = world.a.integration
    factories.leads(world.a.campaign, 60)  # a file of several KB: the upload is cut mid-way
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    db.session.commit()
    env = worker_env(session_dir, database_url, redis_url, SEND_JOB_TIMEOUT="2")

    killed = run_worker({**env, "BM_TEST_CRASH_AT": stage})
    assert killed.returncode == -9, killed.stderr[-2000:]

    db.session.expire_all()
    batch = db.session.get(SentBatch, outcome.batch_id)
    destination = integ.delivery["directory"]
    expected_status = "claimed" if stage == "after_claim" else "stored"
    assert batch.status == expected_status
    assert batch.attempts == (1 if stage == "during_upload" else 0)
    assert delivered_files(destination) == []
    assert len(attached_lead_ids(batch.id)) == 60

    # The dead job's lock expires with the job timeout; only then may another job take the batch.
    redis = app.extensions["redis"]
    deadline = time.monotonic() + 10
    while redis.exists(f"bm:batch-lock:{batch.id}") and time.monotonic() < deadline:
        time.sleep(0.2)

    assert ticks.reconcile_stuck(_later(app)) == [batch.id]
    fresh = run_worker(env)
    assert fresh.returncode == 0, fresh.stderr[-2000:]

    db.session.expire_all()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered"
    (delivered,) = delivered_files(destination)
    assert delivered.name == batch.file_name and delivered.read_bytes() == stored_bytes(batch)
    lead_ids = [int(row[0]) for row in csv_rows(delivered.read_bytes())[1:]]
    assert sorted(lead_ids) == sorted(attached_lead_ids(batch.id)) and len(set(lead_ids)) == 60
    assert len(batches()) == 1
