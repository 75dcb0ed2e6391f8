"""Schedules: cron + IANA time zone, next runs in UTC, and words for people."""

from __future__ import annotations

from datetime import UTC, datetime
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
    """The first run strictly after `after`, in UTC."""
    tz = ZoneInfo(timezone)
    return croniter(cron, after.astimezone(tz)).get_next(datetime).astimezone(UTC)


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


def utcnow() -> datetime:
    return datetime.now(UTC)
