"""What a pending or sent file holds, a page at a time, as the file shows it."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

from sqlalchemy import Select

from app.errors import ValidationError
from app.models import BatchCsvIntegration, SentBatch
from app.services.files.mapping import cell_text, headers, row_builder, validate_mapping
from app.services.files.records import (
    Names,
    batch_names,
    batch_query,
    integration_names,
    iter_rows,
    pending_query,
    source_batch_id,
)

MAX_PER_PAGE = 500


class PreviewRow(NamedTuple):
    lead_id: int
    queued_at: datetime
    values: dict[str, str]


class Preview(NamedTuple):
    headers: list[str]
    rows: list[PreviewRow]
    total: int


def _check_paging(page: int, per_page: int) -> None:
    errors = {}
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        errors["page"] = ["must be a whole number >= 1"]
    if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE:
        errors["perPage"] = [f"must be a whole number from 1 to {MAX_PER_PAGE}"]
    if errors:
        raise ValidationError("invalid paging", errors)


def _preview(mapping: list[dict], query: Select, names: Names, page: int, per_page: int, total: int) -> Preview:
    _check_paging(page, per_page)
    # An integration without columns yet previews as no columns; a broken one says why.
    mapping = validate_mapping(mapping) if mapping else []
    cols = headers(mapping)
    build = row_builder(mapping)
    rows = [
        PreviewRow(record.lead_id, queued_at, dict(zip(cols, map(cell_text, build(record)), strict=True)))
        for queued_at, record in iter_rows(query.limit(per_page).offset((page - 1) * per_page), names)
    ]
    return Preview(cols, rows, total)


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
    return _preview(
        list(batch.field_mapping or []),
        batch_query(source_batch_id(batch), with_queued_at=True),
        batch_names(batch),
        page,
        per_page,
        batch.lead_count,
    )
