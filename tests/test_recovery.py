"""Recovery with real processes: killed work horses, a slow send, a Redis outage.

Each test runs real `flask rq worker` and `flask rq cron` processes (tests/hooked_worker.py
adds the test's slow-down points) on the test's database, and checks what a user would:
every file delivered once, whole, soon enough.
"""

from __future__ import annotations

import os
import signal
import time

import pytest

from app import create_app
from app.extensions import db
from app.models import SentBatch
from app.services import sending
from app.services.queueing import enqueue_process
from tests import factories
from tests.conftest import make_config
from tests.engine_support import attached_lead_ids, csv_rows, local_dir, stored_bytes, worker_env
from tests.process_support import OwnedRedis, Process, marker_pid, wait_for

pytestmark = pytest.mark.slow


def _statuses(ids: list[int]) -> dict[int, str]:
    db.session.expire_all()
    return {i: db.session.get(SentBatch, i).status for i in ids}


def _assert_delivered_once(integration, batch_id: int, leads: int) -> None:
    """One whole file at the destination (no second copy, no partial left), holding each lead once."""
    db.session.expire_all()
    batch = db.session.get(SentBatch, batch_id)
    assert batch.status == "delivered"
    directory = local_dir(integration.enterprise_id, integration.delivery["directory"])
    entries = sorted(os.listdir(directory))
    assert entries == [batch.file_name], entries
    with open(os.path.join(directory, batch.file_name), "rb") as fh:
        data = fh.read()
    assert data == stored_bytes(batch)
    lead_ids = [int(row[0]) for row in csv_rows(data)[1:]]
    assert sorted(lead_ids) == sorted(attached_lead_ids(batch_id)) and len(set(lead_ids)) == leads


def _store_leftovers(session_dir, batch: SentBatch) -> list[str]:
    folder = session_dir / "files" / f"e{batch.enterprise_id}" / f"b{batch.id}"
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name) if folder.exists() else []


def test_work_horses_killed_mid_build_and_mid_upload_deliver_within_two_minutes(
    world, app, session_dir, database_url, redis_url, tmp_path
):
    """Default settings: kill -9 of the horse building one file and of the horse uploading another."""
    first, second = world.a.integration, factories.integration(world.a.campaign)
    factories.leads(world.a.campaign, 60)  # a file of several KB: the upload is cut mid-way
    ids = [o.batch_id for o in sending.batch_now([first.id, second.id], world.a.users["manager"])]
    env = worker_env(
        session_dir,
        database_url,
        redis_url,
        HOOK_DIR=str(tmp_path),
        HOOK_BUILD=f"{ids[0]}:pause:600",
        HOOK_UPLOAD=f"{ids[1]}:pause:600",
        LOG_LEVEL="INFO",
    )
    worker = Process(["rq", "worker"], env, tmp_path / "worker.log")
    cron = Process(["rq", "cron"], env, tmp_path / "cron.log")
    try:
        killed_at = {}
        for stage, batch_id in (("build", ids[0]), ("upload", ids[1])):
            pid = marker_pid(tmp_path / f"{stage}-{batch_id}", 60)
            os.kill(pid, signal.SIGKILL)
            killed_at[batch_id] = time.monotonic()
        assert _statuses(ids) == {ids[0]: "claimed", ids[1]: "stored"}

        delivered_after = {}

        def all_delivered() -> bool:
            for batch_id, status in _statuses(ids).items():
                if status == "delivered" and batch_id not in delivered_after:
                    delivered_after[batch_id] = time.monotonic() - killed_at[batch_id]
            return len(delivered_after) == len(ids)

        wait_for(all_delivered, 150, "both files to be delivered", step=1)
        assert max(delivered_after.values()) <= 120, delivered_after
        assert worker.alive and cron.alive  # the worker outlived its killed horses
    finally:
        worker_rc, cron_rc = worker.stop(), cron.stop()
    assert (worker_rc, cron_rc) == (0, 0), worker.output()[-3000:] + cron.output()[-3000:]

    for integration, batch_id in zip((first, second), ids, strict=True):
        _assert_delivered_once(integration, batch_id, 60)
    db.session.expire_all()
    built, uploaded = (db.session.get(SentBatch, i) for i in ids)
    assert (built.attempts, uploaded.attempts) == (1, 2)
    assert _store_leftovers(session_dir, built) == []  # the killed build's temp file was discarded
    print(f"recovery after kill -9 (s): { ({k: round(v, 1) for k, v in delivered_after.items()}) }")


def _running(pid: int) -> bool:
    """Whether the process exists and has not exited (a zombie nobody reaped yet has exited)."""
    try:
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_a_killed_worker_parent_takes_its_pool_process_with_it_once_the_file_in_hand_is_delivered(
    world, app, session_dir, database_url, redis_url, tmp_path
):
    """kill -9 of `flask rq worker` (the OOM killer, a supervisor's last resort) while its pool
    process uploads a file: the process finishes that file and exits, rather than living on as
    a worker nobody manages (a restarted `flask rq worker` would run beside it)."""
    factories.leads(world.a.campaign, 60)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    env = worker_env(
        session_dir, database_url, redis_url, HOOK_DIR=str(tmp_path), HOOK_UPLOAD=f"{outcome.batch_id}:pause:3"
    )
    worker = Process(["rq", "worker"], env, tmp_path / "worker.log")
    try:
        pool_process = marker_pid(tmp_path / f"upload-{outcome.batch_id}", 60)
        assert pool_process != worker.popen.pid  # the job runs in the pool's process
        os.kill(worker.popen.pid, signal.SIGKILL)
        wait_for(lambda: not _running(pool_process), 30, "the pool process to exit", step=0.5)
        assert _statuses([outcome.batch_id]) == {outcome.batch_id: "delivered"}
    finally:
        worker.stop()
    _assert_delivered_once(world.a.integration, outcome.batch_id, 60)


def test_a_slow_send_that_outlives_its_lease_is_never_taken_over(
    world, app, session_dir, database_url, redis_url, tmp_path
):
    """The upload pauses for 8 heartbeats, twice the lease; the reconciler runs every second and a
    second worker waits for work. The heartbeat keeps the lease, so nobody else sends the file."""
    factories.leads(world.a.campaign, 60)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    fast = {"SEND_LEASE_SECONDS": "4", "SEND_HEARTBEAT_SECONDS": "1", "RECONCILE_INTERVAL_SECONDS": "1"}
    env = worker_env(session_dir, database_url, redis_url, HOOK_DIR=str(tmp_path), LOG_LEVEL="INFO", **fast)
    slow = Process(["rq", "worker"], {**env, "HOOK_UPLOAD": f"{outcome.batch_id}:pause:8"}, tmp_path / "slow.log")
    marker_pid(tmp_path / f"upload-{outcome.batch_id}", 60)
    idle = Process(["rq", "worker"], env, tmp_path / "idle.log")
    cron = Process(["rq", "cron"], env, tmp_path / "cron.log")
    try:
        wait_for(lambda: _statuses([outcome.batch_id])[outcome.batch_id] == "delivered", 60, "the delivery")
        time.sleep(3)  # a take-over would deliver again now
    finally:
        codes = [p.stop() for p in (slow, idle, cron)]
    assert codes == [0, 0, 0]
    _assert_delivered_once(world.a.integration, outcome.batch_id, 60)
    db.session.expire_all()
    assert db.session.get(SentBatch, outcome.batch_id).attempts == 1
    assert "Registered 'jobs.tick.reconcile'" in cron.output()
    assert "process file" not in idle.output()  # the idle worker never got the batch


def test_a_worker_and_the_scheduler_ride_out_a_20_second_redis_outage(world, app, session_dir, database_url, tmp_path):
    """The test's own redis-server is stopped while a job runs and started again 20 s later."""
    owned = OwnedRedis(tmp_path)
    owned.start()
    try:
        factories.leads(world.a.campaign, 60)
        second = factories.integration(world.a.campaign)
        (during,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
        env = worker_env(
            session_dir,
            database_url,
            owned.url,
            HOOK_DIR=str(tmp_path),
            HOOK_UPLOAD=f"{during.batch_id}:pause:3",
            RECONCILE_INTERVAL_SECONDS="2",
            LOG_LEVEL="INFO",
        )
        other = create_app(make_config(session_dir, database_url, owned.url))
        with other.app_context():
            enqueue_process(during.batch_id)
        worker = Process(["rq", "worker"], env, tmp_path / "worker.log")
        cron = Process(["rq", "cron"], env, tmp_path / "cron.log")
        try:
            marker_pid(tmp_path / f"upload-{during.batch_id}", 60)
            owned.stop()  # the job ends while Redis is away
            time.sleep(20)
            assert worker.alive and cron.alive
            owned.start()  # empty: the outage lost every queue and job record
            wait_for(lambda: "reconnected" in worker.output(), 30, "the worker to reconnect")
            wait_for(lambda: "reconnected" in cron.output(), 30, "the scheduler to reconnect")

            # The worker still takes new work after the outage.
            factories.leads(world.a.campaign, 5, prefix="late")
            (after,) = sending.batch_now([second.id], world.a.users["manager"])
            with other.app_context():
                enqueue_process(after.batch_id)
            wait_for(lambda: set(_statuses([during.batch_id, after.batch_id]).values()) == {"delivered"}, 60, "both")
            assert worker.alive and cron.alive
        finally:
            codes = worker.stop(), cron.stop()
        assert codes == (0, 0), worker.output()[-3000:] + cron.output()[-3000:]
        assert "Redis is unreachable" in worker.output() and "Redis is unreachable" in cron.output()
        back = [line for p in (worker, cron) for line in p.output().splitlines() if "Redis is back" in line]
        print("after the outage:", *back, sep="\n  ")
        _assert_delivered_once(world.a.integration, during.batch_id, 60)
        _assert_delivered_once(second, after.batch_id, 5)
    finally:
        owned.stop()
