"""Erasure of one person (admins): preview what it touches, then erase on confirmation."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.core import ApiBlueprint, require
from app.api.responses import envelope
from app.api.schema_fields import Bool, text
from app.services import erasure
from app.services.lead_trace import SEARCH_KEYS

blp = ApiBlueprint(
    "erasure", __name__, url_prefix="/api/v4", description="Erasure of one person's data (right to erasure)"
)


class ErasureBody(Schema):
    by = fields.String(required=True, validate=validate.OneOf(tuple(SEARCH_KEYS)))
    value = text(
        required=True,
        min_length=1,
        max_length=320,
        metadata={"description": "exact match; emails ignore case, phones ignore spaces, dashes, dots and ()"},
    )


class ErasureConfirmBody(ErasureBody):
    confirm = Bool(
        required=True,
        validate=validate.Equal(True, error="must be true; POST /erasures/preview first"),
        metadata={"description": "must be true: the erasure cannot be undone"},
    )


class ErasureLeadOut(Schema):
    leadId = fields.Integer(required=True)
    externalId = fields.String(required=True)
    campaignId = fields.Integer(required=True)
    status = fields.String(required=True)


class ErasurePendingOut(Schema):
    integrationId = fields.Integer(required=True)
    label = fields.String(required=True)
    entries = fields.Integer(required=True)


class ErasureFileOut(Schema):
    fileId = fields.Integer(required=True)
    fileName = fields.String(allow_none=True)
    status = fields.String(required=True)
    action = fields.String(
        required=True, metadata={"description": "rewrite (rebuilt without the person), purge, or none (no stored file)"}
    )
    reason = fields.String(required=True)
    resendIds = fields.List(fields.Integer(), required=True)


class ErasureOut(Schema):
    leads = fields.List(fields.Nested(ErasureLeadOut), required=True)
    pending = fields.List(fields.Nested(ErasurePendingOut), required=True)
    files = fields.List(fields.Nested(ErasureFileOut), required=True)


@blp.route("/erasures/preview", methods=["POST"])
@blp.arguments(ErasureBody)
@blp.response(200, envelope(ErasureOut, "ErasurePreview"))
def preview(body):
    """What erasing this person of the caller's enterprise would touch: their leads, pending entries
    and stored files (each rewritten without them or purged). Changes nothing."""
    user = require("admin")
    return {"data": erasure.preview(user.enterprise_id, body["by"], body["value"]).to_dict()}


@blp.route("/erasures", methods=["POST"])
@blp.arguments(ErasureConfirmBody)
@blp.response(200, envelope(ErasureOut, "ErasureResult"))
def erase(body):
    """Erase this person from the caller's enterprise: removed from every pending file, lead rows
    redacted, every stored file holding them rewritten or purged; audited as high severity.
    Needs `confirm: true`. Safe to repeat; 409 while a file holding them is being sent."""
    user = require("admin")
    return {"data": erasure.erase(user.enterprise_id, body["by"], body["value"], user).to_dict()}
