"""Lead status after intake: a lead that stops being valid leaves every pending file.

Rules (README "Lead status after intake"):
- A valid lead made invalid leaves every PENDING queue entry it has, in the same
  transaction that changes its status, and each integration's pending_count moves
  with it. An entry already claimed into a file stays in that file: a file is what
  was (or is being) sent, and invariant 1 forbids taking a lead out of it.
- Each queue it left is remembered in lead_drops (status, time) for the Pending
  View's "show dropped".
- A lead made valid again re-enters the queues it left, and is queued on every
  enabled integration of its campaign that never had it (a lead invalid at intake
  was never queued). It never re-enters a queue whose file already carried it.

Concurrency: the same discipline as the claim (app.services.claim): every integration
row of the campaign is locked first (FOR UPDATE on PostgreSQL, the database write lock
on SQLite), in id order, before any entry is removed or queued, and pending entries
(ids above their integration's claimed_through, app.services.queue_files) are removed
by one DELETE. A claim either ran before (the entry is in its file and stays) or runs
after (the entry is gone); never half. A re-queued entry draws its id under those locks,
so it lands above every claimed range.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, text, update

from app.errors import ValidationError
from app.extensions import db
from app.models import VALID_LEAD_STATUSES, BatchCsvIntegration, Campaign, Lead, LeadDrop, QueueEntry, User
from app.models.types import utcnow
from app.services import audit, queue_files
from app.services.actors import Actor
from app.services.listing import Page

MAX_CHANGES_PER_REQUEST = 10_000
# Enough externalIds for a client to act on; the counts say how many there were in all.
MAX_REPORTED_UNKNOWN = 1000


@dataclass
class StatusResult:
    updated: int = 0
    unchanged: int = 0
    unknown: list[str] = field(default_factory=list)
    dropped: int = 0  # pending queue entries removed
    requeued: int = 0  # queue entries added for leads made valid again

    def to_dict(self) -> dict[str, Any]:
        return {
            "updated": self.updated,
            "unchanged": self.unchanged,
            "unknown": self.unknown[:MAX_REPORTED_UNKNOWN],
            "unknownCount": len(self.unknown),
            "dropped": self.dropped,
            "requeued": self.requeued,
        }


def validate_changes(leads: Any) -> dict[str, str]:
    """{externalId: status} from a PATCH body's leads; ValidationError naming each bad field."""
    if not isinstance(leads, list) or not leads:
        raise ValidationError("leads must be a non-empty list", {"leads": ["required, a non-empty list"]})
    if len(leads) > MAX_CHANGES_PER_REQUEST:
        raise ValidationError(
            f"at most {MAX_CHANGES_PER_REQUEST} leads per request",
            {"leads": [f"at most {MAX_CHANGES_PER_REQUEST} leads, got {len(leads)}"]},
        )
    errors: dict[str, list[str]] = {}
    changes: dict[str, str] = {}
    for i, lead in enumerate(leads):
        where = f"leads.{i}"
        if not isinstance(lead, dict) or set(lead) != {"externalId", "status"}:
            errors[where] = ['must be {"externalId": "...", "status": "..."}']
        else:
            external_id, status = lead["externalId"], lead["status"]
            if not isinstance(external_id, str) or not external_id.strip() or len(external_id) > 200:
                errors[f"{where}.externalId"] = ["required, a non-empty string of at most 200 characters"]
            if not isinstance(status, str) or not status.strip() or len(status) > 30:
                errors[f"{where}.status"] = ["required, a string of at most 30 characters"]
            elif isinstance(external_id, str):
                # Given twice, the later one wins, as if sent in two requests in order.
                changes[external_id] = status
        if len(errors) >= 50:  # enough to act on; the rest would only bloat the reply
            break
    if errors:
        raise ValidationError("invalid leads", errors)
    return changes


def change_statuses(campaign: Campaign, changes: dict[str, str], *, user: Actor | None = None) -> StatusResult:
    """Apply {externalId: status} to the campaign's leads inside the caller's transaction."""
    result = StatusResult()
    if not changes:
        return result
    _lock_integrations(campaign.id)
    found = {
        row.external_id: (row.id, row.status)
        for row in db.session.execute(
            select(Lead.id, Lead.external_id, Lead.status).where(
                Lead.campaign_id == campaign.id, Lead.external_id.in_(list(changes))
            )
        )
    }
    result.unknown = sorted(set(changes) - set(found))
    changed = {ext: found[ext] for ext, status in changes.items() if ext in found and found[ext][1] != status}
    result.unchanged = len(found) - len(changed)
    if not changed:
        return result
    db.session.execute(
        update(Lead.__table__).where(Lead.__table__.c.id == bindparam("lead_id")).values(status=bindparam("new")),
        [{"lead_id": lead_id, "new": changes[ext]} for ext, (lead_id, _old) in changed.items()],
    )
    result.updated = len(changed)
    now = utcnow()
    dropping = {
        lead_id: changes[ext] for ext, (lead_id, old) in changed.items() if _valid(old) and not _valid(changes[ext])
    }
    restoring = [lead_id for ext, (lead_id, old) in changed.items() if not _valid(old) and _valid(changes[ext])]
    if dropping:
        result.dropped = _drop(dropping, now)
    if restoring:
        result.requeued = _restore(campaign.id, restoring, now)
    audit.record(
        "leads.status",
        "campaign",
        campaign.id,
        user=user if isinstance(user, User) else None,
        enterprise_id=campaign.enterprise_id,
        details={
            "updated": result.updated,
            "dropped": result.dropped,
            "requeued": result.requeued,
            "unknown": len(result.unknown),
            # The first few, so the event says which leads without holding 10,000 of them.
            "leads": [{"externalId": ext, "from": old, "to": changes[ext]} for ext, (_id, old) in changed.items()][:50],
        },
    )
    return result


def _valid(status: str) -> bool:
    return status in VALID_LEAD_STATUSES


def _lock_integrations(campaign_id: int) -> None:
    """Lock the campaign's integration rows in id order, as the claim locks its one row."""
    ids = select(BatchCsvIntegration.id).where(BatchCsvIntegration.campaign_id == campaign_id)
    if db.session.get_bind().dialect.name == "postgresql":
        db.session.execute(ids.order_by(BatchCsvIntegration.id).with_for_update()).all()
    else:
        # The first write takes SQLite's database lock for the rest of the transaction.
        db.session.execute(
            text("UPDATE batch_integrations SET pending_count = pending_count WHERE campaign_id = :c"),
            {"c": campaign_id},
        )


def _drop(dropping: dict[int, str], now) -> int:
    """Remove the leads' pending entries, record each queue left, move pending_count."""
    table = QueueEntry.__table__
    removed = db.session.execute(
        delete(table)
        .where(QueueEntry.lead_id.in_(list(dropping)), queue_files.entry_is_pending())
        .returning(table.c.integration_id, table.c.lead_id)
    ).all()
    if not removed:
        return 0
    db.session.execute(
        insert(LeadDrop.__table__),
        [
            {"integration_id": integration_id, "lead_id": lead_id, "status": dropping[lead_id], "dropped_at": now}
            for integration_id, lead_id in removed
        ],
    )
    _move_pending(Counter(integration_id for integration_id, _ in removed), -1)
    return len(removed)


def _restore(campaign_id: int, lead_ids: list[int], now) -> int:
    """Queue leads made valid again where they left or never were; never where they were sent."""
    left = db.session.execute(
        select(LeadDrop.integration_id, LeadDrop.lead_id).where(LeadDrop.lead_id.in_(lead_ids))
    ).all()
    enabled = db.session.scalars(
        select(BatchCsvIntegration.id).where(
            BatchCsvIntegration.campaign_id == campaign_id, BatchCsvIntegration.enabled
        )
    ).all()
    had = set(
        db.session.execute(
            select(QueueEntry.integration_id, QueueEntry.lead_id).where(QueueEntry.lead_id.in_(lead_ids))
        ).all()
    )
    wanted = {(i, lead) for i, lead in left} | {(i, lead) for i in enabled for lead in lead_ids}
    rows = sorted(pair for pair in wanted if pair not in had)
    db.session.execute(delete(LeadDrop).where(LeadDrop.lead_id.in_(lead_ids)))
    if rows:
        db.session.execute(
            insert(QueueEntry.__table__),
            [{"integration_id": i, "lead_id": lead, "queued_at": now} for i, lead in rows],
        )
        _move_pending(Counter(i for i, _ in rows), +1)
    return len(rows)


def _move_pending(per_integration: Counter, sign: int) -> None:
    for integration_id, count in sorted(per_integration.items()):
        db.session.execute(
            update(BatchCsvIntegration)
            .where(BatchCsvIntegration.id == integration_id)
            .values(pending_count=BatchCsvIntegration.pending_count + sign * count)
        )


@dataclass(frozen=True)
class DroppedLead:
    """A lead that left an integration's pending queue: its status then, and when."""

    lead_id: int
    external_id: str
    status: str
    dropped_at: datetime


def dropped_leads(integration_id: int, page: int = 1, per_page: int = 50) -> Page:
    """Leads that left this integration's pending queue by a status change, newest first."""
    total = db.session.scalar(select(func.count()).where(LeadDrop.integration_id == integration_id)) or 0
    rows = db.session.execute(
        select(LeadDrop.lead_id, Lead.external_id, LeadDrop.status, LeadDrop.dropped_at)
        .join(Lead, Lead.id == LeadDrop.lead_id)
        .where(LeadDrop.integration_id == integration_id)
        .order_by(LeadDrop.dropped_at.desc(), LeadDrop.id.desc())
        .limit(per_page)
        .offset((page - 1) * per_page)
    ).all()
    return Page([DroppedLead(*row) for row in rows], total, page, per_page)
