"""Request schemas (query strings and bodies): they validate requests and generate the
OpenAPI document. The response schemas are in app/api/responses.py.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from marshmallow import INCLUDE, Schema, ValidationError, fields, validate, validates_schema

from app.file_options import COMPRESSIONS, FILE_FORMATS, LINE_ENDINGS, QUOTING
from app.models.batches import BatchStatus, Trigger
from app.models.integrations import CREDENTIAL_KINDS, DELIVERY_METHODS
from app.services.catalog import (
    ADVERTISER_SORT,
    CAMPAIGN_SORT,
    CAMPAIGN_STATUSES,
    CREDENTIAL_SORT,
    INTEGRATION_SORT,
)
from app.services.listing import PENDING_SORT, SENT_SORT

MAX_ID = 2**31 - 1
STATUSES = [s.value for s in BatchStatus]
TRIGGERS = [t.value for t in Trigger]


class Text(fields.String):
    """A string without NUL characters (no database column can store them)."""

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        if "\x00" in text:
            raise ValidationError("must not contain NUL characters")
        return text


class UtcDateTime(fields.DateTime):
    """ISO 8601 date-time; no offset means UTC; returned aware, in UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("not a date-time")
        text = value.strip().upper().replace(" ", "T")
        # A leap second is valid RFC 3339 but not a Python time; one second early is close enough.
        text = re.sub(r"(T\d\d:\d\d):60", r"\1:59", text)
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Python keeps microseconds at most
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("not an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def Id(**kwargs) -> fields.Integer:
    return fields.Integer(strict=False, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def sort_field(allowed) -> Text:
    names = "|".join(re.escape(name) for name in allowed)
    pattern = rf"^-?({names})(,-?({names}))*$"
    return Text(
        load_default=None,
        validate=validate.Regexp(pattern, error="comma-separated fields to sort by, '-' for descending"),
        metadata={
            "description": f"Comma-separated, '-' for descending. Fields: {', '.join(allowed)}",
            "pattern": pattern,
        },
    )


# -- query strings ---------------------------------------------------------------------


class PageArgs(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1, max=1_000_000))
    perPage = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class BatchFilterArgs(PageArgs):
    advertiserId = Id()
    advertiserName = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})
    campaignId = Id()
    campaignName = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})
    label = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})


class PendingArgs(BatchFilterArgs):
    sort = sort_field(PENDING_SORT)
    includeEmpty = fields.Boolean(
        load_default=False, metadata={"description": "also integrations with no lead waiting"}
    )


class SentArgs(BatchFilterArgs):
    sort = sort_field(SENT_SORT)
    integrationId = Id()
    status = fields.String(validate=validate.OneOf(STATUSES))
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
    externalId = Text(validate=validate.Length(min=1, max=200), metadata={"description": "exact match"})
    email = Text(
        validate=validate.Length(min=1, max=320),
        metadata={"description": "exact match, case-insensitive, on the lead's `email` field"},
    )
    phone = Text(
        validate=validate.Length(min=1, max=64),
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
    name = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})
    sort = sort_field(ADVERTISER_SORT)


class CampaignArgs(PageArgs):
    advertiserId = Id()
    name = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})
    status = fields.String(validate=validate.OneOf(CAMPAIGN_STATUSES))
    sort = sort_field(CAMPAIGN_SORT)


class IntegrationArgs(PageArgs):
    campaignId = Id()
    label = Text(validate=validate.Length(max=200), metadata={"description": "case-insensitive contains"})
    enabled = fields.Boolean()
    sort = sort_field(INTEGRATION_SORT)


class CredentialArgs(PageArgs):
    sort = sort_field(CREDENTIAL_SORT)


# -- bodies ----------------------------------------------------------------------------


class BatchNowBody(Schema):
    integrationIds = fields.List(Id(), required=True, validate=validate.Length(min=1, max=500))


class AdvertiserBody(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))


class CampaignBody(Schema):
    advertiserId = Id(required=True)
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    startDate = fields.Date(allow_none=True)
    endDate = fields.Date(allow_none=True)
    status = fields.String(load_default="active", validate=validate.OneOf(CAMPAIGN_STATUSES))


class CredentialBody(Schema):
    name = Text(required=True, validate=validate.Length(min=1, max=200))
    kind = fields.String(required=True, validate=validate.OneOf(CREDENTIAL_KINDS))
    secret = fields.Raw(
        required=True,
        metadata={"description": "password / private key text, or {accessKeyId, secretAccessKey} for s3_keys"},
    )


class ScheduleSchema(Schema):
    cron = Text(required=True, validate=validate.Length(max=100), metadata={"example": "0 6 * * *"})
    timezone = Text(required=True, validate=validate.Length(max=64), metadata={"example": "Europe/London"})


class FileSchema(Schema):
    format = fields.String(validate=validate.OneOf(FILE_FORMATS))
    delimiter = Text(validate=validate.Length(equal=1))
    header = fields.Boolean()
    quoting = fields.String(validate=validate.OneOf(QUOTING))
    lineEnding = fields.String(validate=validate.OneOf(LINE_ENDINGS))
    encoding = Text(validate=validate.Length(min=1, max=20))
    nameTemplate = Text(validate=validate.Length(min=1, max=300))
    compression = fields.String(validate=validate.OneOf(COMPRESSIONS))
    maxLeadsPerFile = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=10_000_000))
    sendEmpty = fields.Boolean()


class FieldMapSchema(Schema):
    source = Text(required=True, validate=validate.Length(min=1, max=200))
    header = Text(required=True, validate=validate.Length(min=1, max=200))


class DeliverySchema(Schema):
    """Settings by method; the transport checks which apply (see the contract)."""

    class Meta:
        unknown = INCLUDE

    method = fields.String(required=True, validate=validate.OneOf(DELIVERY_METHODS))
    credentialId = Id(allow_none=True)
    host = Text()
    port = fields.Integer(validate=validate.Range(min=1, max=65535))
    username = Text()
    remoteDir = Text()
    hostKey = Text(metadata={"description": "sftp: the server's public key line, e.g. ssh-ed25519 AAAA…"})
    recipients = fields.List(Text())
    subject = Text()
    tls = fields.Boolean(
        metadata={
            "description": "ftp: true (the default when omitted) is FTPS with a verified certificate; "
            "false is plain FTP, unencrypted"
        }
    )
    bucket = Text()
    prefix = Text()
    endpointUrl = Text(allow_none=True)
    region = Text(allow_none=True)
    directory = Text()


class IntegrationBody(Schema):
    campaignId = Id(required=True)
    label = Text(required=True, validate=validate.Length(min=1, max=200))
    enabled = fields.Boolean()
    schedule = fields.Nested(ScheduleSchema)
    file = fields.Nested(FileSchema)
    delivery = fields.Nested(DeliverySchema, required=True)
    # Last: from here on `fields` in this class body names the attribute, not the module.
    fields = fields.List(fields.Nested(FieldMapSchema), required=True, validate=validate.Length(min=1, max=200))


class LeadSchema(Schema):
    externalId = fields.String(required=True, validate=validate.Length(min=1, max=200))
    status = fields.String(required=True, validate=validate.Length(min=1, max=30))
    fields = fields.Dict(keys=fields.String(), values=fields.Raw(allow_none=True))


class IntakeBody(Schema):
    leads = fields.List(fields.Nested(LeadSchema), required=True, validate=validate.Length(min=1, max=10_000))


class IntegrationPatchBody(IntegrationBody):
    """The same settings as IntegrationBody, every key optional (used with partial=True)."""
