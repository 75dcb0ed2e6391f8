"""Trying to break invariants 1 and 5 with concurrent senders while leads keep arriving."""

from __future__ import annotations

import random
import threading

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BatchCsvIntegration, Campaign, Lead, QueueEntry, SentBatch, User
from app.services import sending
from app.services.actors import SYSTEM
from app.services.intake import ingest_leads
from tests.engine_support import (
    assert_each_entry_in_one_place,
    attached_lead_ids,
    counter,
    csv_rows,
    delivered_files,
    drain,
    local_dir,
    pending_count,
    run_concurrently,
    stored_bytes,
)


def _check_exactly_once(integration_id: int, expected_leads: int) -> None:
    """Every queued lead is in exactly one file or still pending; counters match reality."""
    db.session.expire_all()
    assert_each_entry_in_one_place(integration_id)
    for batch in db.session.scalars(select(SentBatch).where(SentBatch.integration_id == integration_id)):
        attached = len(attached_lead_ids(batch.id))
        assert attached == batch.lead_count, f"batch {batch.id} claims {batch.lead_count}, holds {attached}"
    entries = db.session.scalar(select(func.count()).where(QueueEntry.integration_id == integration_id))
    assert entries == expected_leads
    assert counter(integration_id) == pending_count(integration_id)


def _scenario(app, world, *, senders: int, rounds: int, chunks: int, max_per_file: int | None) -> None:
    integ = world.a.integration
    integ.max_leads_per_file = max_per_file
    db.session.commit()
    campaign_id, integration_id = world.a.campaign.id, integ.id
    manager_id = world.a.users["manager"].id
    outcomes: list[sending.BatchNowOutcome] = []

    def ingest():
        campaign = db.session.get(Campaign, campaign_id)
        for c in range(chunks):
            leads = [
                {"externalId": f"c{c}-{i}", "status": "valid", "fields": {"email": f"{c}-{i}@x"}} for i in range(25)
            ]
            ingest_leads(campaign, leads)

    def sender(kind: str, seed: int):
        def run():
            rng = random.Random(seed)
            user = db.session.get(User, manager_id)
            for _ in range(rounds):
                if kind == "batch_now":
                    outcomes.extend(sending.batch_now([integration_id], user))
                else:
                    outcomes.extend(sending.send_integration(integration_id, "schedule", SYSTEM))
                if rng.random() < 0.3:
                    db.session.expire_all()

        return run

    kinds = ["batch_now", "schedule"] * (senders // 2)
    errors = run_concurrently(app, [ingest] + [sender(k, n) for n, k in enumerate(kinds)])
    assert errors == []

    total = chunks * 25
    _check_exactly_once(integration_id, total)
    # Invariant 5: no worker ran, so the first Batch now send is still in flight and every
    # later Batch now got an in-flight send back instead of starting a second one.
    batch_now_files = db.session.scalar(
        select(func.count()).where(SentBatch.integration_id == integration_id, SentBatch.trigger == "batch_now")
    )
    per_call = max(1, -(-total // max_per_file)) if max_per_file else 1
    assert batch_now_files <= per_call
    known = set(db.session.scalars(select(SentBatch.id)))
    assert all(o.batch_id in known for o in outcomes if o.status == "in_flight")

    # Send what is left, run every job, then read every delivered file.
    sending.send_integration(integration_id, "schedule", SYSTEM)
    drain()
    _check_exactly_once(integration_id, total)
    assert pending_count(integration_id) == 0
    sent = db.session.scalars(select(SentBatch).where(SentBatch.integration_id == integration_id)).all()
    assert all(b.status == "delivered" for b in sent)
    seen: list[int] = []
    for batch in sent:
        seen += [int(row[0]) for row in csv_rows(stored_bytes(batch))[1:]]
    lead_ids = db.session.scalars(select(Lead.id).where(Lead.campaign_id == campaign_id)).all()
    assert sorted(seen) == sorted(lead_ids)  # every lead in exactly one file
    integration = db.session.get(BatchCsvIntegration, integration_id)
    directory = local_dir(integration.enterprise_id, integration.delivery["directory"])
    assert len(delivered_files(directory)) == len([b for b in sent if b.lead_count or b.row_count == 0])


@pytest.mark.postgres
@pytest.mark.parametrize("max_per_file", [None, 7])
def test_eight_concurrent_senders_while_leads_arrive_postgres(app, world, max_per_file):
    _scenario(app, world, senders=8, rounds=6, chunks=12, max_per_file=max_per_file)


def test_concurrent_senders_while_leads_arrive_sqlite_or_postgres(app, world):
    _scenario(app, world, senders=4, rounds=4, chunks=6, max_per_file=None)


def test_concurrent_batch_now_on_one_integration_starts_one_send(app, world):
    from tests import factories

    factories.leads(world.a.campaign, 30)
    integration_id, manager_id = world.a.integration.id, world.a.users["manager"].id
    outcomes: list[sending.BatchNowOutcome] = []

    def press():
        outcomes.extend(sending.batch_now([integration_id], db.session.get(User, manager_id)))

    assert run_concurrently(app, [press] * 6) == []
    queued = [o for o in outcomes if o.status == "queued"]
    assert len(queued) == 1 and queued[0].lead_count == 30
    assert {o.batch_id for o in outcomes} == {queued[0].batch_id}
    assert all(o.lead_count == 30 for o in outcomes)


@pytest.mark.parametrize("seed", [1, 2])
def test_random_sequences_of_every_action_keep_every_lead_in_exactly_one_file(app, world, seed):
    """Ingest, batch now, scheduled sends, failures, retries, requeues and resends in random order."""
    from app.errors import Conflict

    rng = random.Random(seed)
    integ = world.a.integration
    integ.max_leads_per_file = 6
    db.session.commit()
    integration_id, good = integ.id, dict(integ.delivery)
    manager = world.a.users["manager"]
    campaign = world.a.campaign
    requeued: set[int] = set()
    counter_ = [0]

    def set_destination(ok: bool) -> None:
        row = db.session.get(BatchCsvIntegration, integration_id)
        row.delivery = good if ok else {"directory": "/etc/not-allowed"}
        db.session.commit()

    def ingest() -> None:
        counter_[0] += 1
        n = rng.randint(1, 9)
        leads = [{"externalId": f"r{counter_[0]}-{i}", "status": "valid", "fields": {}} for i in range(n)]
        ingest_leads(db.session.get(Campaign, campaign.id), leads)

    def pick(status: str) -> SentBatch | None:
        rows = db.session.scalars(select(SentBatch).where(SentBatch.status == status)).all()
        return rng.choice(rows) if rows else None

    def retry() -> None:
        if batch := pick("failed"):
            try:
                sending.retry_batch(batch.id, manager)
            except Conflict:
                assert batch.id in requeued

    def requeue() -> None:
        if (batch := pick("failed")) and batch.resend_of_id is None:
            sending.requeue_batch(batch.id, manager)
            requeued.add(batch.id)

    def resend() -> None:
        if batch := pick("delivered"):
            sending.resend_batch(batch.id, manager)

    actions = [
        ingest,
        ingest,
        lambda: sending.batch_now([integration_id], manager),
        lambda: sending.send_integration(integration_id, "schedule", SYSTEM),
        drain,
        drain,
        lambda: set_destination(False),
        lambda: set_destination(True),
        retry,
        requeue,
        resend,
    ]
    for _ in range(45):
        rng.choice(actions)()
        db.session.expire_all()
        assert counter(integration_id) == pending_count(integration_id)
        assert_each_entry_in_one_place(integration_id)
        for batch in db.session.scalars(select(SentBatch).where(SentBatch.resend_of_id.is_(None))):
            attached = len(attached_lead_ids(batch.id))
            assert attached == (0 if batch.id in requeued else batch.lead_count)

    # Settle: destination back, every failed file retried (or requeued ones resent as new files).
    set_destination(True)
    for batch in db.session.scalars(select(SentBatch).where(SentBatch.status == "failed")).all():
        if batch.id not in requeued:
            sending.retry_batch(batch.id, manager)
    drain()
    sending.send_integration(integration_id, "schedule", SYSTEM)
    drain()
    originals = db.session.scalars(select(SentBatch).where(SentBatch.resend_of_id.is_(None))).all()
    seen: list[int] = []
    for batch in originals:
        if batch.id in requeued:
            continue
        assert batch.status == "delivered", (batch.id, batch.last_error)
        seen += [int(row[0]) for row in csv_rows(stored_bytes(batch))[1:]]
    lead_ids = db.session.scalars(select(Lead.id).where(Lead.campaign_id == campaign.id)).all()
    assert sorted(seen) == sorted(lead_ids)
    for resent in db.session.scalars(select(SentBatch).where(SentBatch.resend_of_id.is_not(None))):
        assert resent.sha256 == db.session.get(SentBatch, resent.resend_of_id).sha256


@pytest.mark.postgres
def test_a_claim_never_passes_a_queued_entry_that_is_not_committed_yet(app, world):
    """Ids are drawn in one order and committed in another; a file's range must not skip one.

    Intake A draws its entries' ids and stops before committing. Intake C (later, so higher
    ids) and a scheduled claim then try to run. Were C to commit and the claim to range over
    its id, A's entries would lie inside a file that does not hold them: lost. Intake takes
    the integration's lock before it draws ids, so both wait for A; afterwards every entry
    is in exactly one file or pending.
    """
    from sqlalchemy import event, text

    campaign_id, integration_id = world.a.campaign.id, world.a.integration.id
    drawn, resume = threading.Event(), threading.Event()
    a_thread: list[threading.Thread] = []

    def pause_after_queueing(conn, cursor, statement, *args):
        if threading.current_thread() in a_thread and statement.lstrip().startswith("INSERT INTO queue_entries"):
            drawn.set()
            resume.wait(30)

    def intake(prefix: str, n: int):
        def run():
            ingest_leads(
                db.session.get(Campaign, campaign_id),
                [{"externalId": f"{prefix}{i}", "status": "valid", "fields": {}} for i in range(n)],
            )

        return run

    def waiting_on_locks() -> int:
        with db.engine.connect() as conn:
            return conn.scalar(
                text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
            )

    ingest_leads(db.session.get(Campaign, campaign_id), [{"externalId": "before", "status": "valid", "fields": {}}])
    event.listen(db.engine, "after_cursor_execute", pause_after_queueing)
    errors: list[BaseException] = []

    def in_app(fn):
        def run():
            with app.app_context():
                try:
                    fn()
                except BaseException as exc:  # reported below
                    errors.append(exc)
                finally:
                    db.session.remove()

        return threading.Thread(target=run)

    try:
        a = in_app(intake("a", 3))
        a_thread.append(a)
        a.start()
        assert drawn.wait(30)
        others = [in_app(intake("c", 2)), in_app(lambda: sending.send_integration(integration_id, "schedule", SYSTEM))]
        # C, then the claim: each goes on once it waits on A's lock or (were the lock missing) has finished.
        for started, t in enumerate(others, 1):
            t.start()
            for _ in range(200):
                blocked = sum(o.is_alive() for o in others[:started])
                if not t.is_alive() or (blocked and waiting_on_locks() >= blocked):
                    break
                threading.Event().wait(0.05)
        resume.set()
        for t in [a, *others]:
            t.join(60)
    finally:
        resume.set()
        event.remove(db.engine, "after_cursor_execute", pause_after_queueing)
    assert errors == []
    _check_exactly_once(integration_id, 6)
    sending.send_integration(integration_id, "schedule", SYSTEM)
    _check_exactly_once(integration_id, 6)
    assert pending_count(integration_id) == 0
