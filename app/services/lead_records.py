"""Lead records straight from the database, streamed in queue order, and file previews.

One query joins queue entries to leads; campaign and advertiser names come from
the batch's snapshot (or the integration for pending leads), not a join per row.
The rows are streamed (server-side cursor on PostgreSQL): consume the iterator
before committing the session that produced it. app.services.files turns the
records into a file or a preview page without touching the database.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Select, Text, cast, null, select

from app.errors import NotFound
from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, BatchLead, Campaign, Lead, QueueEntry, SentBatch
from app.services import queue_files
from app.services.cumulative import history_conditions
from app.services.files import LeadRecord, Preview, build_preview, check_paging

YIELD_PER = 5000
# A resend points at the batch whose file it re-delivers; chains are short.
MAX_RESEND_DEPTH = 20


@dataclass(frozen=True)
class Names:
    """The campaign and advertiser a file is sent under."""

    campaign_id: int
    campaign_name: str
    advertiser_id: int
    advertiser_name: str


def source_batch(batch: SentBatch) -> SentBatch:
    """The batch whose recorded leads are this batch's leads (a resend's original)."""
    current, depth = batch, 0
    while current.resend_of_id is not None and depth < MAX_RESEND_DEPTH:
        original = db.session.get(SentBatch, current.resend_of_id)
        if original is None:
            break
        current, depth = original, depth + 1
    return current


def batch_names(batch: SentBatch) -> Names:
    """The names snapshotted on a sent batch."""
    return Names(batch.campaign_id, batch.campaign_name, batch.advertiser_id, batch.advertiser_name)


def integration_names(integration: BatchCsvIntegration) -> Names:
    """The current campaign and advertiser names of an integration (one query)."""
    row = db.session.execute(
        select(Campaign.id, Campaign.name, Advertiser.id, Advertiser.name)
        .join(Advertiser, Advertiser.id == Campaign.advertiser_id)
        .where(Campaign.id == integration.campaign_id)
    ).one()
    return Names(row[0], row[1], row[2], row[3])


# The column order iter_rows unpacks: entry id, queued at, then the lead.
# fields comes as JSON text and is decoded here: psycopg's per-value JSON loader
# (bytes sniffing, then json.loads) was half the time of reading a batch.
_LEAD_COLUMNS = (Lead.id, Lead.external_id, Lead.status, Lead.created_at, cast(Lead.fields, Text))
_decode_json = json.JSONDecoder().decode


def _lead_rows(with_queued_at: bool) -> Select:
    # Files do not show queued_at; leaving it out saves a conversion per row.
    queued_at = QueueEntry.queued_at if with_queued_at else null()
    return select(QueueEntry.id, queued_at, *_LEAD_COLUMNS).join(Lead, Lead.id == QueueEntry.lead_id)


def batch_query(batch: SentBatch, *, with_queued_at: bool = False) -> Select:
    """The leads of a sent batch (pass the source batch for resends), in file order.

    A "new leads" file's leads are the queue entries of its range (app.services.queue_files);
    a cumulative file's are the lead list recorded when it was claimed (batch_leads), which
    shows no queued-at time.
    """
    if batch.cumulative:
        return (
            select(BatchLead.id, null(), *_LEAD_COLUMNS)
            .join(Lead, Lead.id == BatchLead.lead_id)
            .where(BatchLead.batch_id == batch.id)
            .order_by(BatchLead.id)
        )
    return _lead_rows(with_queued_at).where(queue_files.in_file(batch)).order_by(QueueEntry.id)


def pending_query(integration_id: int, *, with_queued_at: bool = False) -> Select:
    """Queue entries + leads still pending for an integration, queue order."""
    return _lead_rows(with_queued_at).where(queue_files.pending(integration_id)).order_by(QueueEntry.id)


def cumulative_query(integration: BatchCsvIntegration) -> Select:
    """The leads a cumulative send of the integration would put in its file now, in queue order."""
    return _lead_rows(False).where(*history_conditions(integration)).order_by(QueueEntry.id)


def iter_rows(query: Select, names: Names) -> Iterator[tuple[datetime | None, LeadRecord]]:
    """(queued_at, record) pairs for a query built by batch_query/pending_query, streamed.

    Runs on the session's connection (same transaction) but as a Core statement:
    rows are plain tuples, with none of the ORM's per-row bookkeeping.
    """
    result = db.session.connection().execute(query.execution_options(yield_per=YIELD_PER))
    c_id, c_name, a_id, a_name = names.campaign_id, names.campaign_name, names.advertiser_id, names.advertiser_name
    try:
        for _entry_id, queued_at, lead_id, external_id, status, created_at, fields in result:
            yield (
                queued_at,
                LeadRecord(
                    lead_id,
                    external_id,
                    status,
                    created_at,
                    _decode_json(fields) or {} if fields else {},
                    c_id,
                    c_name,
                    a_id,
                    a_name,
                ),
            )
    finally:
        result.close()


def iter_batch_records(sent_batch_id: int) -> Iterator[LeadRecord]:
    """The leads of a sent batch in queue order; a resend yields its original's leads."""
    batch = db.session.get(SentBatch, sent_batch_id)
    if batch is None:
        raise NotFound(f"SentBatch {sent_batch_id} not found")
    source = source_batch(batch)
    for _queued_at, record in iter_rows(batch_query(source), batch_names(batch)):
        yield record


def iter_pending_records(integration_id: int) -> Iterator[LeadRecord]:
    """The leads waiting in an integration's pending batch, in queue order."""
    integration = db.session.get(BatchCsvIntegration, integration_id)
    if integration is None:
        raise NotFound(f"BatchCsvIntegration {integration_id} not found")
    for _queued_at, record in iter_rows(pending_query(integration.id), integration_names(integration)):
        yield record


def _preview(mapping: list[dict], query: Select, names: Names, page: int, per_page: int, total: int) -> Preview:
    check_paging(page, per_page)
    return build_preview(mapping, iter_rows(query.limit(per_page).offset((page - 1) * per_page), names), total)


def preview_pending(integration: BatchCsvIntegration, page: int = 1, per_page: int = 50) -> Preview:
    """The leads that the integration's next file will hold, with its current mapping."""
    return _preview(
        list(integration.fields or []),
        pending_query(integration.id, with_queued_at=True),
        integration_names(integration),
        page,
        per_page,
        integration.pending_count,
    )


def preview_sent(batch: SentBatch, page: int = 1, per_page: int = 50) -> Preview:
    """The leads of a sent file, with the mapping and names snapshotted when it was sent."""
    source = source_batch(batch)
    return _preview(
        list(batch.field_mapping or []),
        batch_query(source, with_queued_at=True),
        batch_names(batch),
        page,
        per_page,
        batch.lead_count,
    )
