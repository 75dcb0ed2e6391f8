"""The retention policy: purge stored files after N days, redact lead values after M days.

Each enterprise's periods (NULL = the platform default RETENTION_FILE_DAYS /
RETENTION_LEAD_DAYS; unset = keep forever) are applied in chunks of RETENTION_CHUNK rows,
one commit per chunk, walking ids upward. Every step is conditional (purged_at IS NULL,
redacted_at IS NULL), so a run killed mid-way leaves each chunk either done or untouched,
and the next run picks up what is left without doing anything twice. The run's audit event
per enterprise is written in the same transaction as each chunk, so it always states what
really happened, even for a killed run (finished: false).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, exists, func, or_, select, update

from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent, BatchStatus, Campaign, Enterprise, Lead, QueueEntry, SentBatch
from app.models.types import utcnow
from app.services import audit, queue_files
from app.services.storage import get_store

log = logging.getLogger(__name__)

PURGEABLE = (BatchStatus.DELIVERED.value, BatchStatus.FAILED.value)
ACTOR = "retention policy"


@dataclass
class Policy:
    file_days: int | None
    lead_days: int | None


@dataclass
class RunCounts:
    enterprise_id: int
    files_purged: int = 0
    leads_redacted: int = 0
    chunks: int = 0
    finished: bool = False
    event: AuditEvent | None = field(default=None, repr=False)

    def details(self, policy: Policy) -> dict:
        return {
            "filesPurged": self.files_purged,
            "leadsRedacted": self.leads_redacted,
            "chunks": self.chunks,
            "fileDays": policy.file_days,
            "leadDays": policy.lead_days,
            "finished": self.finished,
        }


def policy_for(enterprise: Enterprise) -> Policy:
    """The enterprise's periods, each falling back to the platform default."""
    cfg = current_app.config
    return Policy(
        enterprise.retention_file_days if enterprise.retention_file_days is not None else cfg["RETENTION_FILE_DAYS"],
        enterprise.retention_lead_days if enterprise.retention_lead_days is not None else cfg["RETENTION_LEAD_DAYS"],
    )


def purge_reason_text(batch: SentBatch) -> str:
    """What a download of a purged file answers."""
    when = batch.purged_at.strftime("%Y-%m-%d") if batch.purged_at else "an earlier date"
    why = "an erasure request" if batch.purge_reason == "erasure" else "the retention policy"
    return f"the stored file of file #{batch.id} was purged on {when} by {why}"


def apply_all(now: datetime | None = None, chunk: int | None = None) -> list[RunCounts]:
    """Apply every enterprise's policy; returns what was done per enterprise with a policy."""
    now = now or utcnow()
    chunk = chunk or int(current_app.config["RETENTION_CHUNK"])
    results = []
    for enterprise in db.session.scalars(select(Enterprise).order_by(Enterprise.id)).all():
        policy = policy_for(enterprise)
        if policy.file_days is None and policy.lead_days is None:
            continue
        results.append(apply_enterprise(enterprise.id, policy, now, chunk))
    return results


def apply_enterprise(enterprise_id: int, policy: Policy, now: datetime, chunk: int) -> RunCounts:
    """Purge and redact one enterprise's due rows, one committed chunk at a time."""
    counts = RunCounts(enterprise_id)
    if policy.file_days is not None:
        cutoff, last = now - timedelta(days=policy.file_days), 0
        while batch := _due_files(enterprise_id, cutoff, last, chunk):
            last = batch[-1][0]
            counts.files_purged += purge_files(batch, "retention", now)
            _commit_chunk(counts, policy)
    if policy.lead_days is not None:
        cutoff, last = now - timedelta(days=policy.lead_days), 0
        while ids := _due_leads(enterprise_id, cutoff, last, chunk):
            last = ids[-1]
            counts.leads_redacted += _redact_delivered(ids, now)
            _commit_chunk(counts, policy)
    counts.finished = True
    if counts.event is not None:
        _commit_chunk(counts, policy, chunk_done=False)
    log.info("retention of enterprise %s done: %s", enterprise_id, counts)
    return counts


def _commit_chunk(counts: RunCounts, policy: Policy, chunk_done: bool = True) -> None:
    counts.chunks += int(chunk_done)
    if counts.event is None:
        counts.event = audit.record(
            "retention.run", "enterprise", counts.enterprise_id, enterprise_id=counts.enterprise_id, actor=ACTOR
        )
    counts.event.details = counts.details(policy)  # a new dict, so the JSON column is rewritten
    db.session.commit()
    if chunk_done:
        log.info(
            "retention of enterprise %s: chunk %s committed, %s files purged, %s leads redacted so far",
            counts.enterprise_id,
            counts.chunks,
            counts.files_purged,
            counts.leads_redacted,
        )


def _due_files(enterprise_id: int, cutoff: datetime, after_id: int, limit: int) -> list[tuple[int, str]]:
    return [
        (row.id, row.storage_key)
        for row in db.session.execute(
            select(SentBatch.id, SentBatch.storage_key)
            .where(
                SentBatch.enterprise_id == enterprise_id,
                SentBatch.id > after_id,
                SentBatch.status.in_(PURGEABLE),
                SentBatch.storage_key.is_not(None),
                SentBatch.purged_at.is_(None),
                func.coalesce(SentBatch.sent_at, SentBatch.stored_at) < cutoff,
            )
            .order_by(SentBatch.id)
            .limit(limit)
        )
    ]


def purge_files(batches: list[tuple[int, str]], reason: str, now: datetime) -> int:
    """Remove the stored bytes of (id, key) pairs, then mark the rows (caller commits).

    Bytes go first: a crash in between leaves rows whose file is already gone, which
    the next run marks (deleting a missing key is a no-op).
    """
    store = get_store()
    for _batch_id, key in batches:
        store.delete(key)
    result = db.session.execute(
        update(SentBatch)
        .where(SentBatch.id.in_([batch_id for batch_id, _ in batches]), SentBatch.purged_at.is_(None))
        .values(purged_at=now, purge_reason=reason)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def _undelivered():
    """Leads that still wait somewhere: pending, or in a file not delivered (claimed too)."""
    entry_batch = queue_files.file_of_entry(SentBatch.status)
    return exists().where(
        QueueEntry.lead_id == Lead.id,
        or_(queue_files.entry_is_pending(), entry_batch != BatchStatus.DELIVERED.value),
    )


def _due_leads(enterprise_id: int, cutoff: datetime, after_id: int, limit: int) -> list[int]:
    return list(
        db.session.scalars(
            select(Lead.id)
            .join(Campaign, Campaign.id == Lead.campaign_id)
            .where(
                Campaign.enterprise_id == enterprise_id,
                Lead.id > after_id,
                Lead.created_at < cutoff,
                Lead.redacted_at.is_(None),
                ~_undelivered(),
            )
            .order_by(Lead.id)
            .limit(limit)
        )
    )


def _redact_delivered(ids: list[int], now: datetime) -> int:
    # The condition is checked again in the UPDATE itself: a lead requeued since the
    # SELECT is left alone.
    result = db.session.execute(
        update(Lead)
        .where(and_(Lead.id.in_(ids), Lead.redacted_at.is_(None), ~_undelivered()))
        .values(fields={}, email_key=None, phone_key=None, redacted_at=now)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


MAX_DAYS = 36500


def set_policy(enterprise: Enterprise, file_days: int | None, lead_days: int | None, user) -> None:
    """Save an enterprise's periods (None = the platform default); audited, committed."""
    problems = {
        name: [f"whole days from 1 to {MAX_DAYS}, or empty for the platform default"]
        for name, value in (("fileDays", file_days), ("leadDays", lead_days))
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_DAYS)
    }
    if problems:
        raise ValidationError("invalid retention periods", problems)
    before = {"fileDays": enterprise.retention_file_days, "leadDays": enterprise.retention_lead_days}
    enterprise.retention_file_days, enterprise.retention_lead_days = file_days, lead_days
    audit.record(
        "retention.update",
        "enterprise",
        enterprise.id,
        user=user,
        details={"before": before, "after": {"fileDays": file_days, "leadDays": lead_days}},
    )
    db.session.commit()
