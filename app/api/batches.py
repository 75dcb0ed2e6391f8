"""Pending and Sent batches: the lists, the leads inside, batch now, resend, retry, download."""

from __future__ import annotations

from flask import jsonify

from app.api import responses as r
from app.api import schemas as s
from app.api.core import (
    ApiBlueprint,
    batch_now_limit,
    current_user,
    list_args,
    listing,
    owned,
    rate_limit_key,
    require,
    roles,
)
from app.api.serialise import dump_many
from app.downloads import MIME_TYPES, send_preview, send_stored
from app.extensions import limiter
from app.models import BatchCsvIntegration, SentBatch
from app.services import dry_run, lead_status, sending
from app.services import listing as lists
from app.services.lead_records import preview_pending, preview_sent

ERROR_CONTENT = {"application/json": {"schema": "Error"}}
blp = ApiBlueprint("batches", __name__, url_prefix="/api/v4", description="Pending and sent batches")

FILE_CONTENT = {
    mime: {"schema": {"type": "string", "format": "binary"}}
    for mime in {*MIME_TYPES.values(), "application/octet-stream"}
}


def _filters(args: dict) -> dict:
    return {
        "advertiser_id": args.get("advertiserId"),
        "advertiser_name": args.get("advertiserName"),
        "campaign_id": args.get("campaignId"),
        "campaign_name": args.get("campaignName"),
        "label": args.get("label"),
        **list_args(args),
    }


@blp.route("/batch-manager", methods=["GET"])
@blp.arguments(s.PendingArgs, location="query")
@blp.response(200, r.envelope(r.PendingRow, "PendingPage", many=True))
def pending(args):
    """Pending batches: one row per enabled integration with leads waiting."""
    user = current_user()
    page = lists.pending_batches(
        user.enterprise_id, include_empty=args["includeEmpty"], health=args.get("health"), **_filters(args)
    )
    return listing(page, r.PendingRow)


@blp.route("/batch-manager/<int:integration_id>/leads", methods=["GET"])
@blp.arguments(s.LeadsArgs, location="query")
@blp.response(200, r.envelope(r.LeadRow, "PendingLeadsPage", many=True, meta=r.LeadsMeta))
def pending_leads(args, integration_id):
    """The leads queued in the integration's next file, as the file will show them."""
    integration = owned(BatchCsvIntegration, integration_id)
    return _leads(preview_pending(integration, args["page"], args["perPage"]), args)


@blp.route("/batch-manager/<int:integration_id>/dropped-leads", methods=["GET"])
@blp.arguments(s.LeadsArgs, location="query")
@blp.response(200, r.envelope(r.DroppedLeadOut, "DroppedLeadsPage", many=True))
def dropped_leads(args, integration_id):
    """Leads that left the integration's pending queue because their status stopped being valid, newest first."""
    integration = owned(BatchCsvIntegration, integration_id)
    return listing(lead_status.dropped_leads(integration.id, args["page"], args["perPage"]), r.DroppedLeadOut)


@blp.route("/batch-manager/<int:integration_id>/preview-file", methods=["GET"])
@blp.arguments(s.PreviewFileArgs, location="query")
@blp.doc(
    responses={
        "200": {
            "description": "The file a send now would deliver (first `limit` leads), under the name it would get",
            "content": FILE_CONTENT,
        },
        "409": {"description": "Nothing pending and the integration sends no empty files", "content": ERROR_CONTENT},
    }
)
def preview_file(args, integration_id):
    """Dry run: build the file a send now would deliver, without claiming or delivering anything (audited).

    Same settings, name and bytes as a real send of the same leads; `{batch_id}` and `{sent_at}`
    in the name are the next file id and the time of the request. `X-Lead-Count` says how many
    leads the file holds, `X-Pending-Count` how many are pending.
    """
    user = require("manager")
    integration = owned(BatchCsvIntegration, integration_id)
    return send_preview(dry_run.build_preview_file(integration, user, args.get("limit")))


def _leads(preview, args):
    meta = {"page": args["page"], "perPage": args["perPage"], "total": preview.total, "headers": preview.headers}
    return jsonify(data=dump_many(r.LeadRow, preview.rows), meta=meta)


@blp.route("/batch-manager-batch-now", methods=["POST"])
@limiter.limit(batch_now_limit, key_func=rate_limit_key, methods=["POST"])
@roles("manager")
@blp.arguments(s.BatchNowBody)
@blp.response(202, r.envelope(r.Outcome, "BatchNowResult", many=True, meta=None))
def batch_now(body):
    """Send these integrations' pending leads now (all ids checked first; nothing sent if any is bad)."""
    user = current_user()
    outcomes = sending.batch_now(body["integrationIds"], user)
    return {"data": outcomes}, 202


@blp.route("/campaign-lead-batches", methods=["GET"])
@blp.arguments(s.SentArgs, location="query")
@blp.response(200, r.envelope(r.SentRow, "SentPage", many=True))
def sent(args):
    """Sent batches (files), newest first unless sorted otherwise.

    Empty runs (a scheduled slot that found nothing to send: status `empty`, no leads, no file)
    are listed only with `includeEmpty=true` or `status=empty`.
    """
    user = current_user()
    return listing(
        lists.sent_batches(
            user.enterprise_id,
            integration_id=args.get("integrationId"),
            status=[args["status"]] if args.get("status") else None,
            sent_from=args.get("sentFrom"),
            sent_to=args.get("sentTo"),
            include_empty=args["includeEmpty"],
            **_filters(args),
        ),
        r.SentRow,
    )


@blp.route("/campaign-lead-batches/<int:batch_id>", methods=["GET"])
@blp.response(200, r.envelope(r.SentDetail, "SentBatch"))
def sent_one(batch_id):
    """One sent batch, with its error, attempts and who triggered it."""
    return {"data": owned(SentBatch, batch_id)}


@blp.route("/campaign-lead-batches/<int:batch_id>/leads", methods=["GET"])
@blp.arguments(s.LeadsArgs, location="query")
@blp.response(200, r.envelope(r.LeadRow, "SentLeadsPage", many=True, meta=r.LeadsMeta))
def sent_leads(args, batch_id):
    """The leads in a sent file, as the file shows them."""
    return _leads(preview_sent(owned(SentBatch, batch_id), args["page"], args["perPage"]), args)


@blp.route("/campaign-lead-batches/<int:batch_id>/resend", methods=["POST"])
@blp.response(202, r.envelope(r.SentDetail, "ResendResult"))
def resend(batch_id):
    """Deliver a delivered file again: a new sent batch with the same stored bytes (audited)."""
    user = require("manager")
    owned(SentBatch, batch_id)
    return {"data": sending.resend_batch(batch_id, user)}, 202


@blp.route("/campaign-lead-batches/<int:batch_id>/retry", methods=["POST"])
@blp.response(202, r.envelope(r.SentDetail, "RetryResult"))
def retry(batch_id):
    """Deliver a failed batch again from its stored file (audited)."""
    user = require("manager")
    owned(SentBatch, batch_id)
    return {"data": sending.retry_batch(batch_id, user)}, 202


@blp.route("/campaign-lead-batches/<int:batch_id>/requeue", methods=["POST"])
@blp.response(200, r.envelope(r.RequeueResult, "RequeueResult"))
def requeue(batch_id):
    """Return a failed batch's leads to pending, the only way back (audited)."""
    user = require("manager")
    owned(SentBatch, batch_id)
    return {"data": {"requeued": sending.requeue_batch(batch_id, user)}}


@blp.route("/campaign-lead-batches/<int:batch_id>/download", methods=["GET"])
@blp.doc(
    responses={
        "200": {"description": "The stored file, byte-identical to what was delivered", "content": FILE_CONTENT},
        "206": {"description": "The requested byte range", "content": FILE_CONTENT},
        "304": {"description": "Not modified (If-None-Match matched the ETag)"},
        "409": {"description": "The file is not stored yet", "content": ERROR_CONTENT},
        "410": {"description": "The stored file is gone (deleted or damaged)", "content": ERROR_CONTENT},
        "416": {"description": "Range not satisfiable", "content": FILE_CONTENT},
    }
)
def download(batch_id):
    """The stored file, streamed; ETag is its sha256; Range and If-None-Match are honoured (audited).

    404 for an unknown or another enterprise's batch, 409 before it is stored, 410 when its
    stored file is gone.
    """
    user = require("manager")
    return send_stored(owned(SentBatch, batch_id), "api", user)
