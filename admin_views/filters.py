"""Table filters of our own: a UTC period on a time column, spelled the way links write it.

The dashboard links each bar and number to the table behind it; a day's bar needs "sent on
2026-11-29 (UTC)". Flask-Admin's own date-time filters take naive local times, which our UTC
columns refuse, and a range of two full timestamps makes unreadable links.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from flask_admin.contrib.sqla.filters import BaseSQLAFilter, FilterConverter, FilterLike

from app.services import listing

_DAY = r"(\d{4}-\d{2}-\d{2})"
_HOUR = re.compile(rf"^{_DAY}T(\d{{2}})$")
_ONE_DAY = re.compile(rf"^{_DAY}$")
_DAYS = re.compile(rf"^{_DAY}/{_DAY}$")
_HOURS = re.compile(rf"^{_DAY}T(\d{{2}})/{_DAY}T(\d{{2}})$")


def period(value: str) -> tuple[datetime, datetime] | None:
    """[start, end) in UTC of a day '2026-11-29', an hour '2026-11-29T06', or a range of either,
    ends included: '2026-11-01/2026-11-30', '2026-11-29T06/2026-11-30T05'."""
    text = (value or "").strip()
    try:
        if match := _HOUR.match(text):
            start = _midnight(match.group(1)).replace(hour=int(match.group(2)))
            return start, start + timedelta(hours=1)
        if match := _ONE_DAY.match(text):
            start = _midnight(match.group(1))
            return start, start + timedelta(days=1)
        if match := _HOURS.match(text):
            start = _midnight(match.group(1)).replace(hour=int(match.group(2)))
            last = _midnight(match.group(3)).replace(hour=int(match.group(4)))
            return (start, last + timedelta(hours=1)) if start <= last else None
        if match := _DAYS.match(text):
            start, last = _midnight(match.group(1)), _midnight(match.group(2))
            return (start, last + timedelta(days=1)) if start <= last else None
    except ValueError:  # 2026-02-30, hour 25
        return None
    return None


def _midnight(day: str) -> datetime:
    parsed = date.fromisoformat(day)
    return datetime(parsed.year, parsed.month, parsed.day, tzinfo=UTC)


class UtcPeriodFilter(BaseSQLAFilter):
    """`column` within a UTC day, hour or range of days (see `period`)."""

    def validate(self, value: Any) -> bool:
        return period(value) is not None

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        start, end = period(value)
        column = self.get_column(alias)
        return query.filter(column >= start, column < end)

    def operation(self) -> str:
        return "in period (UTC)"


class NameContains(FilterLike):
    """Flask-Admin's "contains" as the API filters (app.services.listing.contains): % and _
    typed by a person are taken literally, so "100%" finds "100%" rather than every 100.
    `^x` (starts with) and `=x` (exactly) keep Flask-Admin's meaning.
    """

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        if str(value).startswith(("^", "=")):
            return super().apply(query, value, alias)
        criterion = listing.contains(self.get_column(alias), value)
        return query if criterion is None else query.filter(criterion)  # an empty value filters nothing


class Converter(FilterConverter):
    """Flask-Admin's filters for a column type, with NameContains in place of FilterLike.

    Relies on FilterConverter.strings of Flask-Admin 2.2.1 (canary: tests/test_flask_admin_canary.py).
    """

    strings = tuple(NameContains if f is FilterLike else f for f in FilterConverter.strings)


EMPTY_RUNS_SHOWN = (("too", "as well"), ("only", "only"))


class EmptyRunsFilter(BaseSQLAFilter):
    """Show the Sent table's empty runs (hidden by default; SentBatchesView.scope): too, or only them.

    Its URL argument is `flt0_empty_runs_shown=too|only` (named_filter_urls).
    """

    def __init__(self, column: Any, name: str = "Empty runs") -> None:
        super().__init__(column, name, options=EMPTY_RUNS_SHOWN)

    def validate(self, value: Any) -> bool:
        return value in dict(EMPTY_RUNS_SHOWN)

    def apply(self, query: Any, value: Any, alias: Any = None) -> Any:
        if value == "only":
            return query.filter(self.get_column(alias) == "empty")
        return query  # "too": the view lifts its default exclusion, nothing to add

    def operation(self) -> str:
        return "shown"
