"""Erasure of one person within one enterprise: found by email, phone or external id.

`preview` says what would change; `erase` then, in this order:
1. every stored file holding the person is rebuilt without them by the real file-building
   code (the batch's snapshotted settings and mapping), or purged when a rebuild would not
   give the other people's rows as they were sent (see _plan); one commit and one
   high-severity audit event per file, which keeps the original sha256 and size;
2. in one transaction: their pending queue entries are removed (each integration locked
   as a claim locks it, its pending_count moved in the same transaction), their lead rows
   redacted, and the high-severity "erasure" event written.
Files go first so that a crash leaves the person findable: running it again redoes what
is left (a rebuild of an already rebuilt file gives the same bytes). Nothing of another
person is written: rows and entries are selected by the person's lead ids only.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import String, cast, delete, func, literal, select, update

from app.errors import Conflict, DeliveryError
from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, Campaign, Lead, QueueEntry, SentBatch, User
from app.models.types import utcnow
from app.services import audit, queue_files
from app.services.claim import lock_integration
from app.services.credentials import protection_secret_for
from app.services.files import FileSettings, inner_file_name
from app.services.lead_records import batch_names, batch_query, iter_rows
from app.services.lead_trace import SEARCH_KEYS, search_value
from app.services.retention import purge_files
from app.services.storage import build_and_store, get_store


@dataclass
class FilePlan:
    file_id: int
    file_name: str | None
    status: str
    action: str  # rewrite | purge | none (no stored bytes: never stored, or purged already)
    reason: str
    resend_ids: list[int] = field(default_factory=list)


@dataclass
class Affected:
    leads: list[dict] = field(default_factory=list)
    pending: list[dict] = field(default_factory=list)
    files: list[FilePlan] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {
            "leads": self.leads,
            "pending": self.pending,
            "files": [
                {
                    "fileId": f.file_id,
                    "fileName": f.file_name,
                    "status": f.status,
                    "action": f.action,
                    "reason": f.reason,
                    "resendIds": f.resend_ids,
                }
                for f in self.files
            ],
        }


def _lead_ids(enterprise_id: int, by: str, value: str) -> list[int]:
    key = search_value(by, value)
    column = getattr(Lead, SEARCH_KEYS[by])
    return list(
        db.session.scalars(
            select(Lead.id)
            .join(Campaign, Campaign.id == Lead.campaign_id)
            .where(column == key, Campaign.enterprise_id == enterprise_id)
            .order_by(Lead.id)
        )
    )


def preview(enterprise_id: int, by: str, value: str) -> Affected:
    """What an erasure of this person would touch (nothing is changed)."""
    return _affected(enterprise_id, _lead_ids(enterprise_id, by, value))


def _affected(enterprise_id: int, lead_ids: list[int]) -> Affected:
    found = Affected()
    if not lead_ids:
        return found
    for lead in db.session.scalars(select(Lead).where(Lead.id.in_(lead_ids)).order_by(Lead.id)):
        found.leads.append(
            {"leadId": lead.id, "externalId": lead.external_id, "campaignId": lead.campaign_id, "status": lead.status}
        )
    pending = db.session.execute(
        select(BatchCsvIntegration.id, BatchCsvIntegration.label, func.count())
        .join(QueueEntry, QueueEntry.integration_id == BatchCsvIntegration.id)
        .where(QueueEntry.lead_id.in_(lead_ids), queue_files.entry_is_pending())
        .group_by(BatchCsvIntegration.id, BatchCsvIntegration.label)
        .order_by(BatchCsvIntegration.id)
    ).all()
    found.pending = [{"integrationId": i, "label": label, "entries": n} for i, label, n in pending]
    holding = select(queue_files.file_of_entry()).where(QueueEntry.lead_id.in_(lead_ids))
    batches = db.session.scalars(
        select(SentBatch)
        .where(SentBatch.id.in_(holding), SentBatch.enterprise_id == enterprise_id)
        .order_by(SentBatch.id)
    ).all()
    found.files = [_plan(batch, lead_ids) for batch in batches]
    return found


def _plan(batch: SentBatch, lead_ids: list[int]) -> FilePlan:
    resends = list(
        db.session.scalars(select(SentBatch.id).where(SentBatch.resend_of_id == batch.id).order_by(SentBatch.id))
    )
    plan = FilePlan(batch.id, batch.file_name, batch.status, "rewrite", "rebuilt without this person", resends)
    others = select(QueueEntry.lead_id).where(queue_files.in_file(batch), QueueEntry.lead_id.not_in(lead_ids))
    if batch.purged_at is not None or not batch.storage_key or not batch.sha256:
        plan.action, plan.reason = "none", "no stored file"
    elif not db.session.scalar(select(func.count()).select_from(others.subquery())):
        plan.action, plan.reason = "purge", "the file holds no one else"
    elif db.session.scalar(select(func.count()).where(Lead.id.in_(others), Lead.redacted_at.is_not(None))):
        # A rebuild would show other people's redacted values instead of what they were sent.
        plan.action, plan.reason = "purge", "other leads of the file are already redacted, so it cannot be rebuilt"
    elif not _can_relock(batch):
        plan.action, plan.reason = (
            "purge",
            "the file is protected and its password or key is gone, so it cannot be rebuilt",
        )
    return plan


def _lock_secret(batch: SentBatch) -> Any:
    """The password or key a protected file is rebuilt with (None for a plain file); DeliveryError if gone."""
    protection = FileSettings.from_snapshot(batch.file_settings).protection
    if protection == "none":
        return None
    integration = db.session.get(BatchCsvIntegration, batch.integration_id)
    if integration is None:
        raise DeliveryError("the integration of a protected file no longer exists", transient=False)
    return protection_secret_for(integration, protection)


def _can_relock(batch: SentBatch) -> bool:
    try:
        _lock_secret(batch)
    except DeliveryError:
        return False
    return True


def erase(enterprise_id: int, by: str, value: str, user: User) -> Affected:
    """Erase the person (see the module docstring); returns what was done."""
    lead_ids = _lead_ids(enterprise_id, by, value)
    found = _affected(enterprise_id, lead_ids)
    busy = [f.file_id for f in found.files if f.status in IN_FLIGHT] + _busy_resends(found)
    if busy:
        raise Conflict(
            f"files {', '.join(map(str, busy))} are being sent; erase again once they are delivered or failed"
        )
    for plan in found.files:
        if plan.action != "none":
            _apply_file(plan, lead_ids, enterprise_id, user)
    now = utcnow()
    removed = {}
    for item in found.pending:
        lock_integration(item["integrationId"])  # the claim's lock: no file takes these entries meanwhile
        gone = db.session.execute(
            delete(QueueEntry).where(
                QueueEntry.integration_id == item["integrationId"],
                QueueEntry.lead_id.in_(lead_ids),
                queue_files.entry_is_pending(),
            )
        ).rowcount
        db.session.execute(
            update(BatchCsvIntegration)
            .where(BatchCsvIntegration.id == item["integrationId"])
            .values(pending_count=BatchCsvIntegration.pending_count - gone)
        )
        removed[str(item["integrationId"])] = gone
    if lead_ids:
        db.session.execute(
            update(Lead)
            .where(Lead.id.in_(lead_ids))
            .values(
                fields={},
                email_key=None,
                phone_key=None,
                external_id=literal("erased-", String) + cast(Lead.id, String),
                redacted_at=now,
            )
            .execution_options(synchronize_session=False)
        )
    audit.record(
        "erasure",
        "person",
        None,
        user=user,
        enterprise_id=enterprise_id,
        # The searched value itself is personal data: the event names the kind of search only.
        details={
            "by": by,
            "leadIds": lead_ids,
            "pendingEntriesRemoved": removed,
            "files": [{"fileId": f.file_id, "action": f.action} for f in found.files],
        },
    )
    db.session.commit()
    return found


def _busy_resends(found: Affected) -> list[int]:
    ids = [rid for f in found.files for rid in f.resend_ids]
    if not ids:
        return []
    return list(db.session.scalars(select(SentBatch.id).where(SentBatch.id.in_(ids), SentBatch.status.in_(IN_FLIGHT))))


def _apply_file(plan: FilePlan, lead_ids: list[int], enterprise_id: int, user: User) -> None:
    batch = db.session.get(SentBatch, plan.file_id)
    before = {"sha256": batch.sha256, "sizeBytes": batch.size_bytes, "rowCount": batch.row_count}
    now = utcnow()
    rows_of = [plan.file_id, *plan.resend_ids]
    if plan.action == "purge":
        purge_files([(plan.file_id, batch.storage_key)], "erasure", now)
        db.session.execute(
            update(SentBatch)
            .where(SentBatch.id.in_(plan.resend_ids), SentBatch.purged_at.is_(None))
            .values(purged_at=now, purge_reason="erasure")
        )
        after = None
    else:
        settings = FileSettings.from_snapshot(batch.file_settings)
        query = batch_query(batch).where(Lead.id.not_in(lead_ids))
        records = (record for _queued_at, record in iter_rows(query, batch_names(batch)))
        stored, rows = build_and_store(
            records,
            batch.field_mapping,
            settings,
            get_store(),
            batch.storage_key,
            member_name=inner_file_name(batch.file_name) if batch.file_name else None,
            protection_secret=_lock_secret(batch),  # a protected file stays locked, as sent
        )
        db.session.execute(
            update(SentBatch)
            .where(SentBatch.id.in_(rows_of))
            .values(sha256=stored.sha256, size_bytes=stored.size, row_count=rows, rewritten_at=now)
            .execution_options(synchronize_session=False)
        )
        after = {"sha256": stored.sha256, "sizeBytes": stored.size, "rowCount": rows}
    audit.record(
        "erasure.file",
        "sent_batch",
        plan.file_id,
        user=user,
        enterprise_id=enterprise_id,
        details={"action": plan.action, "reason": plan.reason, "before": before, "after": after, "rows": rows_of},
    )
    db.session.commit()
