"""Advertisers, campaigns and credentials: list (any role) and create (admins)."""

from __future__ import annotations

from app.api import responses as r
from app.api import schemas as s
from app.api.core import ApiBlueprint, current_user, list_args, listing, load_body, roles
from app.api.tagged import CREDENTIALS, Tagged
from app.services import catalog, credentials

CREDENTIAL = Tagged("kind", CREDENTIALS)

blp = ApiBlueprint("catalog", __name__, url_prefix="/api/v4", description="Advertisers, campaigns and credentials")


@blp.route("/advertisers", methods=["GET"])
@blp.arguments(s.AdvertiserArgs, location="query")
@blp.response(200, r.envelope(r.AdvertiserOut, "AdvertiserPage", many=True))
def advertisers(args):
    """The enterprise's advertisers."""
    page = catalog.list_advertisers(current_user().enterprise_id, name=args.get("name"), **list_args(args))
    return listing(page, r.AdvertiserOut)


@blp.route("/advertisers", methods=["POST"])
@roles("admin")
@blp.arguments(s.AdvertiserBody)
@blp.response(201, r.envelope(r.AdvertiserOut, "AdvertiserCreated"))
def create_advertiser(body):
    """Create an advertiser (admin)."""
    user = current_user()
    return {"data": catalog.create_advertiser(user.enterprise_id, body["name"], user)}


@blp.route("/campaigns", methods=["GET"])
@blp.arguments(s.CampaignArgs, location="query")
@blp.response(200, r.envelope(r.CampaignOut, "CampaignPage", many=True))
def campaigns(args):
    """The enterprise's campaigns."""
    return listing(
        catalog.list_campaigns(
            current_user().enterprise_id,
            advertiser_id=args.get("advertiserId"),
            name=args.get("name"),
            status=args.get("status"),
            **list_args(args),
        ),
        r.CampaignOut,
    )


@blp.route("/campaigns", methods=["POST"])
@roles("admin")
@blp.arguments(s.CampaignBody)
@blp.response(201, r.envelope(r.CampaignOut, "CampaignCreated"))
def create_campaign(body):
    """Create a campaign under one of the enterprise's advertisers (admin)."""
    user = current_user()
    return {"data": catalog.create_campaign(user.enterprise_id, body, user)}


@blp.route("/credentials", methods=["GET"])
@blp.arguments(s.CredentialArgs, location="query")
@blp.response(200, r.envelope(r.CredentialOut, "CredentialPage", many=True))
def list_credentials(args):
    """Credentials by name and kind; a secret is never returned."""
    return listing(catalog.list_credentials(current_user().enterprise_id, **list_args(args)), r.CredentialOut)


@blp.route("/credentials", methods=["POST"])
@roles("admin")
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": s.CREDENTIAL_BODY}}})
@blp.response(201, r.envelope(r.CredentialOut, "CredentialCreated"))
def create_credential():
    """Store a secret, encrypted; it is never shown again (admin). The secret's shape depends on its kind."""
    user = current_user()
    body = load_body(CREDENTIAL)
    credential = credentials.create_credential(user.enterprise_id, body["name"], body["kind"], body["secret"], user)
    return {"data": credential}
