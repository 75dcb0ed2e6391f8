"""Schedules: an expression + IANA time zone, next runs in UTC, and words for people.

The expression (the integration's `schedule_cron` column) is a five-field cron line or
one of the calendar schedules of app.services.schedule_kinds (`@lastbusinessday 06:00`,
`@every 2 weeks 06:00 from 2026-01-05`). Every function here takes either, so callers
(the scheduler tick above all) pass the stored value along without knowing its kind.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from cron_descriptor import get_description
from croniter import croniter

from app.errors import ValidationError
from app.services import schedule_kinds
from app.services.schedule_kinds import KIND_SETTINGS, KINDS


def validate(cron: str, timezone: str) -> None:
    """Raise ValidationError naming the bad part of a schedule."""
    errors: dict[str, list[str]] = {}
    if not isinstance(cron, str) or len(cron.split()) != 5 or not croniter.is_valid(cron):
        errors["cron"] = ["not a valid five-field cron expression"]
    _check_timezone(timezone, errors)
    if errors:
        raise ValidationError("invalid schedule", errors)


def _check_timezone(timezone: object, errors: dict[str, list[str]]) -> None:
    """Add the `timezone` error of a schedule whose zone is not a known IANA name."""
    try:
        ZoneInfo(timezone)  # type: ignore[arg-type]
    except (ZoneInfoNotFoundError, ValueError, TypeError):
        errors["timezone"] = ["not a known IANA time zone"]


def validate_settings(settings: dict) -> str:
    """The stored expression of API schedule settings (kind, its settings, timezone).

    Raises ValidationError keyed by setting name (`kind`, `cron`, `at`, `interval`, `unit`,
    `startDate`, `timezone`). Settings of other kinds are not looked at.
    """
    kind = settings.get("kind", "cron")
    if kind not in KINDS:
        raise ValidationError("invalid schedule", {"kind": [f"one of {', '.join(KINDS)}"]})
    timezone, errors = settings.get("timezone"), {}
    if kind == "cron":
        try:
            validate(settings.get("cron"), timezone)
        except ValidationError as exc:
            errors = dict(exc.details)
    else:
        found, errors = schedule_kinds.from_settings(kind, settings)
        _check_timezone(timezone, errors)
    if errors:
        raise ValidationError("invalid schedule", errors)
    return " ".join(settings["cron"].split()) if kind == "cron" else found.expression()


def settings_of(expression: str) -> dict:
    """The API settings of a stored expression: {"kind": "cron", "cron": ...} or a calendar kind's."""
    found = schedule_kinds.parse(expression)
    return {"kind": "cron", "cron": expression} if found is None else found.settings()


def kind_settings(kind: str) -> tuple[str, ...]:
    """The settings a kind takes besides the time zone (none for an unknown kind)."""
    return KIND_SETTINGS.get(kind, ())


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
    calendar_schedule = schedule_kinds.parse(cron)
    if calendar_schedule is not None:
        # A slot's instant falls on the slot's own local day, so days before `after`'s are past.
        for slot in calendar_schedule.slots(wall.date()):
            instant = slot_instant(slot, tz)
            if instant > after_utc:
                return instant
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
        calendar_schedule = schedule_kinds.parse(cron)
        words = calendar_schedule.words() if calendar_schedule else get_description(cron)
    except Exception:  # cron-descriptor raises several types for odd input
        words = cron
    return f"{words} ({timezone})" if timezone else words
