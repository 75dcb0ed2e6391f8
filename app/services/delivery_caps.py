"""Delivery caps: at most N leads per local day / week / month of an integration.

A window is a local calendar period of the integration's time zone (a week starts on
Monday), so a London day is 23 or 25 hours long on the clock-change Sundays. Leads are
counted from the files that claimed them (sent_batches.counted_at within the window,
resends excluded: they carry leads already counted). The claim takes at most what the
window has left; the rest stays pending for the next window.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services import scheduling

CAP_PERIODS = ("day", "week", "month")
MAX_CAP = 10_000_000


def window(period: str, timezone: str, at: datetime) -> tuple[datetime, datetime]:
    """The [start, end) UTC bounds of the local period containing `at`."""
    tz = ZoneInfo(timezone)
    local = at.astimezone(tz).date()
    if period == "day":
        start, end = local, local + timedelta(days=1)
    elif period == "week":
        start = local - timedelta(days=local.weekday())
        end = start + timedelta(days=7)
    else:
        start = local.replace(day=1)
        end = date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return _midnight(start, tz), _midnight(end, tz)


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    # slot_instant handles a midnight that falls in a DST gap (some zones jump at 00:00).
    return scheduling.slot_instant(datetime(day.year, day.month, day.day), tz)


def remaining(integration: BatchCsvIntegration, at: datetime) -> int | None:
    """Leads the integration may still claim in the window of `at`; None when it has no cap."""
    if not integration.cap_leads or integration.cap_period not in CAP_PERIODS:
        return None
    start, end = window(integration.cap_period, integration.timezone, at)
    used = db.session.scalar(
        select(func.coalesce(func.sum(SentBatch.lead_count), 0)).where(
            SentBatch.integration_id == integration.id,
            SentBatch.counted_at >= start,
            SentBatch.counted_at < end,
        )
    )
    return max(0, integration.cap_leads - int(used or 0))


def describe(cap_leads: int | None, cap_period: str | None) -> str:
    """The cap in words, e.g. 'at most 100 leads per day'."""
    if not cap_leads or cap_period not in CAP_PERIODS:
        return "no cap"
    return f"at most {cap_leads:,} leads per {cap_period}"


def slot_time(slot_key: str, timezone: str) -> datetime:
    """The UTC instant of a scheduled slot key (local wall clock YYYYmmddHHMM)."""
    wall = datetime.strptime(slot_key, "%Y%m%d%H%M")
    return scheduling.slot_instant(wall, ZoneInfo(timezone)).astimezone(UTC)
