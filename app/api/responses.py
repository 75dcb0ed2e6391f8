"""Response schemas: the one description of every body the API returns.

They generate the OpenAPI document and serialise what the services return (model rows,
dataclasses), read by attribute name: `leadCount` comes from `lead_count`. Single
objects are dumped by flask-smorest with these schemas; pages of up to 500 rows go
through `app.api.serialise.dumper`, a plain function built from the same schema (five
times faster than a marshmallow dump; tests/test_api_serialise.py checks both agree).
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from marshmallow import Schema, fields, validate

from app.api.schedules import SCHEDULES_OUT
from app.api.schemas import FieldMapSchema
from app.api.tagged import DELIVERIES, Tagged
from app.file_options import COMPRESSIONS, FILE_FORMATS, LINE_ENDINGS, PROTECTIONS, QUOTING
from app.models.batches import BatchStatus, Trigger
from app.models.integrations import CREDENTIAL_KINDS
from app.models.types import utcnow
from app.services import scheduling
from app.services.cumulative import LEAD_MODES, WINDOWS

STATUSES = [s.value for s in BatchStatus]
TRIGGERS = [t.value for t in Trigger]


def iso_utc(value: datetime | None) -> str | None:
    """ISO 8601 in UTC with a Z, to the second (the API's one time format)."""
    if value is None:
        return None
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_date(value: date | None) -> str | None:
    return value.isoformat() if value is not None else None


class Timestamp(fields.DateTime):
    """A date-time as the API writes it: UTC, a Z, whole seconds."""

    def _serialize(self, value, attr, obj, **kwargs):
        return iso_utc(value)


class Day(fields.Date):
    def _serialize(self, value, attr, obj, **kwargs):
        return iso_date(value)


class Embedded(fields.Nested):
    """A nested object whose fields are read from the parent object itself (schedule, file)."""

    def get_value(self, obj, attr, accessor=None, default=None):
        return obj


class Settings(Tagged):
    """Delivery settings, documented per method (oneOf), built from the parent by `build`:
    a JSON column whose keys depend on the method, plus the method and credential columns."""

    def __init__(self, tag: str, schemas: dict, build, **kwargs) -> None:
        super().__init__(tag, schemas, **kwargs)
        self.build = build

    def get_value(self, obj, attr, accessor=None, default=None):
        return obj

    def _serialize(self, value, attr, obj, **kwargs):
        return self.build(value)


# -- errors ----------------------------------------------------------------------------


class ErrorBody(Schema):
    code = fields.String(required=True)
    message = fields.String(required=True)
    details = fields.Raw(metadata={"description": "offending fields -> messages (validation errors)"})


class ErrorSchema(Schema):
    error = fields.Nested(ErrorBody, required=True)


# -- batches ---------------------------------------------------------------------------


class MetaSchema(Schema):
    page = fields.Integer(required=True)
    perPage = fields.Integer(required=True)
    total = fields.Integer(required=True)
    totalEstimated = fields.Boolean(
        metadata={
            "description": "present (true) only when `total` is PostgreSQL's estimate rather than a count: "
            "the Sent list (campaign-lead-batches) counts up to 1,000 matching files exactly and estimates beyond"
        }
    )


class PendingRow(Schema):
    integrationId = fields.Integer(required=True, attribute="integration_id")
    advertiserId = fields.Integer(required=True, attribute="advertiser_id")
    advertiserName = fields.String(required=True, attribute="advertiser_name")
    campaignId = fields.Integer(required=True, attribute="campaign_id")
    campaignName = fields.String(required=True, attribute="campaign_name")
    label = fields.String(required=True)
    leadCount = fields.Integer(required=True, attribute="lead_count")
    schedule = fields.String(
        required=True, attribute="schedule_words", metadata={"description": "the schedule in words"}
    )
    scheduleCron = fields.String(
        required=True,
        attribute="schedule_cron",
        metadata={
            "description": "the stored schedule: five cron fields, or `@lastbusinessday HH:MM` / "
            "`@every N days|weeks HH:MM from YYYY-MM-DD` for the other kinds (README: Schedules)"
        },
    )
    timezone = fields.String(required=True)
    nextRunAt = Timestamp(required=True, allow_none=True, attribute="next_run_at")
    campaignEndDate = Day(required=True, allow_none=True, attribute="campaign_end_date")
    pausedAt = Timestamp(required=True, allow_none=True, attribute="paused_at")
    consecutiveFailures = fields.Integer(required=True, attribute="consecutive_failures")
    lastFileStatus = fields.String(required=True, allow_none=True, attribute="last_file_status")
    lastFileAt = Timestamp(required=True, allow_none=True, attribute="last_file_at")


class SentRow(Schema):
    id = fields.Integer(required=True)
    integrationId = fields.Integer(required=True, attribute="integration_id")
    advertiserId = fields.Integer(required=True, attribute="advertiser_id")
    advertiserName = fields.String(required=True, attribute="advertiser_name")
    campaignId = fields.Integer(required=True, attribute="campaign_id")
    campaignName = fields.String(required=True, attribute="campaign_name")
    label = fields.String(required=True)
    leadCount = fields.Integer(required=True, attribute="lead_count")
    status = fields.String(required=True, validate=validate.OneOf(STATUSES))
    trigger = fields.String(required=True, validate=validate.OneOf(TRIGGERS))
    sentAt = Timestamp(required=True, allow_none=True, attribute="sent_at")
    createdAt = Timestamp(required=True, attribute="created_at")
    countedAt = Timestamp(
        required=True,
        allow_none=True,
        attribute="counted_at",
        metadata={
            "description": "the scheduled slot of a scheduled file or empty run; the moment of a Batch now; "
            "null for a resend"
        },
    )
    fileName = fields.String(required=True, allow_none=True, attribute="file_name")
    sizeBytes = fields.Integer(required=True, allow_none=True, attribute="size_bytes")
    sha256 = fields.String(required=True, allow_none=True)


class SentDetail(SentRow):
    error = fields.String(required=True, allow_none=True, attribute="last_error")
    attempts = fields.Integer(required=True)
    triggeredBy = fields.String(required=True, attribute="triggered_by")
    resendOfId = fields.Integer(required=True, allow_none=True, attribute="resend_of_id")
    rowCount = fields.Integer(required=True, allow_none=True, attribute="row_count")
    deliveryMethod = fields.String(required=True, attribute="delivery_method")
    storedAt = Timestamp(required=True, allow_none=True, attribute="stored_at")
    updatedAt = Timestamp(required=True, attribute="updated_at")


class LeadRow(Schema):
    leadId = fields.Integer(required=True, attribute="lead_id")
    queuedAt = Timestamp(required=True, attribute="queued_at")
    fields = fields.Dict(keys=fields.String(), values=fields.String(), required=True, attribute="values")


class LeadsMeta(MetaSchema):
    headers = fields.List(fields.String(), required=True, metadata={"description": "the file's columns, in order"})


class Outcome(Schema):
    integrationId = fields.Integer(required=True, attribute="integration_id")
    batchId = fields.Integer(required=True, allow_none=True, attribute="batch_id")
    status = fields.String(required=True, validate=validate.OneOf(["queued", "in_flight", "empty"]))
    leadCount = fields.Integer(required=True, attribute="lead_count")


class RequeueResult(Schema):
    requeued = fields.Integer(required=True, metadata={"description": "leads returned to pending"})


# -- catalog ---------------------------------------------------------------------------


class AdvertiserOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    createdAt = Timestamp(required=True, attribute="created_at")


class CampaignOut(Schema):
    id = fields.Integer(required=True)
    advertiserId = fields.Integer(required=True, attribute="advertiser_id")
    name = fields.String(required=True)
    status = fields.String(required=True)
    startDate = Day(required=True, allow_none=True, attribute="start_date")
    endDate = Day(required=True, allow_none=True, attribute="end_date")
    createdAt = Timestamp(required=True, attribute="created_at")


class CredentialOut(Schema):
    id = fields.Integer(required=True)
    name = fields.String(required=True)
    kind = fields.String(required=True, validate=validate.OneOf(CREDENTIAL_KINDS))
    createdAt = Timestamp(required=True, attribute="created_at")
    updatedAt = Timestamp(required=True, attribute="updated_at")


# -- integrations ----------------------------------------------------------------------


def schedule_out(integration) -> dict:
    """The schedule of its kind, the settings every kind shares, its words and next five runs."""
    expression, timezone = integration.schedule_cron, integration.timezone
    return {
        **scheduling.settings_of(expression),
        "timezone": timezone,
        "capLeads": integration.cap_leads,
        "capPeriod": integration.cap_period,
        "deliverAfterCampaignEnd": integration.deliver_after_end,
        "description": scheduling.describe(expression, timezone),
        "nextRuns": [iso_utc(run) for run in scheduling.next_runs(expression, timezone, utcnow(), 5)],
    }


class FileOut(Schema):
    format = fields.String(required=True, attribute="file_format", validate=validate.OneOf(FILE_FORMATS))
    delimiter = fields.String(required=True)
    header = fields.Boolean(required=True)
    quoting = fields.String(required=True, validate=validate.OneOf(QUOTING))
    lineEnding = fields.String(required=True, attribute="line_ending", validate=validate.OneOf(LINE_ENDINGS))
    encoding = fields.String(required=True)
    nameTemplate = fields.String(required=True, attribute="name_template")
    compression = fields.String(required=True, validate=validate.OneOf(COMPRESSIONS))
    maxLeadsPerFile = fields.Integer(required=True, allow_none=True, attribute="max_leads_per_file")
    sendEmpty = fields.Boolean(required=True, attribute="send_empty")
    protection = fields.String(required=True, validate=validate.OneOf(PROTECTIONS))
    protectionCredentialId = fields.Integer(required=True, allow_none=True, attribute="protection_credential_id")
    pgpArmor = fields.Boolean(required=True, attribute="pgp_armor")
    leadMode = fields.String(required=True, attribute="lead_mode", validate=validate.OneOf(LEAD_MODES))
    cumulativeWindow = fields.String(required=True, attribute="cumulative_window", validate=validate.OneOf(WINDOWS))


def delivery_out(integration) -> dict:
    """The stored settings of the integration's method, with the method and credential id."""
    return {
        "method": integration.delivery_method,
        **(integration.delivery or {}),
        "credentialId": integration.credential_id,
    }


class IntegrationOut(Schema):
    id = fields.Integer(required=True)
    advertiserId = fields.Integer(required=True, attribute="campaign.advertiser_id")
    campaignId = fields.Integer(required=True, attribute="campaign_id")
    label = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    schedule = Settings("kind", SCHEDULES_OUT, schedule_out, required=True)
    file = Embedded(FileOut, required=True)
    delivery = Settings("method", DELIVERIES, delivery_out, required=True)
    nextRunAt = Timestamp(required=True, allow_none=True, attribute="next_run_at")
    lastSentAt = Timestamp(required=True, allow_none=True, attribute="last_sent_at")
    pendingCount = fields.Integer(required=True, attribute="pending_count")
    pauseAfterFailures = fields.Integer(required=True, attribute="pause_after_failures")
    consecutiveFailures = fields.Integer(required=True, attribute="consecutive_failures")
    pausedAt = Timestamp(required=True, allow_none=True, attribute="paused_at")
    lastFileStatus = fields.String(required=True, allow_none=True, attribute="last_file_status")
    lastFileAt = Timestamp(required=True, allow_none=True, attribute="last_file_at")
    createdAt = Timestamp(required=True, attribute="created_at")
    updatedAt = Timestamp(required=True, attribute="updated_at")
    # Last: from here on `fields` in this class body names the attribute, not the module.
    fields = fields.List(fields.Nested(FieldMapSchema), required=True)


class IntakeResultOut(Schema):
    accepted = fields.Integer(required=True)
    duplicates = fields.Integer(required=True)
    queued = fields.Integer(required=True)
    updated = fields.Integer(required=True, metadata={"description": "known leads re-posted with a new status"})


class LeadStatusResultOut(Schema):
    updated = fields.Integer(required=True, metadata={"description": "leads whose status changed"})
    unchanged = fields.Integer(required=True, metadata={"description": "leads that already had the status"})
    unknown = fields.List(
        fields.String(), required=True, metadata={"description": "externalIds not in the campaign (first 1000)"}
    )
    unknownCount = fields.Integer(required=True)
    dropped = fields.Integer(required=True, metadata={"description": "pending queue entries the leads left"})
    requeued = fields.Integer(required=True, metadata={"description": "queue entries added for leads valid again"})


class DroppedLeadOut(Schema):
    leadId = fields.Integer(required=True, attribute="lead_id")
    externalId = fields.String(required=True, attribute="external_id")
    status = fields.String(required=True, metadata={"description": "the status that took it out"})
    droppedAt = Timestamp(required=True, attribute="dropped_at")


TRACE_STATES = ["not_queued", "pending", *STATUSES]


class IntegrationTraceOut(Schema):
    integrationId = fields.Integer(required=True, attribute="integration_id")
    label = fields.String(required=True)
    enabled = fields.Boolean(required=True)
    state = fields.String(
        required=True,
        validate=validate.OneOf(TRACE_STATES),
        metadata={"description": "not_queued, pending (in the next file), or the status of the file it went in"},
    )
    queuedAt = Timestamp(required=True, allow_none=True, attribute="queued_at")
    fileId = fields.Integer(
        required=True,
        allow_none=True,
        attribute="file_id",
        metadata={"description": "the sent batch: GET /campaign-lead-batches/{fileId}"},
    )
    fileName = fields.String(required=True, allow_none=True, attribute="file_name")
    deliveredAt = Timestamp(required=True, allow_none=True, attribute="delivered_at")
    deliveryMethod = fields.String(
        required=True,
        allow_none=True,
        attribute="file_method",
        metadata={"description": "how the file was sent (its method at send time); null while pending"},
    )


class LeadTraceOut(Schema):
    leadId = fields.Integer(required=True, attribute="lead_id")
    externalId = fields.String(required=True, attribute="external_id")
    status = fields.String(required=True)
    createdAt = Timestamp(required=True, attribute="created_at")
    campaignId = fields.Integer(required=True, attribute="campaign_id")
    campaignName = fields.String(required=True, attribute="campaign_name")
    advertiserId = fields.Integer(required=True, attribute="advertiser_id")
    advertiserName = fields.String(required=True, attribute="advertiser_name")
    integrations = fields.List(fields.Nested(IntegrationTraceOut), required=True)


class ConnectionResultOut(Schema):
    ok = fields.Boolean(required=True)
    message = fields.String(required=True)


def envelope(
    item: type[Schema], name: str, *, many: bool = False, meta: type[Schema] | None = MetaSchema
) -> type[Schema]:
    """{"data": item}, {"data": [item]} or {"data": [item], "meta": {...}} as a named schema."""
    if not many:
        return Schema.from_dict({"data": fields.Nested(item, required=True)}, name=name)
    spec = {"data": fields.List(fields.Nested(item), required=True)}
    if meta is not None:
        spec["meta"] = fields.Nested(meta, required=True)
    return Schema.from_dict(spec, name=name)
