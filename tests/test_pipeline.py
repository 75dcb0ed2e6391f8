"""The file pipeline: idempotent stages, checksums, the batch lease, RQ retries."""

from __future__ import annotations

import gzip

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services import pipeline, sending
from app.services.actors import SYSTEM
from app.services.storage import get_store
from tests import factories
from tests.engine_support import attached_lead_ids, batches, csv_rows, delivered_files, drain, local_dir, stored_bytes


def _claim(world, n: int = 5, **settings) -> SentBatch:
    integ = world.a.integration
    for key, value in settings.items():
        setattr(integ, key, value)
    db.session.commit()
    factories.leads(world.a.campaign, n)
    outcomes = sending.send_integration(integ.id, "schedule", SYSTEM)
    # The jobs just enqueued are not run here: these tests drive process_batch directly.
    world.a.integration  # noqa: B018 - keep the fixture object alive
    return db.session.get(SentBatch, outcomes[0].batch_id)


def test_a_batch_already_delivered_is_left_alone(world, app):
    batch = _claim(world)
    assert pipeline.process_batch(batch.id) == "delivered"
    before = db.session.get(SentBatch, batch.id)
    attempts, sent_at = before.attempts, before.sent_at
    assert pipeline.process_batch(batch.id) == "delivered"
    db.session.expire_all()
    after = db.session.get(SentBatch, batch.id)
    assert (after.attempts, after.sent_at) == (attempts, sent_at)
    assert (
        len(delivered_files(local_dir(world.a.integration.enterprise_id, world.a.integration.delivery["directory"])))
        == 1
    )


def test_rebuilding_a_claimed_batch_gives_the_same_name_and_bytes(world):
    batch = _claim(world, 9, compression="gzip")
    assert pipeline.process_batch(batch.id) == "delivered"
    first = db.session.get(SentBatch, batch.id)
    name, sha, size = first.file_name, first.sha256, first.size_bytes
    assert name.endswith(".csv.gz")
    rows = csv_rows(gzip.decompress(stored_bytes(first)))
    assert len(rows) == 10 and [int(r[0]) for r in rows[1:]] == attached_lead_ids(batch.id)

    # As if the worker died after storing but before the database heard of it.
    db.session.execute(
        SentBatch.__table__.update().where(SentBatch.id == batch.id).values(status="claimed", sha256=None)
    )
    db.session.commit()
    assert pipeline.process_batch(batch.id) == "delivered"
    db.session.expire_all()
    again = db.session.get(SentBatch, batch.id)
    assert (again.file_name, again.sha256, again.size_bytes) == (name, sha, size)
    (delivered,) = delivered_files(
        local_dir(world.a.integration.enterprise_id, world.a.integration.delivery["directory"])
    )
    assert delivered.read_bytes() == stored_bytes(again)


def test_a_stored_file_that_changed_is_never_delivered(world):
    batch = _claim(world)
    batch.delivery_method = "local"
    integ = world.a.integration
    good = dict(integ.delivery)
    integ.delivery = {"directory": "/etc/not-allowed"}
    db.session.commit()
    assert pipeline.process_batch(batch.id) == "failed"  # stored, delivery refused
    with get_store().write(db.session.get(SentBatch, batch.id).storage_key) as out:
        out.write(b"tampered")
    integ = db.session.get(BatchCsvIntegration, integ.id)
    integ.delivery = good
    db.session.commit()
    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "failed" and "checksum" in batch.last_error
    assert len(attached_lead_ids(batch.id)) == 5
    assert delivered_files(local_dir(integ.enterprise_id, good["directory"])) == []


def test_a_batch_leased_by_another_job_is_not_touched(world, app):
    from app.services import lease as leases

    batch = _claim(world)
    other = leases.acquire(batch.id)
    assert other is not None
    try:
        assert pipeline.process_batch(batch.id) == "busy"
        db.session.expire_all()
        assert db.session.get(SentBatch, batch.id).status == "claimed"
    finally:
        other.release()
    assert pipeline.process_batch(batch.id) == "delivered"
    db.session.expire_all()
    done = db.session.get(SentBatch, batch.id)
    assert (done.lease_owner, done.lease_until) == (None, None)  # released


def test_a_file_whose_rows_do_not_match_its_leads_is_failed(world):
    batch = _claim(world, 4)
    db.session.execute(SentBatch.__table__.update().where(SentBatch.id == batch.id).values(lead_count=5))
    db.session.commit()
    assert pipeline.process_batch(batch.id) == "failed"
    db.session.expire_all()
    assert "4 rows but the batch holds 5 leads" in db.session.get(SentBatch, batch.id).last_error


def _sftp(world, server) -> BatchCsvIntegration:
    from app.services import credentials

    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "sftp login", "password", server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", server.settings(), cred.id
    db.session.commit()
    return integ


def test_a_transient_failure_with_retries_left_asks_rq_to_retry_then_fails_on_the_last(world, sftp_server):
    _sftp(world, sftp_server)
    batch = _claim(world)
    sftp_server.stop()
    with pytest.raises(pipeline.RetryLater):
        pipeline.process_batch(batch.id, final_attempt=False)
    db.session.expire_all()
    waiting = db.session.get(SentBatch, batch.id)
    assert waiting.status == "stored" and "refused" in waiting.last_error and waiting.attempts == 1
    assert pipeline.process_batch(batch.id, final_attempt=True) == "failed"
    db.session.expire_all()
    failed = db.session.get(SentBatch, batch.id)
    assert failed.attempts == 2 and len(attached_lead_ids(batch.id)) == 5


def test_the_worker_runs_jobs_with_rq_retries_until_the_destination_answers(world, app, sftp_server):
    """SFTP down: RQ retries (no wait in tests), the batch ends failed with its leads; back up: retry works."""
    app.config["SEND_RETRY_INTERVALS"] = [0, 0]
    integ = _sftp(world, sftp_server)
    factories.leads(world.a.campaign, 6)
    sftp_server.stop()
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "failed" and batch.attempts == 3  # first try + two RQ retries
    assert "refused" in batch.last_error
    assert len(attached_lead_ids(batch.id)) == 6

    sftp_server.start()
    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    db.session.expire_all()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered" and batch.last_error is None
    assert sftp_server.files() == {batch.file_name: stored_bytes(batch)}


@pytest.mark.parametrize("problem", ["wrong_password", "changed_host_key", "unknown_host_key"])
def test_permanent_sftp_failures_fail_at_once_with_a_clear_error_and_retry_works_once_fixed(
    world, app, sftp_server, client_keypair, problem
):
    from app.services import credentials
    from tests.servers.sftp import SftpServer

    app.config["SEND_RETRY_INTERVALS"] = [0, 0]
    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "sftp login", "password", sftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", sftp_server.settings(), cred.id
    if problem == "wrong_password":
        credentials.update_secret(cred, "not-the-password")
    elif problem == "changed_host_key":
        sftp_server.replace_host_key()
    else:
        other = SftpServer(sftp_server.root.parent / "other")
        integ.delivery = sftp_server.settings(hostKey=other.host_key_line)
        other.shutdown()
    db.session.commit()
    factories.leads(world.a.campaign, 3)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "failed" and batch.attempts == 1  # not retried: it would fail again
    expected = "authentication" if problem == "wrong_password" else "host key"
    assert expected in batch.last_error.lower()
    assert sftp_server.password not in batch.last_error
    assert len(attached_lead_ids(batch.id)) == 3 and sftp_server.files() == {}

    integ = db.session.get(BatchCsvIntegration, integ.id)
    if problem == "wrong_password":
        credentials.update_secret(db.session.get(type(cred), cred.id), sftp_server.password)
    else:
        integ.delivery = sftp_server.settings()
    db.session.commit()
    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered"
    assert sftp_server.files() == {batch.file_name: stored_bytes(batch)}


def test_sent_batches_record_who_and_what(world):
    factories.leads(world.a.campaign, 2)
    sending.batch_now([world.a.integration.id], world.a.users["admin"])
    drain()
    batch = db.session.scalars(select(SentBatch)).one()
    assert batch.triggered_by_id == world.a.users["admin"].id
    assert batch.field_mapping == factories.DEFAULT_FIELDS
    assert batch.file_settings["format"] == "csv" and batch.delivery_method == "local"
    assert batch.stored_at <= batch.sent_at


def test_a_destination_refusing_the_upload_fails_clearly_and_retry_works_once_fixed(world, app, sftp_server):
    """The server is up but refuses the file (its upload folder is missing)."""
    app.config["SEND_RETRY_INTERVALS"] = [0]
    integ = _sftp(world, sftp_server)
    integ.delivery = sftp_server.settings(remote_dir="/incoming")
    db.session.commit()
    factories.leads(world.a.campaign, 4)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "failed" and "/incoming" in batch.last_error
    assert len(attached_lead_ids(batch.id)) == 4

    (sftp_server.root / "incoming").mkdir()
    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered"
    assert sftp_server.files("/incoming") == {batch.file_name: stored_bytes(batch)}


def test_ftp_down_then_back(world, app, ftp_server):
    app.config["SEND_RETRY_INTERVALS"] = [0]
    from app.services import credentials

    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "ftp login", "password", ftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "ftp", ftp_server.settings(), cred.id
    db.session.commit()
    factories.leads(world.a.campaign, 4)
    ftp_server.stop()
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "failed" and batch.attempts == 2 and "refused" in batch.last_error
    ftp_server.start()
    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered"
    assert ftp_server.files() == {batch.file_name: stored_bytes(batch)}
