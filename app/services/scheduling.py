"""Schedules: cron + IANA time zone, next runs in UTC, and words for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import get_description
from croniter import croniter

from app.errors import ValidationError


def validate(cron: str, timezone: str) -> None:
    """Raise ValidationError naming the bad part of a schedule."""
    errors: dict[str, list[str]] = {}
    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        errors["cron"] = ["not a valid five-field cron expression"]
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["timezone"] = ["not a known IANA time zone"]
    if errors:
        raise ValidationError("invalid schedule", errors)


def next_run(cron: str, timezone: str, after: datetime) -> datetime:
    """The first run strictly after `after`, in UTC; DST-safe.

    Runs are local wall-clock slots, each fired once: in the autumn repeat hour a slot
    fires at its first occurrence only (croniter alone would fire it twice), and a slot
    that falls into the spring gap fires at the moment the clocks jump (never skipped;
    it merges with a slot at that same instant).
    """
    tz = ZoneInfo(timezone)
    after_utc = after.astimezone(UTC)
    wall = after_utc.astimezone(tz).replace(tzinfo=None)
    slots = croniter(cron, wall)
    while True:
        instant = slot_instant(slots.get_next(datetime), tz)
        if instant > after_utc:
            return instant


def slot_instant(slot: datetime, tz: ZoneInfo) -> datetime:
    """The UTC instant of a naive local wall-clock slot (first occurrence; gap -> the jump)."""
    first = slot.replace(tzinfo=tz, fold=0).astimezone(UTC)
    if first.astimezone(tz).replace(tzinfo=None) == slot:
        return first
    # In a gap: fold=1 reads it with the offset after the change (an instant before the
    # jump), fold=0 with the offset before (an instant after it). Find the jump between.
    lo, hi = slot.replace(tzinfo=tz, fold=1).astimezone(UTC), first
    target = hi.astimezone(tz).utcoffset()
    while hi - lo > timedelta(seconds=1):
        mid = lo + (hi - lo) / 2
        if mid.astimezone(tz).utcoffset() == target:
            hi = mid
        else:
            lo = mid
    return hi.replace(microsecond=0)


def slot_key(instant: datetime, timezone: str) -> str:
    """The local wall-clock key of a run, e.g. 202610250130: one send per key."""
    return instant.astimezone(ZoneInfo(timezone)).strftime("%Y%m%d%H%M")


def next_runs(cron: str, timezone: str, after: datetime, count: int = 5) -> list[datetime]:
    runs, current = [], after
    for _ in range(count):
        current = next_run(cron, timezone, current)
        runs.append(current)
    return runs


def describe(cron: str, timezone: str | None = None) -> str:
    """The schedule in words, e.g. 'At 06:00 AM, Monday through Friday (Europe/London)'."""
    try:
        words = get_description(cron)
    except Exception:  # cron-descriptor raises several types for odd input
        words = cron
    return f"{words} ({timezone})" if timezone else words
