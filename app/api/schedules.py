"""An integration's `schedule`, in requests and responses: one schema per kind.

Kinds (app.services.schedule_kinds): `cron` (five cron fields; the default, so a body of
`{cron, timezone}` means what it always has), `lastBusinessDay` (`at`, a local time) and
`every` (`interval` days or weeks from `startDate`, at `at`). Every kind also takes the
time zone, the delivery cap and deliverAfterCampaignEnd.

The request is documented as a oneOf without a discriminator: the cron kind may leave
`kind` out, and OpenAPI 3.0 has no discriminator for an optional property. The branches
still exclude each other (their `kind` values and settings differ, and none takes another's
keys). Responses always carry `kind`, so theirs is a oneOf with a discriminator.
A PATCH gives the kind with all its settings, or a cron line alone (the cron kind), or
only the shared settings (timezone, cap, ...), which keep the kind and its settings.
"""

from __future__ import annotations

import copy
import zoneinfo

from marshmallow import Schema, ValidationError, fields, validate

from app.api.schema_fields import Bool, Int, Pattern
from app.api.tagged import Tagged
from app.services.delivery_caps import CAP_PERIODS, MAX_CAP
from app.services.schedule_kinds import FIRST_START, LAST_START, MAX_INTERVAL, UNITS

TIMEZONES = sorted(zoneinfo.available_timezones())
# Five fields of cron characters; which values croniter takes is stated in words.
CRON = r"[0-9A-Za-z*,/?#\-]+(?: +[0-9A-Za-z*,/?#\-]+){4}"
AT = r"(?:[01][0-9]|2[0-3]):[0-5][0-9]"
DATE = r"[0-9]{4}-[0-9]{2}-[0-9]{2}"


def _kind(value: str, *, required: bool = True, description: str = "") -> fields.String:
    meta = {"description": description} if description else {}
    return fields.String(required=required, validate=validate.OneOf([value]), metadata=meta)


def _at() -> fields.String:
    return fields.String(
        required=True,
        validate=Pattern(AT, "a local time HH:MM on the 24-hour clock"),
        metadata={"example": "06:00", "description": "local wall-clock time in `timezone` (24-hour HH:MM)"},
    )


class _Shared(Schema):
    timezone = fields.String(
        required=True,
        validate=validate.OneOf(TIMEZONES),
        metadata={"example": "Europe/London", "description": "the IANA zone the runs are local to (DST-correct)"},
    )
    capLeads = Int(
        1,
        MAX_CAP,
        allow_none=True,
        metadata={"description": "delivery cap: at most this many leads per capPeriod (null: no cap)"},
    )
    capPeriod = fields.String(
        allow_none=True,
        validate=validate.OneOf(CAP_PERIODS),
        metadata={"description": "the cap's window: a local day, week (from Monday) or month of `timezone`"},
    )
    deliverAfterCampaignEnd = Bool(
        metadata={
            "description": "after the campaign's final batch: keep the scheduled sends going (true, default) or stop"
        }
    )


class CronSchedule(_Shared):
    kind = _kind("cron", required=False, description="cron (the default: may be left out)")
    cron = fields.String(
        required=True,
        validate=[Pattern(CRON, "five cron fields"), validate.Length(max=100)],
        metadata={"example": "0 6 * * *", "description": "five cron fields (minute hour day month weekday)"},
    )


class LastBusinessDaySchedule(_Shared):
    kind = _kind("lastBusinessDay", description="the last Monday-to-Friday of each month (holidays are not skipped)")
    at = _at()


class EverySchedule(_Shared):
    kind = _kind("every", description="every `interval` days or weeks, counted from `startDate`")
    interval = Int(1, MAX_INTERVAL, required=True, metadata={"example": 2})
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))
    at = _at()
    startDate = fields.String(
        required=True,
        validate=Pattern(DATE, "a date YYYY-MM-DD"),
        metadata={
            "format": "date",
            "example": "2026-01-05",
            "description": f"the first run's local day, from {FIRST_START} to {LAST_START}; the runs are this "
            "day plus whole intervals (weeks: on this day's weekday), so they never drift",
        },
    )


SCHEDULES = {"cron": CronSchedule, "lastBusinessDay": LastBusinessDaySchedule, "every": EverySchedule}


def _changes(schema: type[Schema], name: str, *, all_optional: bool = False) -> type[Schema]:
    """The schema of a PATCH: the shared settings optional, the kind's own still required."""
    declared = {}
    for key, field in schema._declared_fields.items():
        field = copy.copy(field)
        if all_optional or key in _Shared._declared_fields:
            field.required = False
        declared[key] = field
    return Schema.from_dict(declared, name=name)


SCHEDULE_CHANGES = {kind: _changes(schema, f"{schema.__name__}Changes") for kind, schema in SCHEDULES.items()}
SharedScheduleChanges = _changes(_Shared, "SharedScheduleChanges", all_optional=True)


class ScheduleSettings(Tagged):
    """`schedule`, loaded by the schema of its `kind`; cron when `kind` is left out.

    In a PATCH (`shared` given) a schedule with neither `kind` nor `cron` changes only the
    shared settings.
    """

    discriminated = False

    def __init__(self, schemas: dict[str, type[Schema]], shared: type[Schema] | None = None, **kwargs) -> None:
        super().__init__("kind", schemas, **kwargs)
        self.shared = shared

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict) and "kind" not in value:
            if self.shared is not None and "cron" not in value:
                return self.shared().load(value)
            return self.schemas["cron"]().load(value)
        if not isinstance(value, dict):
            raise ValidationError("must be an object: a kind with its settings, or cron and timezone")
        return super()._deserialize(value, attr, data, **kwargs)

    def changes(self) -> ScheduleSettings:
        """The same field for a PATCH body."""
        field = ScheduleSettings(SCHEDULE_CHANGES, SharedScheduleChanges, metadata=self.metadata)
        field.required = False
        return field

    def documented(self) -> list[type[Schema]]:
        """The oneOf branches, in order."""
        return [*self.schemas.values(), *([self.shared] if self.shared is not None else [])]


# -- responses -------------------------------------------------------------------------


class _SharedOut(Schema):
    timezone = fields.String(required=True, metadata={"example": "Europe/London"})
    capLeads = fields.Integer(required=True, allow_none=True)
    capPeriod = fields.String(required=True, allow_none=True, validate=validate.OneOf(CAP_PERIODS))
    deliverAfterCampaignEnd = fields.Boolean(required=True)
    description = fields.String(
        required=True,
        metadata={"description": "the schedule in words, e.g. 'At 06:00 on the last business day of the month ...'"},
    )
    nextRuns = fields.List(
        fields.String(metadata={"format": "date-time"}),
        required=True,
        metadata={"description": "the next five runs after now, UTC (the schedule's own; a paused integration waits)"},
    )


class CronScheduleOut(_SharedOut):
    kind = _kind("cron")
    cron = fields.String(required=True, metadata={"example": "0 6 * * *"})


class LastBusinessDayScheduleOut(_SharedOut):
    kind = _kind("lastBusinessDay")
    at = fields.String(required=True, metadata={"example": "06:00"})


class EveryScheduleOut(_SharedOut):
    kind = _kind("every")
    interval = fields.Integer(required=True)
    unit = fields.String(required=True, validate=validate.OneOf(UNITS))
    at = fields.String(required=True, metadata={"example": "06:00"})
    startDate = fields.String(required=True, metadata={"format": "date"})


SCHEDULES_OUT = {"cron": CronScheduleOut, "lastBusinessDay": LastBusinessDayScheduleOut, "every": EveryScheduleOut}
