"""Batch CSV integrations: list, read, create, update (partial) and test the connection."""

from __future__ import annotations

from app.api import responses as r
from app.api import schemas as s
from app.api.core import ApiBlueprint, current_user, list_args, listing, owned, require, roles
from app.models import BatchCsvIntegration
from app.services import catalog, integrations

blp = ApiBlueprint("integrations", __name__, url_prefix="/api/v4", description="Batch CSV integrations")


@blp.route("/batch-integrations", methods=["GET"])
@blp.arguments(s.IntegrationArgs, location="query")
@blp.response(200, r.envelope(r.IntegrationOut, "IntegrationPage", many=True))
def list_integrations(args):
    """The enterprise's integrations with all their settings (credentials by id only)."""
    return listing(
        catalog.list_integrations(
            current_user().enterprise_id,
            campaign_id=args.get("campaignId"),
            label=args.get("label"),
            enabled=args.get("enabled"),
            **list_args(args),
        ),
        r.IntegrationOut,
    )


@blp.route("/batch-integrations", methods=["POST"])
@roles("admin")
@blp.arguments(s.IntegrationBody)
@blp.response(201, r.envelope(r.IntegrationOut, "IntegrationCreated"))
def create(body):
    """Create an integration (admin); every setting is validated, errors keyed by field path."""
    user = current_user()
    return {"data": integrations.create_integration(user.enterprise_id, body, user)}


@blp.route("/batch-integrations/<int:integration_id>", methods=["GET"])
@blp.response(200, r.envelope(r.IntegrationOut, "Integration"))
def read(integration_id):
    """One integration."""
    return {"data": owned(BatchCsvIntegration, integration_id)}


@blp.route("/batch-integrations/<int:integration_id>", methods=["PATCH"])
@roles("admin")
@blp.arguments(s.IntegrationPatchBody)
@blp.response(200, r.envelope(r.IntegrationOut, "IntegrationUpdated"))
def update(body, integration_id):
    """Change some settings (admin): given keys replace, the rest stay."""
    user = current_user()
    integration = owned(BatchCsvIntegration, integration_id)
    return {"data": integrations.update_integration(integration, body, user)}


@blp.route("/batch-integrations/<int:integration_id>/test-connection", methods=["POST"])
@blp.response(200, r.ConnectionResultOut)
def test_connection(integration_id):
    """Try to reach the destination with the saved settings and credential (admin)."""
    user = require("admin")
    result = integrations.check_integration_connection(owned(BatchCsvIntegration, integration_id), user)
    return result


@blp.route("/batch-integrations/<int:integration_id>/resume", methods=["POST"])
@roles("manager")
@blp.response(202, r.envelope(r.Outcome, "ResumeResult", many=True, meta=None))
def resume(integration_id):
    """Lift an auto-pause (manager or admin) and send what is pending now; 409 if not paused."""
    from app.services import integration_health

    user = current_user()
    integration = owned(BatchCsvIntegration, integration_id)
    return {"data": integration_health.resume(integration.id, user)}, 202
