"""Lead intake: up to 10,000 leads per request, idempotent by externalId."""

from __future__ import annotations

from flask import request

from app.api import responses as r
from app.api import schemas as s
from app.api.core import ApiBlueprint, current_user, intake_limit, listing, owned, rate_limit_key, require
from app.errors import ValidationError
from app.extensions import db, limiter
from app.models import Campaign
from app.services import lead_trace
from app.services.intake import ingest_leads
from app.services.lead_status import change_statuses, validate_changes

blp = ApiBlueprint("leads", __name__, url_prefix="/api/v4", description="Lead intake and lead trace")


@blp.route("/campaigns/<int:campaign_id>/leads", methods=["POST"])
@limiter.limit(intake_limit, key_func=rate_limit_key, methods=["POST"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": s.IntakeBody}}})
@blp.response(201, r.envelope(r.IntakeResultOut, "IntakeResult"))
def ingest(campaign_id):
    """Store new leads and queue the valid ones on every enabled integration of the campaign.

    The body is checked by the intake service itself (one pass over 10,000 leads is
    much cheaper there than a marshmallow load); the schema above documents it.
    """
    require("manager")
    campaign = owned(Campaign, campaign_id)
    body = _leads_body()
    return {"data": ingest_leads(campaign, body["leads"], user=current_user())}


@blp.route("/campaigns/<int:campaign_id>/leads", methods=["PATCH"])
@limiter.limit(intake_limit, key_func=rate_limit_key, methods=["PATCH"])
@blp.doc(requestBody={"required": True, "content": {"application/json": {"schema": s.LeadStatusBody}}})
@blp.response(200, r.envelope(r.LeadStatusResultOut, "LeadStatusResult"))
def change_status(campaign_id):
    """Change the status of known leads by externalId (up to 10,000). Audited.

    A lead that stops being valid leaves every pending file (not a file already claimed);
    a lead made valid again re-enters the queues it left and those of enabled integrations
    that never had it. externalIds the campaign does not hold are listed in `unknown`;
    the others are still applied.
    """
    user = require("manager")
    campaign = owned(Campaign, campaign_id)
    body = _leads_body()
    result = change_statuses(campaign, validate_changes(body["leads"]), user=user)
    db.session.commit()
    return {"data": result.to_dict()}


def _leads_body() -> dict:
    """The {"leads": [...]} body of an intake or status change, NUL-free."""
    # No text column or JSON document can hold a NUL; refuse it before parsing.
    if b"\\u0000" in request.get_data(cache=True) or b"\x00" in request.get_data(cache=True):
        raise ValidationError("invalid leads", {"leads": ["must not contain NUL characters"]})
    body = request.get_json(silent=True)
    if not isinstance(body, dict) or set(body) != {"leads"}:
        raise ValidationError('the body must be {"leads": [...]}', {"leads": ["required, a list of leads"]})
    return body


@blp.route("/leads", methods=["GET"])
@blp.arguments(s.LeadTraceArgs, location="query")
@blp.response(200, r.envelope(r.LeadTraceOut, "LeadTracePage", many=True))
def trace(args):
    """Lead trace: the caller's enterprise's leads with this externalId, email or phone (give exactly one),
    each with its campaign, status and, for every integration of the campaign, whether it is pending
    or in which file it went, when that file was delivered and how."""
    by = next(name for name in lead_trace.SEARCH_KEYS if name in args)
    found = lead_trace.trace(current_user().enterprise_id, by, args[by], args["page"], args["perPage"])
    return listing(found, r.LeadTraceOut)
