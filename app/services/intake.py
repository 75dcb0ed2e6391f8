"""Lead intake: the one way leads enter the system, idempotent by external id.

Every valid lead is queued on every enabled integration of its campaign in the
same transaction that stores it, and each integration's pending_count moves with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite

from app.errors import ValidationError
from app.extensions import db
from app.models import VALID_LEAD_STATUSES, BatchCsvIntegration, Campaign, Lead, QueueEntry
from app.models.types import utcnow

MAX_LEADS_PER_REQUEST = 10_000
MAX_EXTERNAL_ID = 200
# Large inserts go in slices: SQLite caps the number of bound parameters.
CHUNK = 1000


@dataclass(frozen=True)
class IntakeResult:
    accepted: int
    duplicates: int
    queued: int

    def to_dict(self) -> dict[str, int]:
        return {"accepted": self.accepted, "duplicates": self.duplicates, "queued": self.queued}


def validate_leads(leads: Any) -> list[dict]:
    """Check the shape of a leads payload; raise ValidationError naming each bad field."""
    if not isinstance(leads, list):
        raise ValidationError("leads must be a list", {"leads": ["must be a list"]})
    if not leads:
        raise ValidationError("no leads given", {"leads": ["must hold at least one lead"]})
    if len(leads) > MAX_LEADS_PER_REQUEST:
        raise ValidationError(
            f"at most {MAX_LEADS_PER_REQUEST} leads per request",
            {"leads": [f"at most {MAX_LEADS_PER_REQUEST} leads, got {len(leads)}"]},
        )
    errors: dict[str, list[str]] = {}
    clean = []
    for i, lead in enumerate(leads):
        where = f"leads.{i}"
        if not isinstance(lead, dict):
            errors[where] = ["must be an object"]
            continue
        external_id = lead.get("externalId")
        status = lead.get("status")
        fields = lead.get("fields", {})
        if not isinstance(external_id, str) or not external_id.strip():
            errors[f"{where}.externalId"] = ["required, a non-empty string"]
        elif len(external_id) > MAX_EXTERNAL_ID:
            errors[f"{where}.externalId"] = [f"at most {MAX_EXTERNAL_ID} characters"]
        if not isinstance(status, str) or not status.strip() or len(status) > 30:
            errors[f"{where}.status"] = ["required, a string of at most 30 characters"]
        if not isinstance(fields, dict):
            errors[f"{where}.fields"] = ["must be an object"]
        elif any(not isinstance(v, str | int | float | bool | type(None)) for v in fields.values()):
            errors[f"{where}.fields"] = ["values must be strings, numbers, booleans or null"]
        unknown = set(lead) - {"externalId", "status", "fields"}
        if unknown:
            errors[where] = [f"unknown keys: {', '.join(sorted(unknown))}"]
        if len(errors) >= 50:  # enough to act on; the rest would only bloat the reply
            break
        clean.append({"external_id": external_id, "status": status, "fields": fields})
    if errors:
        raise ValidationError("invalid leads", errors)
    return clean


def _insert(model):
    dialect = db.session.get_bind().dialect.name
    return (postgresql.insert if dialect == "postgresql" else sqlite.insert)(model)


def ingest_leads(campaign: Campaign, leads: Any, *, commit: bool = True) -> IntakeResult:
    """Store new leads for `campaign` and queue the valid ones; all or nothing."""
    clean = validate_leads(leads)
    now = utcnow()
    seen: set[str] = set()
    rows = []
    for lead in clean:
        if lead["external_id"] in seen:
            continue
        seen.add(lead["external_id"])
        rows.append({"campaign_id": campaign.id, "created_at": now, **lead})

    try:
        inserted: list[tuple[int, str]] = []
        stmt = (
            _insert(Lead)
            .on_conflict_do_nothing(index_elements=["campaign_id", "external_id"])
            .returning(Lead.id, Lead.status)
        )
        for start in range(0, len(rows), CHUNK):
            inserted.extend(db.session.execute(stmt.values(rows[start : start + CHUNK])).all())

        valid_ids = [lead_id for lead_id, status in inserted if status in VALID_LEAD_STATUSES]
        integration_ids = db.session.scalars(
            select(BatchCsvIntegration.id)
            .where(BatchCsvIntegration.campaign_id == campaign.id, BatchCsvIntegration.enabled)
            .order_by(BatchCsvIntegration.id)
        ).all()
        queued = 0
        for integration_id in integration_ids:
            entries = [{"integration_id": integration_id, "lead_id": lid, "queued_at": now} for lid in valid_ids]
            for start in range(0, len(entries), CHUNK):
                db.session.execute(_insert(QueueEntry).values(entries[start : start + CHUNK]))
            if entries:
                db.session.execute(
                    update(BatchCsvIntegration)
                    .where(BatchCsvIntegration.id == integration_id)
                    .values(pending_count=BatchCsvIntegration.pending_count + len(entries))
                )
            queued += len(entries)
        if commit:
            db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return IntakeResult(accepted=len(inserted), duplicates=len(clean) - len(inserted), queued=queued)
