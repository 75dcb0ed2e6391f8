"""Sending: claim an integration's pending leads into files, and the manual actions on sent files.

The claim is the heart of invariants 1 and 5 (see DESIGN.md): in one transaction the
integration row is locked, an in-flight send is returned instead of starting a second
one, and the pending queue entries are claimed by ONE set-based UPDATE (no ORM object
per lead, so a million pending leads claim in seconds). Processing the claimed batches
(build, store, deliver) is app.services.pipeline, run by RQ jobs enqueued after commit.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import func, select, text, update

from app.errors import Conflict, Forbidden, ValidationError
from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, BatchStatus, QueueEntry, Role, SentBatch, Trigger, User
from app.models.types import utcnow
from app.services import audit
from app.services.tenancy import get_owned

log = logging.getLogger(__name__)

MAX_BATCH_NOW_IDS = 500


@dataclass(frozen=True)
class BatchNowOutcome:
    """What one send did for one integration: a queued file, the running send, or nothing."""

    integration_id: int
    batch_id: int | None
    status: str  # "queued" | "in_flight" | "empty"
    lead_count: int

    def to_dict(self) -> dict:
        return {
            "integrationId": self.integration_id,
            "batchId": self.batch_id,
            "status": self.status,
            "leadCount": self.lead_count,
        }


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
    for integration_id in ids:
        outcomes.extend(send_integration(integration_id, Trigger.BATCH_NOW.value, user))
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


def send_integration(integration_id: int, trigger: str, user: User | None = None) -> list[BatchNowOutcome]:
    """Claim the integration's pending leads into one or more files and queue their processing.

    Commits. Returns one outcome per file (several when maxLeadsPerFile splits the queue),
    the in-flight send(s) when one is running, or a single "empty" outcome.
    """
    try:
        outcomes = _claim(integration_id, trigger, user)
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    _enqueue([o.batch_id for o in outcomes if o.status == "queued" and o.batch_id is not None], "claim")
    return outcomes


def lock_integration(integration_id: int) -> BatchCsvIntegration | None:
    """Serialise senders of one integration for the rest of the transaction.

    PostgreSQL: SELECT ... FOR UPDATE on the row. SQLite: a no-op UPDATE as the first
    write, so this connection takes the database write lock now (pysqlite begins a
    deferred transaction; the write makes it as good as BEGIN IMMEDIATE) and any other
    sender waits until we commit, before it can read the in-flight state.
    """
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalars(
            select(BatchCsvIntegration)
            .where(BatchCsvIntegration.id == integration_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        ).first()
    db.session.execute(
        text("UPDATE batch_integrations SET pending_count = pending_count WHERE id = :id"), {"id": integration_id}
    )
    return db.session.scalars(
        select(BatchCsvIntegration)
        .where(BatchCsvIntegration.id == integration_id)
        .execution_options(populate_existing=True)
    ).first()


def _claim(integration_id: int, trigger: str, user: User | None) -> list[BatchNowOutcome]:
    integration = lock_integration(integration_id)
    if integration is None:
        raise ValidationError("unknown integrations", {"integrationIds": [integration_id]})
    if trigger == Trigger.BATCH_NOW.value:
        # Invariant 5: pressing Batch now again while a send runs returns that send. A
        # scheduled or campaign-end send still goes out on time with whatever is pending:
        # a file stuck in retries must not hold the schedule back.
        in_flight = db.session.execute(
            select(SentBatch.id, SentBatch.lead_count)
            .where(
                SentBatch.integration_id == integration_id,
                SentBatch.status.in_(IN_FLIGHT),
                SentBatch.trigger != Trigger.RESEND.value,
            )
            .order_by(SentBatch.id)
        ).all()
        if in_flight:
            return [BatchNowOutcome(integration_id, row.id, "in_flight", row.lead_count) for row in in_flight]

    outcomes: list[BatchNowOutcome] = []
    limit = integration.max_leads_per_file if (integration.max_leads_per_file or 0) > 0 else None
    while True:
        batch = _new_batch(integration, trigger, user)
        claimed = _claim_entries(integration_id, batch.id, limit)
        if claimed == 0 and (outcomes or not integration.send_empty):
            db.session.delete(batch)
            db.session.flush()
            break
        batch.lead_count = claimed
        outcomes.append(BatchNowOutcome(integration_id, batch.id, "queued", claimed))
        if claimed:
            db.session.execute(
                update(BatchCsvIntegration)
                .where(BatchCsvIntegration.id == integration_id)
                .values(pending_count=BatchCsvIntegration.pending_count - claimed)
            )
        if limit is None or claimed < limit:
            break
    if user is not None:
        for outcome in outcomes or [BatchNowOutcome(integration_id, None, "empty", 0)]:
            audit.record(
                "batch_now" if trigger == Trigger.BATCH_NOW.value else f"send.{trigger}",
                "integration",
                integration_id,
                user=user,
                details={"batchId": outcome.batch_id, "leadCount": outcome.lead_count, "trigger": trigger},
            )
    return outcomes or [BatchNowOutcome(integration_id, None, "empty", 0)]


def _new_batch(integration: BatchCsvIntegration, trigger: str, user: User | None) -> SentBatch:
    from app.services.files import FileSettings

    campaign = integration.campaign
    advertiser = campaign.advertiser
    batch = SentBatch(
        enterprise_id=integration.enterprise_id,
        integration_id=integration.id,
        advertiser_id=advertiser.id,
        advertiser_name=advertiser.name,
        campaign_id=campaign.id,
        campaign_name=campaign.name,
        label=integration.label,
        field_mapping=list(integration.fields or []),
        file_settings=FileSettings.from_integration(integration).to_snapshot(),
        delivery_method=integration.delivery_method,
        trigger=trigger,
        triggered_by_id=user.id if user else None,
        triggered_by=user.email if user else "scheduler",
        status=BatchStatus.CLAIMED.value,
    )
    db.session.add(batch)
    db.session.flush()
    return batch


def _claim_entries(integration_id: int, batch_id: int, limit: int | None) -> int:
    """Attach pending entries to the batch with one atomic UPDATE; returns how many."""
    table = QueueEntry.__table__
    pending = (table.c.integration_id == integration_id) & table.c.sent_batch_id.is_(None)
    if limit is None:
        # The integration row lock already keeps other senders out; rows queued by a
        # concurrent intake that has not committed stay pending for the next file.
        stmt = table.update().where(pending)
    else:
        chosen = select(table.c.id).where(pending).order_by(table.c.id).limit(limit)
        if db.session.get_bind().dialect.name == "postgresql":
            chosen = chosen.with_for_update(skip_locked=True)
        stmt = table.update().where(table.c.id.in_(chosen.scalar_subquery()))
    return db.session.execute(stmt.values(sent_batch_id=batch_id)).rowcount


def _enqueue(batch_ids: list[int], reason: str) -> None:
    """Queue processing jobs after commit; if Redis is unreachable the reconciler picks them up."""
    if not batch_ids:
        return
    from jobs.queues import enqueue_process

    for batch_id in batch_ids:
        try:
            enqueue_process(batch_id, reason)
        except Exception:  # the DB row is the truth; the reconciler re-enqueues stuck batches
            log.exception("could not enqueue batch %s; the reconciler will pick it up", batch_id)


def _owned_batch(batch_id: int, user: User) -> SentBatch:
    _require_manager(user)
    return get_owned(SentBatch, batch_id, user.enterprise_id)


def _has_leads_attached(batch: SentBatch) -> bool:
    return db.session.scalar(select(QueueEntry.id).where(QueueEntry.sent_batch_id == batch.id).limit(1)) is not None


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
        moved = db.session.execute(
            text("UPDATE queue_entries SET sent_batch_id = NULL WHERE sent_batch_id = :b"), {"b": batch.id}
        ).rowcount
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
