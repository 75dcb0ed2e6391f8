"""The batch lease: one live job per batch, taken over only once expired, and the temp-file sweep."""

from __future__ import annotations

import io
import os
import time
from datetime import UTC, datetime, timedelta

import pytest
from flask import current_app
from rq import Queue
from sqlalchemy import select

from app.extensions import db
from app.models import Lead, SentBatch
from app.models.types import utcnow
from app.services import lease as leases
from app.services import sending, ticks
from app.services.lease import LeaseLost
from app.services.queueing import TICK_QUEUE
from jobs.tick import build_cron_scheduler
from tests import factories
from tests.engine_support import drain


def _claimed(world) -> int:
    factories.leads(world.a.campaign, 3)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    current_app.extensions["redis"].flushdb()  # the tests drive the batch by hand, not through its job
    return outcome.batch_id


def _lease_row(batch_id: int) -> tuple[str | None, datetime | None]:
    db.session.expire_all()
    batch = db.session.get(SentBatch, batch_id)
    return batch.lease_owner, batch.lease_until


def test_a_live_lease_is_left_alone_and_an_expired_one_is_taken_over_once(world, app):
    batch_id = _claimed(world)
    held = leases.acquire(batch_id)
    assert held is not None and leases.acquire(batch_id) is None  # one holder at a time
    ttl = app.config["SEND_LEASE_SECONDS"]

    assert ticks.reconcile_stuck(utcnow() + timedelta(seconds=ttl - 5)) == []
    later = utcnow() + timedelta(seconds=ttl + 1)
    assert ticks.reconcile_stuck(later) == [batch_id]
    assert ticks.reconcile_stuck(later) == []  # a second reconciler at once does nothing
    assert _lease_row(batch_id) == (None, None)
    assert Queue("send", connection=app.extensions["redis"]).count == 1

    # The old holder, back from the dead, finds out and may no longer work or write.
    assert held.renew() is False
    with pytest.raises(LeaseLost):
        held.check()
    successor = leases.acquire(batch_id)
    assert successor is not None
    held.release()  # releases nothing that is not its own
    assert _lease_row(batch_id)[0] == successor.token
    successor.release()


def test_a_holder_that_cannot_renew_stops_before_anyone_may_take_over(world, app):
    """No heartbeat (as if the database were away): the holder's own deadline passes a
    heartbeat before its lease_until, so it has stopped by the time another job may start."""
    # Safe for 1 s; lease_until stays 29 s further on, so a slow machine cannot blur the two.
    app.config.update(SEND_LEASE_SECONDS=30, SEND_HEARTBEAT_SECONDS=29)
    batch_id = _claimed(world)
    held = leases.acquire(batch_id)
    stream = held.guard_stream(io.BytesIO(b"x" * 10))
    assert stream.read(4) == b"xxxx"
    time.sleep(1.2)
    with pytest.raises(LeaseLost):
        stream.read(4)
    with pytest.raises(LeaseLost):
        list(held.guard(range(3)))
    _, lease_until = _lease_row(batch_id)
    assert lease_until > datetime.now(UTC)  # still unexpired: nobody could have taken it yet
    assert leases.acquire(batch_id) is None
    held.release()


def test_the_heartbeat_keeps_a_slow_job_s_lease(world, app):
    app.config.update(SEND_LEASE_SECONDS=2, SEND_HEARTBEAT_SECONDS=0.3)
    batch_id = _claimed(world)
    held = leases.acquire(batch_id)
    held.start()
    try:
        _, first = _lease_row(batch_id)
        time.sleep(2.5)  # longer than the lease
        held.check()
        _, renewed = _lease_row(batch_id)
        assert renewed > first and renewed > datetime.now(UTC)
        assert ticks.reconcile_stuck() == []
    finally:
        held.release()
    assert _lease_row(batch_id) == (None, None)


def test_the_scheduler_sweeps_temp_files_left_by_killed_writers(app, session_dir):
    """The hourly sweep job, enqueued by the real cron scheduler and run by a worker."""
    folder = session_dir / "files" / "e90" / "b91"
    folder.mkdir(parents=True, exist_ok=True)
    dead = folder / ("file.csv.tmp-" + "d" * 32)
    live = folder / ("file.csv.tmp-" + "e" * 32)
    for path in (dead, live):
        path.write_bytes(b"partial")
    old = time.time() - app.config["SEND_JOB_TIMEOUT"] - 60
    os.utime(dead, (old, old))

    scheduler = build_cron_scheduler(app.extensions["redis"])
    (sweep,) = [job for job in scheduler.get_jobs() if job.func_name == "jobs.tick.sweep"]
    for job in scheduler.get_jobs():  # only the sweep is due
        job.next_enqueue_time = datetime.now(UTC) + timedelta(hours=1)
        job.latest_enqueue_time = datetime.now(UTC)
    sweep.next_enqueue_time = datetime.now(UTC) - timedelta(seconds=1)
    assert scheduler.enqueue_jobs() == [sweep]
    assert Queue(TICK_QUEUE, connection=app.extensions["redis"]).count == 1
    drain()
    assert not dead.exists() and live.exists()
    live.unlink()


def test_the_lease_renews_while_a_file_is_being_read_from_the_database(world, app):
    """A build streams its rows from an open query; the heartbeat must still write meanwhile
    (on SQLite this needs WAL: a rollback journal locks writers out until the read ends)."""
    batch_id = _claimed(world)
    held = leases.acquire(batch_id)
    rows = db.session.execute(select(Lead.id).execution_options(yield_per=1))
    assert rows.fetchmany(1)  # the query is open, mid-way
    try:
        assert held.renew() is True
    finally:
        rows.close()
        held.release()


def test_a_send_whose_lease_lapsed_mid_upload_leaves_the_batch_to_the_next_job(world, app, sftp_server, monkeypatch):
    """The lease lapses locally (no renewal in time) while the SFTP upload runs: the upload
    stops, the transport's error is not taken for a delivery failure, the batch stays stored."""
    from app.services import credentials, pipeline

    # Safe for 0.5 s after it is taken, and no renewal comes before the 29.5 s heartbeat: the
    # lease lapses locally however slowly the machine runs, and is still held in the database.
    app.config.update(SEND_LEASE_SECONDS=30, SEND_HEARTBEAT_SECONDS=29.5)
    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "sftp login", "password", sftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", sftp_server.settings(), cred.id
    db.session.commit()
    batch_id = _claimed(world)

    class Stalled:  # the link stalls before the first byte goes out
        def __init__(self, transport):
            self._transport = transport

        def deliver(self, source, settings, secret):
            time.sleep(0.8)
            return self._transport.deliver(source, settings, secret)

    real = pipeline.get_transport
    monkeypatch.setattr(pipeline, "get_transport", lambda method: Stalled(real(method)))
    assert pipeline.process_batch(batch_id, final_attempt=True) == "lost"
    db.session.expire_all()
    batch = db.session.get(SentBatch, batch_id)
    assert (batch.status, batch.last_error) == ("stored", None)
    assert sftp_server.files() == {}
    # Its lease is left to expire, and the reconciler then hands the batch to a new job.
    assert batch.lease_owner is not None and ticks.reconcile_stuck() == []
    assert ticks.reconcile_stuck(batch.lease_until + timedelta(seconds=1)) == [batch_id]
