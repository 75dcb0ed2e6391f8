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
from app.services.queueing import SEND_QUEUE
from tests import factories
from tests.engine_support import (
    attached_lead_ids,
    batches,
    csv_rows,
    delivered_files,
    drain,
    local_dir,
    run_hooked_worker,
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
    assert (
        len(delivered_files(local_dir(world.a.integration.enterprise_id, world.a.integration.delivery["directory"])))
        == 1
    )


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
def test_workers_sigkilled_at_each_stage_then_reconciler_and_a_fresh_worker(
    world, app, session_dir, database_url, redis_url, tmp_path
):
    """Real `flask rq worker` subprocesses; the test's hook (tests/hooked_worker.py) SIGKILLs
    horse and worker. Three integrations of one campaign each get a file; a worker dies in the
    middle of building the first, as the transport is handed the second and in the middle of
    uploading the third.
    """
    campaign = world.a.campaign
    integrations = [world.a.integration, factories.integration(campaign), factories.integration(campaign)]
    factories.leads(campaign, 60)  # a file of several KB: the upload is cut mid-way
    ids = [o.batch_id for o in sending.batch_now([i.id for i in integrations], world.a.users["manager"])]
    short_lease = {"SEND_LEASE_SECONDS": "5", "SEND_HEARTBEAT_SECONDS": "1"}
    env = worker_env(session_dir, database_url, redis_url, HOOK_DIR=str(tmp_path), **short_lease)

    for stage, batch_id in zip(("build", "deliver", "upload"), ids, strict=True):
        killed = run_hooked_worker({**env, f"HOOK_{stage.upper()}": f"{batch_id}:crash"})
        assert killed.returncode == -9, killed.stderr[-2000:]
        assert (tmp_path / f"{stage}-{batch_id}").exists()

    db.session.expire_all()
    found = [db.session.get(SentBatch, batch_id) for batch_id in ids]
    assert [b.status for b in found] == ["claimed", "stored", "stored"]
    assert [b.attempts for b in found] == [0, 1, 1]
    for integ, batch in zip(integrations, found, strict=True):
        assert delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"])) == []
        assert len(attached_lead_ids(batch.id)) == 60

    # A dead job's lease expires unrenewed; only then may another job take the batch.
    early = ticks.reconcile_stuck()
    assert ids[2] not in early  # killed a moment ago: its lease is still live
    time.sleep(5.2)
    assert sorted(early + ticks.reconcile_stuck()) == sorted(ids)
    fresh = run_worker(env)
    assert fresh.returncode == 0, fresh.stderr[-2000:]

    db.session.expire_all()
    for integ, batch_id in zip(integrations, ids, strict=True):
        batch = db.session.get(SentBatch, batch_id)
        assert batch.status == "delivered"
        (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))  # no duplicate file
        assert delivered.name == batch.file_name and delivered.read_bytes() == stored_bytes(batch)
        lead_ids = [int(row[0]) for row in csv_rows(delivered.read_bytes())[1:]]
        assert sorted(lead_ids) == sorted(attached_lead_ids(batch.id)) and len(set(lead_ids)) == 60
    assert len(batches()) == 3
