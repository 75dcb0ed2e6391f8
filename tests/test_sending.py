"""Claiming pending leads: batch now, in-flight, splitting, the send-empty policy, validation."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Conflict, Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration, SentBatch
from app.services import sending
from tests import factories
from tests.engine_support import (
    attached_lead_ids,
    batches,
    counter,
    csv_rows,
    delivered_files,
    drain,
    files_holding,
    local_dir,
    pending_count,
    stored_bytes,
)


def test_batch_now_claims_every_pending_lead_and_delivers_the_file(world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 12)
    outcomes = sending.batch_now([integ.id], world.a.users["manager"])

    assert [(o.integration_id, o.status, o.lead_count) for o in outcomes] == [(integ.id, "queued", 12)]
    assert outcomes[0].to_dict() == {
        "integrationId": integ.id,
        "batchId": outcomes[0].batch_id,
        "status": "queued",
        "leadCount": 12,
    }
    assert counter(integ.id) == 0 == pending_count(integ.id)
    assert len(attached_lead_ids(outcomes[0].batch_id)) == 12

    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "delivered" and batch.trigger == "batch_now"
    assert batch.triggered_by == world.a.users["manager"].email
    assert batch.row_count == batch.lead_count == 12 and batch.attempts == 1
    assert batch.sent_at is not None and batch.last_error is None
    assert (batch.advertiser_name, batch.campaign_name, batch.label) == (
        world.a.advertiser.name,
        world.a.campaign.name,
        integ.label,
    )
    (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
    assert delivered.name == batch.file_name
    assert delivered.read_bytes() == stored_bytes(batch)
    rows = csv_rows(delivered.read_bytes())
    assert rows[0] == [f["header"] for f in factories.DEFAULT_FIELDS]
    assert sorted(int(r[0]) for r in rows[1:]) == sorted(attached_lead_ids(batch.id))
    assert db.session.get(BatchCsvIntegration, integ.id).last_sent_at == batch.sent_at


def test_batch_now_while_in_flight_returns_the_running_send(world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 5)
    (first,) = sending.batch_now([integ.id], world.a.users["admin"])
    factories.leads(world.a.campaign, 3, prefix="late")

    (again,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert (again.status, again.batch_id, again.lead_count) == ("in_flight", first.batch_id, 5)
    assert len(batches(integ.id)) == 1
    assert counter(integ.id) == 3 == pending_count(integ.id)

    drain()
    (later,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert later.status == "queued" and later.lead_count == 3 and later.batch_id != first.batch_id
    assert set(attached_lead_ids(first.batch_id)).isdisjoint(attached_lead_ids(later.batch_id))


def test_max_leads_per_file_splits_into_several_files_in_queue_order(world):
    integ = world.a.integration
    integ.max_leads_per_file = 10
    db.session.commit()
    factories.leads(world.a.campaign, 25)
    outcomes = sending.batch_now([integ.id], world.a.users["manager"])
    assert [o.lead_count for o in outcomes] == [10, 10, 5]
    ids = [lead for o in outcomes for lead in attached_lead_ids(o.batch_id)]
    assert ids == sorted(ids) and len(set(ids)) == 25

    drain()
    assert [b.status for b in batches(integ.id)] == ["delivered"] * 3
    assert len(delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))) == 3


def test_exact_multiple_of_max_leads_makes_no_empty_extra_file(world):
    integ = world.a.integration
    integ.max_leads_per_file = 5
    integ.send_empty = True
    db.session.commit()
    factories.leads(world.a.campaign, 10)
    assert [o.lead_count for o in sending.batch_now([integ.id], world.a.users["manager"])] == [5, 5]


def test_nothing_pending_is_empty_unless_the_integration_sends_empty_files(world):
    integ = world.a.integration
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert (outcome.status, outcome.batch_id, outcome.lead_count) == ("empty", None, 0)
    assert batches() == []

    integ.send_empty = True
    db.session.commit()
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert outcome.status == "queued" and outcome.lead_count == 0
    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "delivered" and batch.row_count == 0
    (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
    assert csv_rows(delivered.read_bytes()) == [[f["header"] for f in factories.DEFAULT_FIELDS]]


def test_validation_is_all_or_nothing_and_names_the_bad_ids(world):
    factories.leads(world.a.campaign, 4)
    factories.leads(world.b.campaign, 4)
    own, foreign = world.a.integration.id, world.b.integration.id
    with pytest.raises(ValidationError) as err:
        sending.batch_now([own, foreign, 999_999], world.a.users["manager"])
    assert err.value.status == 422
    assert err.value.details == {"integrationIds": [foreign, 999_999]}
    assert batches() == [] and counter(own) == 4 and counter(foreign) == 4

    world.a.integration.enabled = False
    db.session.commit()
    with pytest.raises(ValidationError) as err:
        sending.batch_now([own], world.a.users["admin"])
    assert err.value.details == {"integrationIds": [own]}
    assert batches() == []


def test_malformed_id_lists_are_validation_errors(world):
    for ids in ([], list(range(1, 502)), "12", [1, "2"], [True], None, [1.5]):
        with pytest.raises(ValidationError):
            sending.batch_now(ids, world.a.users["manager"])
    assert batches() == []


def test_viewers_cannot_send_retry_resend_or_requeue(world):
    factories.leads(world.a.campaign, 2)
    viewer = world.a.users["viewer"]
    with pytest.raises(Forbidden):
        sending.batch_now([world.a.integration.id], viewer)
    assert batches() == []
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    drain()
    for action in (sending.retry_batch, sending.resend_batch, sending.requeue_batch):
        with pytest.raises(Forbidden):
            action(outcome.batch_id, viewer)


def test_another_enterprises_files_are_not_found(world):
    factories.leads(world.b.campaign, 2)
    (outcome,) = sending.batch_now([world.b.integration.id], world.b.users["manager"])
    drain()
    for action in (sending.retry_batch, sending.resend_batch, sending.requeue_batch):
        with pytest.raises(NotFound):
            action(outcome.batch_id, world.a.users["admin"])


def _fail_next_delivery(integ: BatchCsvIntegration) -> dict:
    """Point the local delivery outside the enterprise's folder: a permanent, clear failure."""
    good = dict(integ.delivery)
    integ.delivery = {"directory": "/etc/not-allowed"}
    db.session.commit()
    return good


def test_failed_send_keeps_its_leads_and_retry_redelivers_the_same_stored_file(world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 7)
    good = _fail_next_delivery(integ)
    (_outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "failed" and batch.attempts == 1
    assert "inside your enterprise's delivery folder" in batch.last_error
    assert len(attached_lead_ids(batch.id)) == 7 and counter(integ.id) == 0
    stored_sha = batch.sha256

    # Still failed: batch now does not pick the failed file's leads up again.
    (again,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert again.status == "empty"

    integ = db.session.get(BatchCsvIntegration, integ.id)
    integ.delivery = good
    db.session.commit()
    retried = sending.retry_batch(batch.id, world.a.users["manager"])
    assert retried.id == batch.id and retried.status == "stored"
    with pytest.raises(Conflict):
        sending.retry_batch(batch.id, world.a.users["manager"])  # not failed any more
    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "delivered" and batch.attempts == 2 and batch.sha256 == stored_sha
    (delivered,) = delivered_files(local_dir(integ.enterprise_id, good["directory"]))
    assert delivered.read_bytes() == stored_bytes(batch)
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.severity == "high")).all()
    assert "retry" in actions and "batch_now" in actions


def test_resend_delivers_the_same_stored_file_as_a_new_file_row(world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 4)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    with pytest.raises(Conflict):
        sending.resend_batch(outcome.batch_id, world.a.users["manager"])  # not delivered yet
    drain()
    (original,) = batches(integ.id)
    (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
    delivered.unlink()

    resend = sending.resend_batch(original.id, world.a.users["admin"])
    assert (resend.trigger, resend.resend_of_id, resend.status) == ("resend", original.id, "stored")
    # A resend is never "in flight" for batch now.
    factories.leads(world.a.campaign, 2, prefix="new")
    (now,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert now.status == "queued" and now.lead_count == 2
    drain()

    resent = db.session.get(SentBatch, resend.id)
    assert resent.status == "delivered" and resent.sha256 == original.sha256
    assert resent.storage_key == original.storage_key
    assert attached_lead_ids(resent.id) == []  # the leads stay with the original
    assert len(attached_lead_ids(original.id)) == 4
    files = {
        p.name: p.read_bytes() for p in delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
    }
    assert files[original.file_name] == stored_bytes(original)
    # Resending the resend points at the original file.
    again = sending.resend_batch(resent.id, world.a.users["manager"])
    assert again.resend_of_id == original.id
    assert db.session.scalar(select(AuditEvent.id).where(AuditEvent.action == "resend")) is not None


def test_requeue_returns_a_failed_files_leads_to_pending_and_blocks_retry(world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 6)
    good = _fail_next_delivery(integ)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    with pytest.raises(Conflict):
        sending.requeue_batch(outcome.batch_id, world.a.users["manager"])  # still in flight
    drain()
    assert sending.requeue_batch(outcome.batch_id, world.a.users["manager"]) == 6
    assert counter(integ.id) == 6 == pending_count(integ.id)
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "failed" and "returned to pending" in batch.last_error
    with pytest.raises(Conflict):
        sending.retry_batch(batch.id, world.a.users["manager"])
    assert sending.requeue_batch(batch.id, world.a.users["manager"]) == 0

    integ = db.session.get(BatchCsvIntegration, integ.id)
    integ.delivery = good
    db.session.commit()
    (fresh,) = sending.batch_now([integ.id], world.a.users["manager"])
    assert fresh.lead_count == 6
    drain()
    assert db.session.get(SentBatch, fresh.batch_id).status == "delivered"
    assert db.session.scalar(select(AuditEvent.severity).where(AuditEvent.action == "requeue")) == "high"


def test_queue_entries_are_never_shared_between_files(world):
    """Across batch now, splits, failures, requeues and resends: each entry has at most one file."""
    integ = world.a.integration
    integ.max_leads_per_file = 3
    db.session.commit()
    factories.leads(world.a.campaign, 8)
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    factories.leads(world.a.campaign, 4, prefix="b")
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    holding = files_holding(integ.id)
    assert len(holding) == 12 and all(len(files) == 1 for files in holding.values())
    assert sum(b.lead_count for b in batches(integ.id)) == 12
