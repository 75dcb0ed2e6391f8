"""The schedules beside cron: the last business day of each month, and every N days or weeks.

Each is stored as an expression in the integration's `schedule_cron` column, beside the
cron lines it has always held (no cron line has an '@' or fewer than five fields, so the
two never meet; the column needs no new revision and every reader of a schedule goes
through app.services.scheduling, which tells them apart):

    @lastbusinessday 06:00                  last Monday-Friday of each month, 06:00 local
    @every 2 weeks 06:00 from 2026-01-05    2026-01-05, 01-19, 02-02, ... at 06:00 local
    @every 3 days 06:00 from 2026-01-05     2026-01-05, 01-08, 01-11, ... at 06:00 local

A business day is Monday to Friday; public holidays are not skipped (which country's or
region's calendar would be an advertiser's choice; a holiday list can come later as its own
setting). "Every N" is anchored on its start date, so the runs never drift whatever the
clocks do or whenever the schedule was saved. This module is plain calendar arithmetic on
naive local wall-clock times; scheduling turns each slot into its UTC instant (DST rules).
"""

from __future__ import annotations

import calendar
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta

KINDS = ("cron", "lastBusinessDay", "every")
UNITS = ("days", "weeks")
MAX_INTERVAL = 365
# Start dates a schedule may be anchored on (dates far outside would overflow the arithmetic).
FIRST_START, LAST_START = date(2000, 1, 1), date(2100, 12, 31)
# The settings each kind takes besides the time zone (API names).
KIND_SETTINGS = {
    "cron": ("cron",),
    "lastBusinessDay": ("at",),
    "every": ("interval", "unit", "at", "startDate"),
}

_AT = r"([01][0-9]|2[0-3]):([0-5][0-9])"
AT_PATTERN = re.compile(_AT)
_LAST_BUSINESS_DAY = re.compile(rf"@lastbusinessday {_AT}")
_EVERY = re.compile(rf"@every ([1-9][0-9]{{0,2}}) (days|weeks) {_AT} from ([0-9]{{4}}-[0-9]{{2}}-[0-9]{{2}})")


@dataclass(frozen=True, slots=True)
class CalendarSchedule:
    """A last-business-day or every-N schedule: its local time and, for every-N, its step."""

    kind: str
    at: time
    interval: int = 1
    unit: str = "days"
    start: date | None = None

    @property
    def step(self) -> timedelta:
        return timedelta(days=self.interval * (7 if self.unit == "weeks" else 1))

    def expression(self) -> str:
        """The stored form (see the module docstring)."""
        at = self.at.strftime("%H:%M")
        if self.kind == "lastBusinessDay":
            return f"@lastbusinessday {at}"
        return f"@every {self.interval} {self.unit} {at} from {self.start.isoformat()}"

    def slots(self, first_day: date) -> Iterator[datetime]:
        """The local wall-clock runs on or after `first_day`, in order (an endless iterator)."""
        if self.kind == "lastBusinessDay":
            year, month = first_day.year, first_day.month
            while True:
                day = last_business_day(year, month)
                if day >= first_day:
                    yield datetime.combine(day, self.at)
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
        assert self.start is not None
        day = self.start
        if first_day > day:
            # The first anchored day on or after first_day, without walking there step by step.
            steps = -(-(first_day - day).days // self.step.days)
            day += self.step * steps
        while True:
            yield datetime.combine(day, self.at)
            day += self.step

    def settings(self) -> dict:
        """The API's settings of this schedule (without the time zone)."""
        at = self.at.strftime("%H:%M")
        if self.kind == "lastBusinessDay":
            return {"kind": self.kind, "at": at}
        start = self.start.isoformat() if self.start else None
        return {"kind": self.kind, "interval": self.interval, "unit": self.unit, "at": at, "startDate": start}

    def words(self) -> str:
        """E.g. 'At 06:00, every 2 weeks on Monday, from 2026-01-05'."""
        at = self.at.strftime("%H:%M")
        if self.kind == "lastBusinessDay":
            return f"At {at} on the last business day of the month (Monday to Friday)"
        assert self.start is not None
        if self.unit == "weeks":
            weekday = calendar.day_name[self.start.weekday()]
            every = "every week" if self.interval == 1 else f"every {self.interval} weeks"
            return f"At {at}, {every} on {weekday}, from {self.start.isoformat()}"
        every = "every day" if self.interval == 1 else f"every {self.interval} days"
        return f"At {at}, {every}, from {self.start.isoformat()}"


def last_business_day(year: int, month: int) -> date:
    """The month's last Monday-to-Friday."""
    day = date(year, month, calendar.monthrange(year, month)[1])
    return day - timedelta(days=max(0, day.weekday() - 4))


def parse(expression: str) -> CalendarSchedule | None:
    """The calendar schedule an expression stores; None for a cron line; ValueError if malformed."""
    if not expression.startswith("@"):
        return None
    if found := _LAST_BUSINESS_DAY.fullmatch(expression):
        return CalendarSchedule("lastBusinessDay", time(int(found[1]), int(found[2])))
    if found := _EVERY.fullmatch(expression):
        start = date.fromisoformat(found[5])
        return CalendarSchedule("every", time(int(found[3]), int(found[4])), int(found[1]), found[2], start)
    raise ValueError(f"not a schedule expression: {expression!r}")


def from_settings(kind: str, settings: dict) -> tuple[CalendarSchedule | None, dict[str, list[str]]]:
    """A calendar schedule from API settings (kind lastBusinessDay or every), or the errors by key."""
    errors: dict[str, list[str]] = {}
    at = settings.get("at")
    found = AT_PATTERN.fullmatch(at) if isinstance(at, str) else None
    if found is None:
        errors["at"] = ["a local time HH:MM on the 24-hour clock, e.g. 06:00"]
    if kind == "lastBusinessDay":
        return (None, errors) if errors else (CalendarSchedule(kind, time(int(found[1]), int(found[2]))), {})
    interval, unit, start = settings.get("interval"), settings.get("unit"), _date(settings.get("startDate"))
    if isinstance(interval, bool) or not isinstance(interval, int) or not 1 <= interval <= MAX_INTERVAL:
        errors["interval"] = [f"a whole number from 1 to {MAX_INTERVAL}"]
    if unit not in UNITS:
        errors["unit"] = [f"one of {', '.join(UNITS)}"]
    if start is None or not FIRST_START <= start <= LAST_START:
        errors["startDate"] = [f"a date YYYY-MM-DD from {FIRST_START} to {LAST_START}: the first run's day"]
    if errors:
        return None, errors
    return CalendarSchedule(kind, time(int(found[1]), int(found[2])), interval, unit, start), {}


def _date(value: object) -> date | None:
    if not isinstance(value, str) or not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value):
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        return None
