"""Sending: claim an integration's pending leads into files, and the manual actions on sent files.

The claim itself (invariants 1 and 5) is app.services.claim; this module is the public
entry point the admin, the API, the scheduler and the CLI call. Processing the claimed
batches (build, store, deliver) is app.services.pipeline, run by RQ jobs enqueued
after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from sqlalchemy import func, select, update

from app.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.models import BatchCsvIntegration, BatchLead, BatchStatus, QueueEntry, Role, SentBatch, Trigger, User
from app.models.types import utcnow
from app.services import alerts, audit, queue_files, queueing
from app.services.actors import Actor, is_system
from app.services.claim import BatchNowOutcome, claim, lock_integration
from app.services.lease import LeaseOffer, commit_keeping_rows
from app.services.tenancy import get_owned

log = logging.getLogger(__name__)

__all__ = [
    "BatchNowOutcome",
    "batch_now",
    "lock_integration",
    "requeue_batch",
    "resend_batch",
    "retry_batch",
    "send_integration",
]

MAX_BATCH_NOW_IDS = 500


def _require_manager(user: User | None) -> None:
    if user is None or not user.has_role(Role.MANAGER):
        raise Forbidden("sending files needs the manager or admin role")


def _clean_ids(integration_ids: Sequence[int]) -> list[int]:
    """Integer ids, de-duplicated in order; 1..500 of them."""
    if isinstance(integration_ids, str | bytes) or not isinstance(integration_ids, Sequence):
        raise ValidationError("integrationIds must be a list", {"integrationIds": ["must be a list of ids"]})
    if not 1 <= len(integration_ids) <= MAX_BATCH_NOW_IDS:
        raise ValidationError(
            f"give 1 to {MAX_BATCH_NOW_IDS} integration ids",
            {"integrationIds": [f"must hold 1 to {MAX_BATCH_NOW_IDS} ids, got {len(integration_ids)}"]},
        )
    bad = [i for i in integration_ids if isinstance(i, bool) or not isinstance(i, int)]
    if bad:
        raise ValidationError("integration ids must be integers", {"integrationIds": bad[:50]})
    return list(dict.fromkeys(integration_ids))


def batch_now(integration_ids: Sequence[int], user: User) -> list[BatchNowOutcome]:
    """Send the pending leads of these integrations now; all ids are checked before any is sent.

    Unknown, disabled or another enterprise's ids -> ValidationError naming them and nothing
    sent. An integration with a send in flight gets that send back (status in_flight).
    """
    _require_manager(user)
    ids = _clean_ids(integration_ids)
    rows = db.session.execute(
        select(BatchCsvIntegration.id, BatchCsvIntegration.enabled).where(
            BatchCsvIntegration.id.in_(ids), BatchCsvIntegration.enterprise_id == user.enterprise_id
        )
    ).all()
    found = {row.id: row.enabled for row in rows}
    unknown = [i for i in ids if i not in found]
    if unknown:
        raise ValidationError("unknown integrations", {"integrationIds": unknown})
    disabled = [i for i in ids if not found[i]]
    if disabled:
        raise ValidationError("disabled integrations cannot send", {"integrationIds": disabled})
    _check_file_settings(ids)

    outcomes: list[BatchNowOutcome] = []
    try:
        for integration_id in ids:
            outcomes.extend(_claim(integration_id, Trigger.BATCH_NOW.value, user))
    finally:
        # Queued together once claimed (also those claimed before a later one raised), so
        # they go to the front of the queue in this order.
        _enqueue([o.batch_id for o in outcomes if o.status == "queued" and o.batch_id is not None], "claim")
    return outcomes


def _check_file_settings(ids: list[int]) -> None:
    """Refuse before claiming anything if an integration's file settings cannot build a file."""
    from app.services.files import FileSettings

    bad = []
    for integration in db.session.scalars(select(BatchCsvIntegration).where(BatchCsvIntegration.id.in_(ids))):
        try:
            FileSettings.from_integration(integration)
        except ValidationError:
            bad.append(integration.id)
    if bad:
        raise ValidationError("integrations with invalid file settings", {"integrationIds": bad})


def send_integration(
    integration_id: int,
    trigger: str,
    user: Actor,
    slot_key: str | None = None,
    lease: LeaseOffer | None = None,
) -> list[BatchNowOutcome]:
    """Claim the integration's pending leads into one or more files and queue their processing.

    `user` is the person pressing Batch now, or SYSTEM for the scheduler, campaign end and CLI.
    Commits. Returns one outcome per file (several when maxLeadsPerFile splits the queue),
    the in-flight send(s) when one is running, or a single "empty" outcome. With `lease`
    the caller takes the first file itself (app.services.scheduled_send): it is leased in
    the claim's transaction and not queued; the other files are.
    """
    outcomes = _claim(integration_id, trigger, user, slot_key, lease)
    queued = [o.batch_id for o in outcomes if o.status == "queued" and o.batch_id is not None]
    _enqueue(queued[1:] if lease is not None else queued, "claim")
    return outcomes


def _claim(
    integration_id: int, trigger: str, user: Actor, slot_key: str | None = None, lease: LeaseOffer | None = None
) -> list[BatchNowOutcome]:
    """The claim of send_integration, committed; nothing queued yet."""
    if not isinstance(user, User) and not is_system(user):
        raise Forbidden("sending needs a user or the system actor")
    try:
        outcomes = claim(integration_id, trigger, user, slot_key, lease)
        if lease is not None:
            # Its first file follows in this job with the batch and integration as they are here.
            commit_keeping_rows()
        else:
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    # After commit: an empty run's alert (app.services.empty_runs) goes out once its row is visible.
    alerts.dispatch([event for o in outcomes for event in o.alert_ids])
    return outcomes


def _enqueue(batch_ids: list[int], reason: str) -> None:
    """Queue processing jobs after commit; if Redis is unreachable the reconciler picks them up."""
    if not batch_ids:
        return
    # Each goes to the front of the queue (queueing.enqueue_process): the last first, so
    # they still run in the order given.
    for batch_id in reversed(batch_ids):
        try:
            queueing.enqueue_process(batch_id, reason)
        except Exception:  # the DB row is the truth; the reconciler re-enqueues stuck batches
            log.exception("could not enqueue batch %s; the reconciler will pick it up", batch_id)


def _owned_batch(batch_id: int, user: User) -> SentBatch:
    _require_manager(user)
    return get_owned(SentBatch, batch_id, user.enterprise_id)


def _has_leads_attached(batch: SentBatch) -> bool:
    if batch.cumulative:  # its lead list is recorded apart from the queue and never returned
        return db.session.scalar(select(BatchLead.id).where(BatchLead.batch_id == batch.id).limit(1)) is not None
    return db.session.scalar(select(QueueEntry.id).where(queue_files.in_file(batch)).limit(1)) is not None


def retry_batch(batch_id: int, user: User) -> SentBatch:
    """Send a failed file again: the same stored file, or rebuilt from its leads if never stored."""
    batch = _owned_batch(batch_id, user)
    if batch.status != BatchStatus.FAILED.value:
        raise Conflict(f"file {batch.id} is {batch.status}; only a failed file can be retried")
    if batch.resend_of_id is None and batch.lead_count and not _has_leads_attached(batch):
        raise Conflict(f"the leads of file {batch.id} were returned to pending; it cannot be retried")
    new_status = BatchStatus.STORED.value if batch.sha256 else BatchStatus.CLAIMED.value
    changed = db.session.execute(
        update(SentBatch)
        .where(SentBatch.id == batch.id, SentBatch.status == BatchStatus.FAILED.value)
        .values(status=new_status, updated_at=utcnow())
    ).rowcount
    if not changed:
        db.session.rollback()
        raise Conflict(f"file {batch.id} is no longer failed")
    audit.record("retry", "sent_batch", batch.id, user=user, details={"attempts": batch.attempts})
    db.session.commit()
    _enqueue([batch.id], "retry")
    db.session.refresh(batch)
    return batch


def resend_batch(batch_id: int, user: User) -> SentBatch:
    """Deliver a delivered file again as a new SentBatch (trigger resend) pointing at the original."""
    original = _owned_batch(batch_id, user)
    if original.status != BatchStatus.DELIVERED.value:
        raise Conflict(f"file {original.id} is {original.status}; only a delivered file can be resent")
    # A resend of a resend points at the file that holds the leads.
    root = db.session.get(SentBatch, original.resend_of_id) if original.resend_of_id else original
    now = utcnow()
    resend = SentBatch(
        enterprise_id=root.enterprise_id,
        integration_id=root.integration_id,
        advertiser_id=root.advertiser_id,
        advertiser_name=root.advertiser_name,
        campaign_id=root.campaign_id,
        campaign_name=root.campaign_name,
        label=root.label,
        field_mapping=root.field_mapping,
        file_settings=root.file_settings,
        delivery_method=root.delivery_method,
        lead_count=root.lead_count,
        row_count=root.row_count,
        trigger=Trigger.RESEND.value,
        triggered_by_id=user.id,
        triggered_by=user.email,
        resend_of_id=root.id,
        status=BatchStatus.STORED.value,
        file_name=root.file_name,
        storage_key=root.storage_key,
        size_bytes=root.size_bytes,
        sha256=root.sha256,
        stored_at=now,
    )
    db.session.add(resend)
    db.session.flush()
    audit.record("resend", "sent_batch", root.id, user=user, details={"resendBatchId": resend.id})
    db.session.commit()
    _enqueue([resend.id], "resend")
    return resend


def requeue_batch(batch_id: int, user: User) -> int:
    """Return a failed file's leads to pending (the only way back; audited). Returns how many."""
    batch = _owned_batch(batch_id, user)
    if batch.status != BatchStatus.FAILED.value:
        raise Conflict(f"file {batch.id} is {batch.status}; only a failed file's leads can be requeued")
    if batch.resend_of_id is not None:
        raise Conflict(f"file {batch.id} is a resend; its leads belong to file {batch.resend_of_id}")
    try:
        lock_integration(batch.integration_id)
        still_failed = db.session.scalar(
            select(func.count())
            .select_from(SentBatch)
            .where(SentBatch.id == batch.id, SentBatch.status == BatchStatus.FAILED.value)
        )
        if not still_failed:
            raise Conflict(f"file {batch.id} is no longer failed")
        moved = queue_files.requeue(batch)
        if moved:
            db.session.execute(
                update(BatchCsvIntegration)
                .where(BatchCsvIntegration.id == batch.integration_id)
                .values(pending_count=BatchCsvIntegration.pending_count + moved)
            )
        note = f"{moved} leads returned to pending by {user.email}"
        db.session.execute(
            update(SentBatch)
            .where(SentBatch.id == batch.id)
            .values(last_error=f"{batch.last_error or 'failed'} — {note}", updated_at=utcnow())
        )
        audit.record("requeue", "sent_batch", batch.id, user=user, details={"leads": moved})
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return moved
