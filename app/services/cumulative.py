"""Cumulative files: each file holds every valid lead the integration has taken (in a window).

The queue and its exactly-once rule are untouched: a cumulative send still claims the
pending entries (so the Pending count, lead trace and "new only" integrations behave as
ever). The file's lead list is then rebuilt from the lead history (every queue entry of
the integration already claimed into some file, the new ones included, whose lead is
valid now and arrived within the window) and recorded in batch_leads, so the file
builder, the Sent View and a later Download show exactly what that file held even as
the history grows or leads change status afterwards.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import ColumnElement, func, insert, literal, select

from app.extensions import db
from app.models import VALID_LEAD_STATUSES, BatchCsvIntegration, BatchLead, Lead, QueueEntry
from app.models.types import utcnow
from app.services import queue_files

LEAD_MODES = ("new", "cumulative")
WINDOWS = ("all", "month", "week", "day")


def window_start(window: str, timezone: str, now: datetime) -> datetime | None:
    """Start (UTC) of the current calendar month / week (from Monday) / day in `timezone`; None for "all"."""
    if window == "all":
        return None
    zone = ZoneInfo(timezone)
    day = now.astimezone(zone).date()
    if window == "month":
        day = day.replace(day=1)
    elif window == "week":
        day -= timedelta(days=day.weekday())
    # Local midnight of that date, whatever offset DST gives it then, as a UTC instant.
    return datetime.combine(day, time(0), tzinfo=zone).astimezone(UTC)


def _entries(integration_id: int, *, claimed_only: bool) -> ColumnElement[bool]:
    """The integration's queue entries: all of them, or those already in its files (app.services.queue_files)."""
    if claimed_only:
        return queue_files.claimed(integration_id)
    return QueueEntry.integration_id == integration_id


def history_conditions(
    integration: BatchCsvIntegration, now: datetime | None = None, *, claimed_only: bool = False
) -> list:
    """WHERE clauses over queue_entries JOIN leads: the integration's leads a cumulative file holds.

    `claimed_only`: those already claimed into files (a file just claimed included), else
    the pending ones too (what a send now would hold).
    """
    conditions = [
        _entries(integration.id, claimed_only=claimed_only),
        Lead.status.in_(sorted(VALID_LEAD_STATUSES)),
        # The retention policy blanked these leads' values; a file would only carry empty rows.
        Lead.redacted_at.is_(None),
    ]
    start = window_start(integration.cumulative_window, integration.timezone, now or utcnow())
    if start is not None:
        conditions.append(Lead.created_at >= start)
    return conditions


def record_file_leads(integration: BatchCsvIntegration, batch_id: int) -> int:
    """Record the leads of a cumulative file (claimed by now, this file's included), in queue order."""
    history = (
        select(literal(batch_id), QueueEntry.lead_id)
        .join(Lead, Lead.id == QueueEntry.lead_id)
        .where(*history_conditions(integration, claimed_only=True))
        .order_by(QueueEntry.id)
    )
    db.session.execute(insert(BatchLead).from_select(["batch_id", "lead_id"], history))
    return db.session.scalar(select(func.count()).where(BatchLead.batch_id == batch_id)) or 0
