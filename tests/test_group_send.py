"""A group of plain scheduled sends claimed, stored and delivered set-based (app.services.group_send).

PostgreSQL only: on SQLite every slot takes the per-slot path. Exactly-once holds per
file as on the per-slot path: one file per slot, every pending lead in exactly one file,
a failing destination in the middle of a group touches only its own file, and a worker
killed mid-group leaves files that expire and that the reconciler hands on.
"""

from __future__ import annotations

import errno
import time

import pytest
from rq import Queue
from sqlalchemy import event, text

from app.extensions import db
from app.models.types import utcnow
from app.services import file_sync, pipeline, scheduled_send, ticks
from app.services.queueing import SEND_QUEUE
from app.services.storage import get_store
from tests import factories
from tests.engine_support import (
    attached_lead_ids,
    batches,
    csv_rows,
    delivered_files,
    local_dir,
    pending_count,
    run_hooked_worker,
    run_worker,
    stored_bytes,
    worker_env,
)

SLOT = "202606010600"


@pytest.fixture(autouse=True)
def _postgres_only(app):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the set-based group runs on PostgreSQL only")


def _commits(run) -> int:
    seen = []
    listener = lambda conn: seen.append(1)  # noqa: E731
    event.listen(db.engine, "commit", listener)
    try:
        run()
    finally:
        event.remove(db.engine, "commit", listener)
    return len(seen)


def _assert_one_file_each(integrations, leads: int, attempts: int = 1) -> None:
    """Each integration: one delivered file, at its destination, holding each of its leads exactly once."""
    for integ in integrations:
        (batch,) = batches(integ.id)
        assert (batch.status, batch.lead_count, batch.attempts, batch.lease_owner) == (
            "delivered",
            leads,
            attempts,
            None,
        )
        (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
        assert delivered.name == batch.file_name and delivered.read_bytes() == stored_bytes(batch)
        lead_ids = [int(row[0]) for row in csv_rows(delivered.read_bytes())[1:]]
        assert sorted(lead_ids) == sorted(attached_lead_ids(batch.id)) and len(set(lead_ids)) == leads
    assert sum(pending_count(i.id) for i in integrations) == 0


def test_a_group_sends_one_file_per_slot_with_each_lead_once_in_three_commits(world, app):
    campaign = world.a.campaign
    integrations = [world.a.integration] + [factories.integration(campaign) for _ in range(3)]
    factories.leads(campaign, 7)
    slots = [(i.id, SLOT) for i in integrations]

    commits = _commits(lambda: scheduled_send.send_slots(slots))

    # The claim, the move to stored and the move to delivered: one commit each for the whole group.
    assert commits == 3
    _assert_one_file_each(integrations, 7)
    for integ in integrations:
        db.session.refresh(integ)
        assert (integ.pending_count, integ.last_file_status) == (0, "delivered")
        assert integ.last_sent_at == batches(integ.id)[0].sent_at
    audited = db.session.execute(
        text("SELECT target_id, details FROM audit_events WHERE action = 'send.schedule' ORDER BY target_id")
    ).all()
    assert [(int(t), d["leadCount"]) for t, d in audited] == [(i.id, 7) for i in integrations]
    # A retry of the group (its worker killed after the claim) sends nothing twice.
    assert scheduled_send.send_slots(slots) == []
    assert len(batches()) == 4


def test_a_group_claims_only_what_is_pending_and_leaves_the_unusual_to_the_per_slot_send(world, app):
    campaign = world.a.campaign
    plain, split = world.a.integration, factories.integration(campaign)
    split.max_leads_per_file = 3
    # A pending count that says 2 while nothing is queued: the group's file claims nothing.
    stale = factories.integration(factories.campaign(world.a.advertiser), pending_count=2)
    db.session.commit()
    factories.leads(campaign, 5, prefix="old")
    scheduled_send.send_slots([(plain.id, "202605310600")])  # yesterday's file holds the first 5
    factories.leads(campaign, 4, prefix="new")

    outcomes = scheduled_send.send_slots([(i.id, SLOT) for i in (plain, split, stale)])

    old, new = batches(plain.id)
    assert (new.status, new.lead_count) == ("delivered", 4)  # only the 4 new ones, none of yesterday's
    assert not set(attached_lead_ids(old.id)) & set(attached_lead_ids(new.id))
    # The split went the per-slot way: its first file delivered here, the rest queued.
    assert [(b.status, b.lead_count) for b in batches(split.id)] == [("delivered", 3), ("claimed", 3), ("claimed", 3)]
    # Nothing pending after all: the per-slot send records the slot's empty run, as for any empty slot.
    assert [(b.status, b.lead_count) for b in batches(stale.id)] == [("empty", 0)]
    assert sorted((o["integrationId"], o["status"]) for o in outcomes) == sorted(
        [(plain.id, "queued")] + [(split.id, "queued")] * 3 + [(stale.id, "empty")]
    )


def test_a_failing_destination_in_the_middle_of_a_group_fails_only_its_own_file(world, app, monkeypatch):
    monkeypatch.setitem(app.config, "SEND_RETRY_INTERVALS", [])  # its one attempt is the last
    campaign = world.a.campaign
    first, middle, last = world.a.integration, factories.integration(campaign), factories.integration(campaign)
    factories.leads(campaign, 6)
    blocked = local_dir(middle.enterprise_id, middle.delivery["directory"])
    blocked.parent.mkdir(parents=True, exist_ok=True)
    blocked.write_text("a file where the folder should be")

    scheduled_send.send_slots([(i.id, SLOT) for i in (first, middle, last)])

    _assert_one_file_each([first, last], 6)
    (failed,) = batches(middle.id)
    assert (failed.status, failed.attempts, failed.lease_owner, failed.lead_count) == ("failed", 1, None, 6)
    assert failed.last_error
    assert len(attached_lead_ids(failed.id)) == 6  # its leads stay with it, for retry or requeue
    db.session.refresh(middle)
    assert (middle.consecutive_failures, middle.last_file_status) == (1, "failed")


def test_a_transient_failure_in_the_middle_of_a_group_is_retried_later_on_its_own(world, app, monkeypatch, sftp_server):
    from app.services import credentials

    monkeypatch.setitem(app.config, "SEND_RETRY_INTERVALS", [30, 60])
    campaign = world.a.campaign
    first, middle, last = world.a.integration, factories.integration(campaign), factories.integration(campaign)
    login = credentials.create_credential(middle.enterprise_id, "sftp login", "password", sftp_server.password)
    middle.delivery_method, middle.delivery, middle.credential_id = "sftp", sftp_server.settings(), login.id
    db.session.commit()
    factories.leads(campaign, 6)
    sftp_server.stop()

    scheduled_send.send_slots([(i.id, SLOT) for i in (first, middle, last)])

    _assert_one_file_each([first, last], 6)
    (waiting,) = batches(middle.id)
    assert (waiting.status, waiting.attempts, waiting.lease_owner) == ("stored", 1, None)
    assert "refused" in waiting.last_error and waiting.next_attempt_at is not None
    scheduled = Queue(SEND_QUEUE, connection=app.extensions["redis"]).scheduled_job_registry.get_job_ids()
    assert [job_id.rsplit("-", 1)[0] for job_id in scheduled] == [f"batch-{waiting.id}-retry"]
    sftp_server.start()
    assert pipeline.process_batch(waiting.id) == "delivered"
    assert sftp_server.files() == {waiting.file_name: stored_bytes(waiting)}
    assert len(attached_lead_ids(waiting.id)) == 6


def test_a_group_syncs_its_files_together_before_each_commit_that_records_them(world, app, monkeypatch):
    """The real fsync runs; the spy only notes its paths, since what a sync promises shows only after a
    machine crash, which a test cannot cause."""
    campaign = world.a.campaign
    integrations = [world.a.integration, factories.integration(campaign), factories.integration(campaign)]
    factories.leads(campaign, 5)
    synced: list[str] = []
    real_fsync = file_sync.fsync_path
    monkeypatch.setattr(file_sync, "fsync_path", lambda path: (synced.append(path), real_fsync(path)))
    seen_at_commits: list[list[str]] = []
    listener = lambda conn: seen_at_commits.append(sorted(synced))  # noqa: E731
    event.listen(db.engine, "commit", listener)
    try:
        scheduled_send.send_slots([(i.id, SLOT) for i in integrations])
    finally:
        event.remove(db.engine, "commit", listener)

    _assert_one_file_each(integrations, 5)
    files = [b for i in integrations for b in batches(i.id)]
    store = get_store()
    stored = sorted(store.path(b.storage_key) for b in files)
    claim, to_stored, to_delivered = seen_at_commits
    assert claim == []
    assert to_stored == stored  # every stored file synced before the row says stored
    # ... and every delivered file synced under its hidden name before the row says delivered.
    partials = sorted(set(to_delivered) - set(stored))
    assert len(to_delivered) == 2 * len(files) and len(partials) == len(files)
    for integ, b in zip(integrations, files, strict=True):
        folder = local_dir(integ.enterprise_id, integ.delivery["directory"]).resolve()
        assert sum(p.startswith(f"{folder}/.{b.file_name}.{b.id}.part") for p in partials) == 1


@pytest.mark.parametrize(("failing", "left_as", "attempts"), [("store", "claimed", 1), ("delivery", "stored", 2)])
def test_a_group_whose_files_will_not_sync_records_nothing_and_hands_each_file_on(
    world, app, monkeypatch, failing, left_as, attempts
):
    """A disk that fails fsync (EIO) cannot be made on demand here, so fsync_path raises instead:
    for the store's files, or for the hidden files of the deliveries."""
    campaign = world.a.campaign
    integrations = [world.a.integration, factories.integration(campaign), factories.integration(campaign)]
    factories.leads(campaign, 5)
    outbox = str(local_dir(world.a.integration.enterprise_id, ".").resolve())
    real_fsync = file_sync.fsync_path

    def disk_error(path: str) -> None:
        if path.startswith(outbox) == (failing == "delivery"):
            raise OSError(errno.EIO, "Input/output error")
        real_fsync(path)

    monkeypatch.setattr(file_sync, "fsync_path", disk_error)
    scheduled_send.send_slots([(i.id, SLOT) for i in integrations])

    files = [b for i in integrations for b in batches(i.id)]
    assert [(b.status, b.attempts, b.lease_owner) for b in files] == [(left_as, attempts - 1, None)] * 3
    for integ in integrations:  # no file under its name, and no hidden partial left behind
        folder = local_dir(integ.enterprise_id, integ.delivery["directory"])
        assert not folder.exists() or list(folder.iterdir()) == []
    queued = Queue(SEND_QUEUE, connection=app.extensions["redis"]).get_job_ids()
    assert sorted(job_id.split("-")[1] for job_id in queued) == sorted(str(b.id) for b in files)
    monkeypatch.undo()  # the disk recovers: each file's own job builds or delivers it once
    for b in files:
        assert pipeline.process_batch(b.id) == "delivered"
    _assert_one_file_each(integrations, 5, attempts=attempts)


@pytest.mark.slow
@pytest.mark.parametrize(("stage", "left_as"), [("build", "claimed"), ("upload", "stored")])
def test_a_worker_killed_mid_group_leaves_files_the_reconciler_finishes_once(
    world, app, session_dir, database_url, redis_url, tmp_path, monkeypatch, stage, left_as
):
    """A real worker runs the group job and is SIGKILLed (tests/hooked_worker.py) in the middle
    of building, or of uploading, the group's second file."""
    monkeypatch.setitem(app.config, "SEND_GROUP_SIZE", 3)
    campaign = world.a.campaign
    integrations = [world.a.integration, factories.integration(campaign), factories.integration(campaign)]
    factories.leads(campaign, 60)  # files of several KB: the upload is cut mid-way
    now = utcnow().replace(second=0, microsecond=0)
    for integ in integrations:
        integ.next_run_at = now
    db.session.commit()
    assert len(ticks.enqueue_due_sends(now)) == 3
    # The group inserts its files in integration order, with the next ids of the sequence.
    taken = db.session.scalar(text("SELECT nextval(pg_get_serial_sequence('sent_batches', 'id'))"))
    db.session.commit()
    ids = [taken + 1, taken + 2, taken + 3]
    short_lease = {"SEND_LEASE_SECONDS": "5", "SEND_HEARTBEAT_SECONDS": "1", "SEND_GROUP_SIZE": "3"}
    env = worker_env(session_dir, database_url, redis_url, HOOK_DIR=str(tmp_path), **short_lease)

    killed = run_hooked_worker({**env, f"HOOK_{stage.upper()}": f"{ids[1]}:crash"})

    assert killed.returncode == -9, killed.stderr[-2000:]
    assert (tmp_path / f"{stage}-{ids[1]}").exists()
    found = batches()
    assert [(b.id, b.integration_id, b.status) for b in found] == [
        (batch_id, integ.id, left_as) for batch_id, integ in zip(ids, integrations, strict=True)
    ]
    assert all(b.lease_owner is not None for b in found)  # still the dead group's
    for b in found:
        assert len(attached_lead_ids(b.id)) == 60

    time.sleep(5.2)  # the group's leases expire unrenewed
    assert sorted(ticks.reconcile_stuck()) == ids
    fresh = run_worker(env)
    assert fresh.returncode == 0, fresh.stderr[-2000:]
    # A stored file's delivery is counted again by the job that finishes it.
    _assert_one_file_each(integrations, 60, attempts=2 if left_as == "stored" else 1)
