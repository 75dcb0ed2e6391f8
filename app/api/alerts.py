"""Alert settings (admin): e-mail recipients, signed webhooks, optional events."""

from __future__ import annotations

from flask import request
from marshmallow import Schema, fields, validate

from app.api.core import ApiBlueprint, current_user, roles
from app.api.schema_fields import BLANK, NUL, Int, text
from app.api.tagged import ADDRESS
from app.errors import ValidationError
from app.services import alert_settings

blp = ApiBlueprint("alerts", __name__, url_prefix="/api/v4", description="Alerts")


# An address as the e-mail transport takes it; an https:// URL (the host must also pass the egress
# policy, and webhooks need a secret: stated in words, checked by app.services.alert_settings).
URL = rf"https://[^{BLANK}{NUL}/?#@]+(?:[/?#][^{BLANK}{NUL}]*)?"


class AlertSettingsBody(Schema):
    emailRecipients = fields.List(
        text(ADDRESS, error="not an e-mail address"),
        load_default=list,
        validate=validate.Length(max=alert_settings.MAX_RECIPIENTS),
    )
    webhookUrls = fields.List(
        text(URL, error="must be an https:// URL", max_length=500),
        load_default=list,
        validate=validate.Length(max=alert_settings.MAX_WEBHOOKS),
        metadata={"description": "each host must pass the egress policy (DELIVERY_ALLOWED_NETWORKS), as deliveries"},
    )
    webhookSecret = text(
        min_length=alert_settings.MIN_SECRET,
        max_length=500,
        load_only=True,
        metadata={
            "description": "HMAC-SHA256 key of X-BatchManager-Signature; write-only, omit to keep the stored one; "
            "required with webhookUrls while none is stored"
        },
    )
    optionalEvents = fields.List(
        fields.String(validate=validate.OneOf(list(alert_settings.OPTIONAL_EVENTS))),
        metadata={
            "description": "off unless listed: "
            + "; ".join(f"{key}: {words}" for key, words in alert_settings.OPTIONAL_EVENTS.items())
        },
    )
    staleDays = Int(1, 365)


class AlertSettingsOut(Schema):
    emailRecipients = fields.List(fields.String(), required=True)
    webhookUrls = fields.List(fields.String(), required=True)
    webhookSecretSet = fields.Boolean(required=True)
    optionalEvents = fields.List(fields.String(), required=True)
    staleDays = fields.Integer(required=True)


AlertSettingsEnvelope = Schema.from_dict({"data": fields.Nested(AlertSettingsOut, required=True)}, name="AlertSettings")


@blp.route("/alert-settings", methods=["GET"])
@roles("admin")
@blp.response(200, AlertSettingsEnvelope)
def read():
    """Where this enterprise's alerts go (the webhook secret is never returned)."""
    return {"data": alert_settings.to_dict(alert_settings.get(current_user().enterprise_id))}


@blp.route("/alert-settings", methods=["PUT"])
@roles("admin")
@blp.arguments(AlertSettingsBody)
@blp.response(200, AlertSettingsEnvelope)
def replace(body):
    """Replace the settings (all or nothing; 422 naming each bad field)."""
    # A body that is not a JSON object reaches here as {} (webargs): it must not clear the settings.
    if not isinstance(request.get_json(silent=True), dict):
        raise ValidationError("a JSON object is required", {"_schema": ["the request needs a JSON object body"]})
    user = current_user()
    return {"data": alert_settings.to_dict(alert_settings.save(user, body))}
