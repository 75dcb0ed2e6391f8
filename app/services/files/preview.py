"""A page of a pending or sent file, as the file shows it, from records already read."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import NamedTuple

from app.errors import ValidationError
from app.services.files.mapping import LeadRecord, cell_text, headers, row_builder, validate_mapping

MAX_PER_PAGE = 500


class PreviewRow(NamedTuple):
    lead_id: int
    queued_at: datetime
    values: dict[str, str]


class Preview(NamedTuple):
    headers: list[str]
    rows: list[PreviewRow]
    total: int


def check_paging(page: int, per_page: int) -> None:
    """Raise ValidationError unless page >= 1 and 1 <= per_page <= MAX_PER_PAGE."""
    errors = {}
    if not isinstance(page, int) or isinstance(page, bool) or page < 1:
        errors["page"] = ["must be a whole number >= 1"]
    if not isinstance(per_page, int) or isinstance(per_page, bool) or not 1 <= per_page <= MAX_PER_PAGE:
        errors["perPage"] = [f"must be a whole number from 1 to {MAX_PER_PAGE}"]
    if errors:
        raise ValidationError("invalid paging", errors)


def build_preview(mapping: list[dict], records: Iterable[tuple[datetime, LeadRecord]], total: int) -> Preview:
    """The page of (queued_at, record) pairs laid out by `mapping`; the mapping is checked first."""
    # An integration without columns yet previews as no columns; a broken one says why.
    mapping = validate_mapping(mapping) if mapping else []
    cols = headers(mapping)
    build = row_builder(mapping)
    rows = [
        PreviewRow(record.lead_id, queued_at, dict(zip(cols, map(cell_text, build(record)), strict=True)))
        for queued_at, record in records
    ]
    return Preview(cols, rows, total)
