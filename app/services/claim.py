"""The claim: lock an integration, then attach its pending queue entries to new files.

Invariants 1 and 5 (DESIGN.md) live here. In one transaction the integration row is
locked, a Batch now finds the send already in flight instead of starting a second,
and the pending entries become the file's range of queue ids: the integration's
claimed_through moves past them and the file records the range (app.services.queue_files),
two rows written however many leads, so a million pending leads claim in one count.
The caller commits (app.services.sending.send_integration).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select, text, update
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import ValidationError
from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, BatchStatus, Campaign, QueueEntry, SentBatch, Trigger, User
from app.models.types import utcnow
from app.services import audit, delivery_caps, empty_runs
from app.services.actors import Actor
from app.services.cumulative import record_file_leads
from app.services.lease import LeaseOffer


@dataclass(frozen=True)
class BatchNowOutcome:
    """What one send did for one integration: a queued file, the running send, or nothing."""

    integration_id: int
    batch_id: int | None
    status: str  # "queued" | "in_flight" | "empty"
    lead_count: int
    # Alert events the claim raised, to dispatch after the caller commits (an empty run's).
    alert_ids: tuple[int | None, ...] = field(default=(), compare=False)

    def to_dict(self) -> dict:
        return {
            "integrationId": self.integration_id,
            "batchId": self.batch_id,
            "status": self.status,
            "leadCount": self.lead_count,
        }


def lock_integration(integration_id: int) -> BatchCsvIntegration | None:
    """Serialise senders of one integration for the rest of the transaction.

    PostgreSQL: SELECT ... FOR UPDATE on the row. SQLite: a no-op UPDATE as the first
    write, so this connection takes the database write lock now (pysqlite begins a
    deferred transaction; the write makes it as good as BEGIN IMMEDIATE) and any other
    sender waits until we commit, before it can read the in-flight state.
    """
    # Its campaign and advertiser come in the same query: a file's snapshot needs their names.
    query = (
        select(BatchCsvIntegration)
        .options(
            joinedload(BatchCsvIntegration.campaign, innerjoin=True).joinedload(Campaign.advertiser, innerjoin=True)
        )
        .where(BatchCsvIntegration.id == integration_id)
        .execution_options(populate_existing=True)
    )
    if db.session.get_bind().dialect.name == "postgresql":
        return db.session.scalars(query.with_for_update(of=BatchCsvIntegration)).first()
    db.session.execute(
        text("UPDATE batch_integrations SET pending_count = pending_count WHERE id = :id"), {"id": integration_id}
    )
    return db.session.scalars(query).first()


def claim(
    integration_id: int,
    trigger: str,
    user: Actor,
    slot_key: str | None = None,
    lease: LeaseOffer | None = None,
) -> list[BatchNowOutcome]:
    """Claim the pending entries into new files inside the caller's transaction (not committed).

    `slot_key` (a scheduled send's local slot) places the send in its delivery-cap window:
    a slot's send counts against the slot's day even when the job runs late. `lease` is
    taken on the first file in the same insert, for a caller that goes on to process it.
    """
    integration = lock_integration(integration_id)
    if integration is None:
        raise ValidationError("unknown integrations", {"integrationIds": [integration_id]})
    at = delivery_caps.slot_time(slot_key, integration.timezone) if slot_key else utcnow()
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
    cumulative = integration.lead_mode == "cumulative"
    # A cumulative file holds the whole history, so it is never split (the settings refuse
    # maxLeadsPerFile with it; a row written before that rule is sent whole all the same).
    per_file = integration.max_leads_per_file if (integration.max_leads_per_file or 0) > 0 and not cumulative else None
    # Read under the integration lock: no other claim of this integration can count meanwhile.
    # A cap counts file sizes, and a cumulative file repeats the whole history, so caps do not
    # apply to cumulative integrations (README "Cumulative files").
    left = None if cumulative else delivery_caps.remaining(integration, at)
    while True:
        limit = per_file if left is None else min(left, per_file or left)
        batch = _new_batch(integration, trigger, user, at, lease if not outcomes else None)
        claimed = _claim_range(integration, batch, limit) if limit != 0 else 0
        if left is not None:
            left -= claimed
        # A used-up cap sends no empty file: leads are waiting, only the window is full.
        if claimed == 0 and (outcomes or not integration.send_empty or limit == 0):
            db.session.delete(batch)
            db.session.flush()
            break
        if cumulative:
            batch.cumulative = True
            batch.lead_count = record_file_leads(integration, batch.id)
        outcomes.append(BatchNowOutcome(integration_id, batch.id, "queued", batch.lead_count))
        if limit is None or claimed < limit or left == 0:
            break
    # Nothing was pending at a scheduled slot (a full cap is not "nothing"): record the run.
    if not outcomes and limit != 0 and empty_runs.applies(trigger, slot_key, integration.send_empty):
        run_id, alert_ids = empty_runs.record(
            integration, slot_key, at, lambda: _new_batch(integration, trigger, user, at, None)
        )
        outcomes.append(BatchNowOutcome(integration_id, run_id, "empty", 0, tuple(alert_ids)))
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


def _new_batch(
    integration: BatchCsvIntegration, trigger: str, user: Actor, at: datetime, lease: LeaseOffer | None
) -> SentBatch:
    batch = batch_row(integration, trigger, user, at, lease)
    db.session.add(batch)
    db.session.flush()
    if lease is not None:
        lease.keep(batch, integration)
    return batch


def batch_row(
    integration: BatchCsvIntegration, trigger: str, user: Actor, at: datetime, lease: LeaseOffer | None
) -> SentBatch:
    """A new file of the integration, claimed and not yet added to the session (its snapshot of names and settings)."""
    from app.services.files import FileSettings

    campaign = integration.campaign
    advertiser = campaign.advertiser
    return SentBatch(
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
        triggered_by_id=user.id if isinstance(user, User) else None,
        triggered_by=user.email if isinstance(user, User) else "scheduler",
        status=BatchStatus.CLAIMED.value,
        counted_at=at,
        **(lease.values() if lease is not None else {}),
    )


def _claim_range(integration: BatchCsvIntegration, batch: SentBatch, limit: int | None) -> int:
    """Give the batch the next `limit` pending entries (all if None); returns how many (invariant 1).

    Under the integration's row lock (lock_integration, which read claimed_through fresh): no
    other claim runs, and no entry of this integration is queued but not yet committed
    (app.services.queue_files), so the count and the last id are the whole truth. The file
    gets the range, the integration moves claimed_through and pending_count: two rows.
    """
    after = integration.claimed_through
    ids = select(QueueEntry.id).where(QueueEntry.integration_id == integration.id, QueueEntry.id > after)
    if limit is not None:
        ids = ids.order_by(QueueEntry.id).limit(limit)
    taken = ids.subquery()
    count, through = db.session.execute(select(func.count(), func.max(taken.c.id))).one()
    batch.lead_count = count
    if not count:
        return 0
    batch.entries_after, batch.entries_through = after, through
    db.session.execute(
        update(BatchCsvIntegration)
        .where(BatchCsvIntegration.id == integration.id)
        .values(claimed_through=through, pending_count=BatchCsvIntegration.pending_count - count)
        .execution_options(synchronize_session=False)
    )
    # The loaded row says what it now holds (a next file of a split claims after it).
    set_committed_value(integration, "claimed_through", through)
    set_committed_value(integration, "pending_count", integration.pending_count - count)
    return count
