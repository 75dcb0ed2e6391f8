"""Alert settings (admin): e-mail recipients, signed webhooks, optional events."""

from __future__ import annotations

from marshmallow import Schema, fields, validate

from app.api.core import ApiBlueprint, current_user, roles
from app.services import alert_settings

blp = ApiBlueprint("alerts", __name__, url_prefix="/api/v4", description="Alerts")


class AlertSettingsBody(Schema):
    emailRecipients = fields.List(fields.String(), load_default=list)
    webhookUrls = fields.List(fields.String(), load_default=list)
    webhookSecret = fields.String(
        load_only=True,
        metadata={"description": "HMAC-SHA256 key for X-BatchManager-Signature; write-only, omit to keep"},
    )
    optionalEvents = fields.List(fields.String(validate=validate.OneOf(list(alert_settings.OPTIONAL_EVENTS))))
    staleDays = fields.Integer(validate=validate.Range(min=1, max=365))


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
    user = current_user()
    return {"data": alert_settings.to_dict(alert_settings.save(user, body))}
