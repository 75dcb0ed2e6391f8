"""Lead trace: where is lead X? Its campaign and status, and for every integration of the
campaign whether it waits in the pending file or went out in which file, when and how.

Three statements whatever the number of matches: the matching leads (one index lookup on
external_id, email_key or phone_key, kept to the caller's enterprise by its campaign), the
integrations of their campaigns, and their queue entries with the files that claimed them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import func, select

from app.errors import ValidationError
from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, Campaign, Lead, QueueEntry, SentBatch
from app.services import queue_files
from app.services.lead_keys import email_key, phone_key
from app.services.listing import Page

# How a lead can be searched for; the value is the attribute of Lead compared exactly.
SEARCH_KEYS = {"externalId": "external_id", "email": "email_key", "phone": "phone_key"}
MAX_QUERY = 320


@dataclass
class IntegrationTrace:
    integration_id: int
    label: str
    enabled: bool
    delivery_method: str
    # not_queued (never entered this integration's queue), pending, or the file's status.
    state: str
    queued_at: datetime | None = None
    file_id: int | None = None
    file_name: str | None = None
    file_status: str | None = None
    file_method: str | None = None
    delivered_at: datetime | None = None


@dataclass
class LeadTrace:
    lead_id: int
    external_id: str
    status: str
    created_at: datetime
    campaign_id: int
    campaign_name: str
    advertiser_id: int
    advertiser_name: str
    integrations: list[IntegrationTrace] = field(default_factory=list)


def search_value(by: str, value: str) -> str:
    """The value compared with the column: emails and phones normalised as intake stored them."""
    if by not in SEARCH_KEYS:
        raise ValidationError("unknown search", {"by": [f"one of {', '.join(SEARCH_KEYS)}"]})
    key = {"externalId": lambda v: v if v.strip() else None, "email": email_key, "phone": phone_key}[by](value)
    if key is None or len(value) > MAX_QUERY or "\x00" in value:
        raise ValidationError(f"not a searchable {by}", {by: ["a non-empty value of at most 320 characters"]})
    return key


def trace(enterprise_id: int, by: str, value: str, page: int = 1, per_page: int = 50) -> Page:
    """The leads of `enterprise_id` whose `by` (externalId, email, phone) equals `value`, traced."""
    column = getattr(Lead, SEARCH_KEYS[by]) if by in SEARCH_KEYS else None
    key = search_value(by, value)
    where = (column == key, Campaign.enterprise_id == enterprise_id)
    rows = db.session.execute(
        select(Lead, Campaign, Advertiser.name)
        .join(Campaign, Lead.campaign_id == Campaign.id)
        .join(Advertiser, Campaign.advertiser_id == Advertiser.id)
        .where(*where)
        .order_by(Lead.id)
        .offset((page - 1) * per_page)
        .limit(per_page)
    ).all()
    total = (page - 1) * per_page + len(rows)
    if len(rows) == per_page or (page > 1 and not rows):
        # A full (or past-the-end) page: count them. A search usually finds one lead: no count.
        total = db.session.scalar(select(func.count()).select_from(Lead).join(Campaign).where(*where)) or 0
    leads = [
        LeadTrace(
            lead_id=lead.id,
            external_id=lead.external_id,
            status=lead.status,
            created_at=lead.created_at,
            campaign_id=campaign.id,
            campaign_name=campaign.name,
            advertiser_id=campaign.advertiser_id,
            advertiser_name=advertiser_name,
        )
        for lead, campaign, advertiser_name in rows
    ]
    _attach_integrations(leads)
    return Page(rows=leads, total=total, page=page, per_page=per_page)


def _attach_integrations(leads: list[LeadTrace]) -> None:
    if not leads:
        return
    campaign_ids = {lead.campaign_id for lead in leads}
    integrations = db.session.execute(
        select(
            BatchCsvIntegration.id,
            BatchCsvIntegration.campaign_id,
            BatchCsvIntegration.label,
            BatchCsvIntegration.enabled,
            BatchCsvIntegration.delivery_method,
        )
        .where(BatchCsvIntegration.campaign_id.in_(campaign_ids))
        .order_by(BatchCsvIntegration.id)
    ).all()
    entries = {
        (row.lead_id, row.integration_id): row
        for row in db.session.execute(
            select(
                QueueEntry.lead_id,
                QueueEntry.integration_id,
                QueueEntry.queued_at,
                SentBatch.id.label("file_id"),
                SentBatch.file_name,
                SentBatch.status,
                SentBatch.delivery_method,
                SentBatch.sent_at,
            )
            .outerjoin(SentBatch, SentBatch.id == queue_files.file_of_entry())
            .where(QueueEntry.lead_id.in_([lead.lead_id for lead in leads]))
        )
    }
    for lead in leads:
        for integ in integrations:
            if integ.campaign_id != lead.campaign_id:
                continue
            item = IntegrationTrace(
                integration_id=integ.id,
                label=integ.label,
                enabled=integ.enabled,
                delivery_method=integ.delivery_method,
                state="not_queued",
            )
            entry = entries.get((lead.lead_id, integ.id))
            if entry is not None:
                item.queued_at = entry.queued_at
                item.state = "pending" if entry.file_id is None else entry.status
                if entry.file_id is not None:
                    item.file_id, item.file_name, item.file_status = entry.file_id, entry.file_name, entry.status
                    item.file_method = entry.delivery_method
                    item.delivered_at = entry.sent_at if entry.status == "delivered" else None
            lead.integrations.append(item)
