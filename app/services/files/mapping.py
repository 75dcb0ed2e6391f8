"""Lead records and the field mapping that turns one into a row of cells.

The writer and the previews both go through `row_builder`, so a preview shows
exactly what the file holds (formatting and injection neutralisation included).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from operator import attrgetter
from typing import Any, NamedTuple

from app.errors import ValidationError

MAX_FIELDS = 500
MAX_HEADER = 200
# OWASP CSV injection: a spreadsheet treats a cell starting with these as a formula.
INJECTION_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")
METADATA_SOURCES = (
    "lead.id",
    "lead.externalId",
    "lead.createdAt",
    "lead.status",
    "campaign.id",
    "campaign.name",
    "advertiser.id",
    "advertiser.name",
)
_METADATA_PREFIXES = ("lead.", "campaign.", "advertiser.")
_INJECTION_FIRST = frozenset(INJECTION_PREFIXES)

Cell = str | int | float


class LeadRecord(NamedTuple):
    """One lead as a file sees it: its own columns plus the names it is sent under."""

    lead_id: int
    external_id: str
    status: str
    created_at: datetime
    fields: dict
    campaign_id: int
    campaign_name: str
    advertiser_id: int
    advertiser_name: str


def validate_mapping(fields: Any) -> list[dict]:
    """A clean ordered [{"source", "header"}] list, or ValidationError keyed "fields.N.key"."""
    if not isinstance(fields, list) or not fields:
        raise ValidationError("the field mapping needs at least one column", {"fields": ["must be a non-empty list"]})
    if len(fields) > MAX_FIELDS:
        raise ValidationError("too many columns", {"fields": [f"at most {MAX_FIELDS} columns"]})
    errors: dict[str, list[str]] = {}
    clean: list[dict] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(fields):
        where = f"fields.{i}"
        if not isinstance(item, dict):
            errors[where] = ["must be an object with source and header"]
            continue
        source, header = item.get("source"), item.get("header")
        if not isinstance(source, str) or not source.strip():
            errors[f"{where}.source"] = ["required, a non-empty string"]
        elif source.startswith(_METADATA_PREFIXES) and source not in METADATA_SOURCES:
            errors[f"{where}.source"] = [f"unknown metadata field; use one of {', '.join(METADATA_SOURCES)}"]
        if not isinstance(header, str) or not header.strip():
            errors[f"{where}.header"] = ["required, a non-empty string"]
        elif len(header) > MAX_HEADER:
            errors[f"{where}.header"] = [f"at most {MAX_HEADER} characters"]
        elif header.strip().casefold() in seen:
            errors[f"{where}.header"] = [f"duplicates the header of column {seen[header.strip().casefold()]}"]
        else:
            seen[header.strip().casefold()] = i
        unknown = set(item) - {"source", "header"}
        if unknown:
            errors.setdefault(where, []).append(f"unknown keys: {', '.join(sorted(unknown))}")
        if isinstance(source, str) and isinstance(header, str):
            clean.append({"source": source.strip(), "header": header.strip()})
    if errors:
        raise ValidationError("invalid field mapping", errors)
    return clean


def headers(mapping: Sequence[dict]) -> list[str]:
    """The column headers, in order."""
    return [str(m["header"]) for m in mapping]


def format_datetime(value: datetime) -> str:
    """ISO 8601 in UTC with a Z, to the second ("2026-11-29T23:07:17Z")."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def neutralise(text: str) -> str:
    """Prefix a quote to text a spreadsheet would run as a formula (OWASP CSV injection)."""
    return "'" + text if text.startswith(INJECTION_PREFIXES) else text


def cell(value: Any) -> Cell:
    """A value as a file cell: text (neutralised) or a number.

    Numbers stay numbers so `quoting: nonnumeric` and xlsx can tell them apart;
    "-5" as a real number is no formula, so only text is neutralised.
    """
    kind = type(value)
    if kind is str:  # the common case first: this runs once per cell of every file
        return "'" + value if value[:1] in _INJECTION_FIRST else value
    if value is None:
        return ""
    if kind is bool:
        return "true" if value else "false"
    if kind is int:
        return value
    if kind is float:  # inf and -inf are written as text, so they are text to neutralise
        return value if math.isfinite(value) else neutralise(str(value))
    if isinstance(value, str):
        return neutralise(value)
    if isinstance(value, datetime):
        return format_datetime(value)
    # JSON fields hold only scalars when ingested; anything else is shown as JSON.
    return neutralise(json.dumps(value, ensure_ascii=False, separators=(",", ":"), sort_keys=True, default=str))


_ID_ATTRIBUTES = {"lead.id": "lead_id", "campaign.id": "campaign_id", "advertiser.id": "advertiser_id"}
_TEXT_ATTRIBUTES = {
    "lead.externalId": "external_id",
    "lead.status": "status",
    "campaign.name": "campaign_name",
    "advertiser.name": "advertiser_name",
}


def _metadata_column(source: str) -> Callable[[LeadRecord], Any]:
    """A record -> raw value function for a metadata source."""
    if source == "lead.createdAt":
        return _created_at_column()
    return attrgetter(_ID_ATTRIBUTES.get(source) or _TEXT_ATTRIBUTES[source])


def _created_at_column() -> Callable[[LeadRecord], str]:
    # Leads ingested together share a timestamp: format each distinct one once.
    last: list = [None, ""]

    def column(record: LeadRecord) -> str:
        if record.created_at != last[0]:
            last[0], last[1] = record.created_at, format_datetime(record.created_at)
        return last[1]

    return column


_NO_FIELDS: dict = {}


def row_builder(mapping: Sequence[dict]) -> Callable[[LeadRecord], list[Cell]]:
    """A fast function from a record to its row of cells, compiled once per file.

    This is the inner loop of every file: field values are fetched with the
    dict's own get, and safe text (most cells) skips the call to `cell`.
    """
    plan: list[tuple[str | None, Callable[[LeadRecord], Any] | None]] = []
    for m in mapping:
        source = str(m["source"])
        if source in METADATA_SOURCES:
            plan.append((None, _metadata_column(source)))
        else:
            plan.append((source, None))
    first = _INJECTION_FIRST

    def build(record: LeadRecord) -> list[Cell]:
        get = (record.fields or _NO_FIELDS).get
        raw = [get(key) if key is not None else meta(record) for key, meta in plan]
        return [v if type(v) is str and v[:1] not in first else cell(v) for v in raw]

    return build


def cell_text(value: Cell) -> str:
    """A cell as the text a CSV holds (how previews show it)."""
    return value if isinstance(value, str) else str(value)
