"""Request schemas (query strings and bodies): they validate requests and generate the
OpenAPI document. The response schemas are in app/api/responses.py.
"""

from __future__ import annotations

import copy
import re

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from app.api.schedules import SCHEDULES, ScheduleSettings
from app.api.schema_fields import (
    ANY_TEXT,
    NON_BLANK_TEXT,
    Bool,
    Id,
    Int,
    Pattern,
    UtcDateTime,
    name,
    text,
)
from app.api.tagged import CREDENTIALS, DELIVERIES, Tagged
from app.file_options import COMPRESSIONS, FILE_FORMATS, LINE_ENDINGS, PROTECTIONS, QUOTING
from app.models.batches import BatchStatus
from app.services.catalog import (
    ADVERTISER_SORT,
    CAMPAIGN_SORT,
    CAMPAIGN_STATUSES,
    CREDENTIAL_SORT,
    INTEGRATION_SORT,
)
from app.services.cumulative import LEAD_MODES, WINDOWS
from app.services.files.mapping import MAX_FIELDS, MAX_HEADER, METADATA_SOURCES
from app.services.listing import PENDING_SORT, SENT_SORT

STATUSES = [s.value for s in BatchStatus]
# A lead field name, or one of the metadata sources (the only names with these prefixes).
_META = "|".join(re.escape(m) for m in METADATA_SOURCES)
SOURCE = rf"(?!lead\.|campaign\.|advertiser\.){NON_BLANK_TEXT}|{_META}"


def contains_filter():
    return text(max_length=200, metadata={"description": "case-insensitive contains"})


def QueryId(**kwargs) -> fields.Integer:
    return Id(strict=False, **kwargs)


def sort_field(allowed) -> fields.String:
    names = "|".join(re.escape(name) for name in allowed)
    return fields.String(
        load_default=None,
        validate=Pattern(rf"-?(?:{names})(?:,-?(?:{names}))*", "comma-separated fields to sort by, '-' for descending"),
        metadata={"description": f"Comma-separated, '-' for descending. Fields: {', '.join(allowed)}"},
    )


# -- query strings ---------------------------------------------------------------------


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    perPage = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class BatchFilterArgs(PageArgs):
    advertiserId = QueryId()
    advertiserName = contains_filter()
    campaignId = QueryId()
    campaignName = contains_filter()
    label = contains_filter()


class PendingArgs(BatchFilterArgs):
    sort = sort_field(PENDING_SORT)
    includeEmpty = fields.Boolean(
        load_default=False, metadata={"description": "also integrations with no lead waiting"}
    )
    health = fields.String(
        validate=validate.OneOf(["paused", "failing", "healthy", "new"]),
        metadata={"description": "paused; failing (failed files in a row, not paused); healthy; new (no file yet)"},
    )


class SentArgs(BatchFilterArgs):
    sort = sort_field(SENT_SORT)
    integrationId = QueryId()
    status = fields.String(
        validate=validate.OneOf(STATUSES),
        metadata={"description": "`empty`: only empty runs (scheduled slots that found nothing to send)"},
    )
    includeEmpty = fields.Boolean(
        load_default=False,
        metadata={"description": "also empty runs (scheduled slots that found nothing to send; no file)"},
    )
    sentFrom = UtcDateTime(metadata={"description": "sent at or after (ISO 8601, UTC if no offset)"})
    sentTo = UtcDateTime(metadata={"description": "sent at or before (ISO 8601, UTC if no offset)"})


class LeadsArgs(PageArgs):
    pass


class PreviewFileArgs(Schema):
    # The maximum is a setting (PREVIEW_MAX_LEADS), checked by the service with the same 422 shape.
    limit = fields.Integer(
        validate=validate.Range(min=1),
        metadata={
            "description": "at most this many leads, the first in queue order (default and max: PREVIEW_MAX_LEADS)"
        },
    )


class LeadTraceArgs(PageArgs):
    externalId = text(
        min_length=1, max_length=200, metadata={"description": "exact match; give exactly one of the three"}
    )
    email = text(
        min_length=1,
        max_length=320,
        metadata={"description": "exact match, case-insensitive, on the lead's `email` field"},
    )
    phone = text(
        min_length=1,
        max_length=64,
        metadata={
            "description": "exact match on the lead's `phone` field, ignoring spaces, dashes, dots and parentheses"
        },
    )

    @validates_schema
    def exactly_one(self, data, **kwargs):
        given = [name for name in ("externalId", "email", "phone") if name in data]
        if len(given) != 1:
            message = "give exactly one of externalId, email, phone"
            raise ValidationError({name: [message] for name in (given or ["externalId", "email", "phone"])})


class AdvertiserArgs(PageArgs):
    name = contains_filter()
    sort = sort_field(ADVERTISER_SORT)


class CampaignArgs(PageArgs):
    advertiserId = QueryId()
    name = contains_filter()
    status = fields.String(validate=validate.OneOf(CAMPAIGN_STATUSES))
    sort = sort_field(CAMPAIGN_SORT)


class IntegrationArgs(PageArgs):
    campaignId = QueryId()
    label = contains_filter()
    enabled = fields.Boolean()
    sort = sort_field(INTEGRATION_SORT)


class CredentialArgs(PageArgs):
    sort = sort_field(CREDENTIAL_SORT)


# -- bodies ----------------------------------------------------------------------------


class BatchNowBody(Schema):
    integrationIds = fields.List(
        Id(),
        required=True,
        validate=validate.Length(min=1, max=500),
        metadata={"description": "the caller's integrations; any other id fails the whole request"},
    )


class AdvertiserBody(Schema):
    name = name(required=True)


class CampaignBody(Schema):
    advertiserId = Id(required=True, metadata={"description": "one of the caller's advertisers"})
    name = name(required=True)
    startDate = fields.Date(allow_none=True)
    endDate = fields.Date(allow_none=True, metadata={"description": "not before startDate"})
    status = fields.String(load_default="active", validate=validate.OneOf(CAMPAIGN_STATUSES))


CREDENTIAL_BODY = {
    "oneOf": list(CREDENTIALS.values()),
    "discriminator": {
        "propertyName": "kind",
        "mapping": {kind: f"#/components/schemas/{schema.__name__}" for kind, schema in CREDENTIALS.items()},
    },
}


class FileSchema(Schema):
    format = fields.String(validate=validate.OneOf(FILE_FORMATS))
    delimiter = fields.String(validate=Pattern('[^"\\r\\n\\u0000]', "one character, not a quote or line break"))
    header = Bool()
    quoting = fields.String(validate=validate.OneOf(QUOTING))
    lineEnding = fields.String(validate=validate.OneOf(LINE_ENDINGS))
    encoding = text(
        NON_BLANK_TEXT,
        max_length=20,
        metadata={"description": "a text encoding Python knows, e.g. utf-8, utf-8-sig, cp1252"},
    )
    nameTemplate = text(
        NON_BLANK_TEXT,
        max_length=300,
        metadata={
            "description": "tokens {advertiser_id} {campaign_id} {integration_id} {batch_id} {label} {sent_at:%Y%m%d}"
        },
    )
    compression = fields.String(validate=validate.OneOf(COMPRESSIONS))
    maxLeadsPerFile = Int(
        1,
        10_000_000,
        allow_none=True,
        metadata={"description": "null (no limit) when leadMode is cumulative: a cumulative file is never split"},
    )
    sendEmpty = Bool()
    protection = fields.String(
        validate=validate.OneOf(PROTECTIONS),
        metadata={
            "description": "none (default); zip-aes: an AES-256 zip (compression none); xlsx-password: Office "
            "encryption (format xlsx, compression none); pgp: encrypted to the advertiser's public key"
        },
    )
    protectionCredentialId = Id(
        allow_none=True,
        metadata={"description": "kind file_password (zip-aes, xlsx-password) or pgp_public_key (pgp)"},
    )
    pgpArmor = Bool(metadata={"description": "pgp: true (default) appends .asc (text), false .pgp"})
    leadMode = fields.String(
        validate=validate.OneOf(LEAD_MODES),
        metadata={
            "description": "new (default): each lead in exactly one file; cumulative: each file holds every "
            "valid lead the integration has taken (within cumulativeWindow), earlier files' leads included"
        },
    )
    cumulativeWindow = fields.String(
        validate=validate.OneOf(WINDOWS),
        metadata={
            "description": "cumulative files only: all (default) or the leads that arrived in the current "
            "calendar month / week (from Monday) / day in the schedule's time zone"
        },
    )


class FieldMapSchema(Schema):
    source = fields.String(
        required=True,
        validate=[Pattern(SOURCE, "a lead field name or a metadata source"), validate.Length(max=200)],
        metadata={"description": f"a lead field name, or one of {', '.join(METADATA_SOURCES)}"},
    )
    header = fields.String(
        required=True,
        validate=[Pattern(NON_BLANK_TEXT, "required, not blank"), validate.Length(max=MAX_HEADER)],
        metadata={"description": "unique in the file (case-insensitive)"},
    )


class IntegrationBody(Schema):
    campaignId = Id(required=True, metadata={"description": "one of the caller's campaigns; fixed once created"})
    label = name(required=True)
    enabled = Bool()
    pauseAfterFailures = Int(
        0, 1000, metadata={"description": "pause after this many failed files in a row (0: never); default 5"}
    )
    schedule = ScheduleSettings(
        SCHEDULES,
        metadata={"description": "kind cron (the default: cron and timezone), lastBusinessDay or every"},
    )
    file = fields.Nested(FileSchema)
    delivery = Tagged("method", DELIVERIES, required=True)
    # Last: from here on `fields` in this class body names the attribute, not the module.
    fields = fields.List(fields.Nested(FieldMapSchema), required=True, validate=validate.Length(min=1, max=MAX_FIELDS))


def _optional(schema: type[Schema], name: str) -> type[Schema]:
    """The same keys, none required; nested objects (file) too; a schedule by its PATCH rules."""
    declared = {}
    for key, field in schema._declared_fields.items():
        field = copy.copy(field)
        field.required = False
        if isinstance(field, ScheduleSettings):
            field = field.changes()
        elif isinstance(field, fields.Nested) and isinstance(field.nested, type):
            field.nested = _optional(field.nested, field.nested.__name__.replace("Schema", "") + "Changes")
        declared[key] = field
    return Schema.from_dict(declared, name=name)


# A PATCH gives some keys: given file keys replace those keys; a delivery is complete for
# its method (of the same method, the settings it leaves out stay); a schedule as in
# app/api/schedules.py.
IntegrationPatchBody = _optional(IntegrationBody, "IntegrationPatchBody")


# OpenAPI 3.0 has no "null" type: null is the nullable string branch.
FIELD_VALUE = {
    "oneOf": [
        {"type": "string", "nullable": True, "pattern": f"^(?:{ANY_TEXT})$"},
        {"type": "number"},
        {"type": "boolean"},
    ]
}


class LeadSchema(Schema):
    externalId = text(NON_BLANK_TEXT, required=True, max_length=200)
    status = text(NON_BLANK_TEXT, required=True, max_length=30)
    fields = fields.Dict(
        keys=text(),
        values=fields.Raw(allow_none=True, metadata=FIELD_VALUE),
        metadata={"description": "field name -> a string, number, boolean or null (no NUL anywhere)"},
    )


class IntakeBody(Schema):
    leads = fields.List(fields.Nested(LeadSchema), required=True, validate=validate.Length(min=1, max=10_000))


class LeadStatusSchema(Schema):
    externalId = text(NON_BLANK_TEXT, required=True, max_length=200)
    status = text(
        NON_BLANK_TEXT,
        required=True,
        max_length=30,
        metadata={
            "description": "`valid` and `approved` are valid; any other status takes the lead out of pending files"
        },
    )


class LeadStatusBody(Schema):
    leads = fields.List(fields.Nested(LeadStatusSchema), required=True, validate=validate.Length(min=1, max=10_000))
