"""Sent Batches: every file sent, its leads, Download, Retry, Resend, live status."""

from __future__ import annotations

import re
from collections.abc import Callable

from flask import flash, jsonify, redirect, request
from flask_admin import expose
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select

from admin_views import formatting as fmt
from admin_views.base import MacroRowAction, TenantModelView, flash_error, preview_paging, require_role, safe_return
from admin_views.filters import EmptyRunsFilter, UtcPeriodFilter
from app.error_pages import error_page, sentence_from
from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models import IN_FLIGHT, NOT_EMPTY_RUN, BatchStatus, Role, SentBatch, User
from app.services import lead_records, sending

LABELS = {
    "id": "ID",
    "advertiser_id": "Advertiser ID",
    "advertiser_name": "Advertiser Name",
    "campaign_id": "Campaign ID",
    "campaign_name": "Campaign Name",
    "label": "Label",
    "lead_count": "Lead",
    "sent_at": "Sent",
    "status": "Status",
    "trigger": "Trigger",
    "triggered_by": "Triggered by",
    "delivery_method": "Delivery method",
    "file_name": "File name",
    "size_bytes": "Size",
    "sha256": "SHA-256",
    "attempts": "Attempts",
    "last_error": "Last error",
    "created_at": "Created",
    "integration_id": "Integration ID",
    "row_count": "Rows",
}
DEFAULT = [
    "id",
    "advertiser_id",
    "advertiser_name",
    "campaign_id",
    "campaign_name",
    "label",
    "lead_count",
    "sent_at",
    "status",
    "trigger",
]
MAX_POLLED = 200
EMPTY = BatchStatus.EMPTY.value
_FILTER_ARG = re.compile(r"^flt\d+_(.+)$")


def asks_for_empty_runs(args) -> bool:
    """Whether the list's filters ask for empty runs: the Empty runs filter, or a status filter naming them."""
    for arg, value in args.items(multi=True):
        if (match := _FILTER_ARG.match(arg)) is None:
            continue
        key = match.group(1)
        if key == "empty_runs_shown" or (key.startswith("status_") and EMPTY in value.lower()):
            return True
    return False


def _status(view, context, model, name):
    """The status badge; a failed file also shows its error's first line (the View page has it all)."""
    badge = fmt.status_badge(model.status)
    if model.status == EMPTY:
        slot = fmt.exact(model.counted_at) if model.counted_at else "scheduled"
        words = Markup('<small class="d-block text-muted bm-empty-run">nothing to send at the {} run</small>')
        return badge + words.format(slot)
    if model.status != "failed" or not model.last_error:
        return badge
    first = model.last_error.strip().splitlines()[0] if model.last_error.strip() else ""
    short = first if len(first) <= 120 else first[:120] + "…"
    return badge + Markup('<small class="d-block text-danger bm-error" title="{}">{}</small>').format(first, short)


def _sent_at(view, context, model, name):
    return fmt.stamp(model.sent_at)


class SentBatchesView(TenantModelView):
    """Every SentBatch (file) of the enterprise, newest first; columns are the send-time snapshot."""

    table_name = "sent"
    column_list = list(LABELS)
    default_columns = DEFAULT
    column_labels = LABELS
    column_sortable_list = list(LABELS)
    column_default_sort = ("id", True)
    column_filters = [
        "advertiser_id",
        "advertiser_name",
        "campaign_id",
        "campaign_name",
        "label",
        "status",
        "trigger",
        # What the dashboard's links filter by (?flt0_sent_in_period_utc=2026-11-29).
        "integration_id",
        UtcPeriodFilter(SentBatch.sent_at, "Sent"),
        UtcPeriodFilter(SentBatch.updated_at, "Updated"),
        EmptyRunsFilter(SentBatch.status),
    ]
    column_searchable_list = ["label", "campaign_name", "advertiser_name", "file_name"]
    column_auto_select_related = False
    column_formatters = {
        "lead_count": fmt.formatter(fmt.count),
        "row_count": fmt.formatter(fmt.count),
        "sent_at": _sent_at,
        "created_at": fmt.formatter(fmt.when),
        "status": _status,
        "trigger": fmt.formatter(fmt.trigger_label),
        "size_bytes": fmt.formatter(fmt.size),
        "sha256": fmt.formatter(lambda v: fmt.mono(v, 12)),
        "file_name": fmt.formatter(fmt.mono),
        "last_error": fmt.formatter(lambda v: fmt.mono(v, 60)),
        "delivery_method": fmt.formatter(lambda v: (v or "").upper()),
    }
    column_extra_row_actions = [
        MacroRowAction("view_sent", "View leads in this file"),
        MacroRowAction("download", "Download", Role.MANAGER.value),
        MacroRowAction("retry", "Retry", Role.MANAGER.value),
        MacroRowAction("resend", "Resend", Role.MANAGER.value),
        MacroRowAction("requeue", "Requeue leads", Role.MANAGER.value),
    ]
    empty_message = "No files sent yet — files appear here when a schedule or Batch now sends them."
    poll_statuses = True

    def get_empty_list_message(self) -> str:
        return self.empty_message

    def get_list(self, *args, **kwargs):
        # Only the table hides empty runs: a row's own pages (View, Download) still find them.
        request.environ["bm.sent.listing"] = True
        return super().get_list(*args, **kwargs)

    def scope(self) -> list:
        """The enterprise's rows; the table leaves out empty runs unless a filter asks for them."""
        criteria = super().scope()
        if request.environ.get("bm.sent.listing") and not asks_for_empty_runs(request.args):
            criteria.append(NOT_EMPTY_RUN)
        return criteria

    @expose("/view/<int:batch_id>")
    def leads_view(self, batch_id: int):
        """The leads in one sent file."""
        batch = self.get_owned_or_404(batch_id)
        page, per_page = preview_paging()
        preview = lead_records.preview_sent(batch, page, per_page)
        return self.render(
            "admin/bm/preview.html",
            title=f"File #{batch.id} · {batch.label}",
            subtitle=f"{batch.advertiser_name} / {batch.campaign_name}",
            preview=preview,
            page=page,
            per_page=per_page,
            back_url=self.get_url(".index_view"),
            empty_message="This file holds no leads.",
            integration=None,
            batch=batch,
        )

    @expose("/download/<int:batch_id>")
    def download_view(self, batch_id: int):
        """The stored file, byte for byte, as the API and e-mailed links serve it (audited)."""
        from app.downloads import send_stored
        from app.services.downloads import FileGone

        require_role(Role.MANAGER.value)
        batch = self.get_owned_or_404(batch_id)
        try:
            return send_stored(batch, "admin", current_user)
        except Conflict:
            flash(f"File #{batch.id} has not been stored yet; try again when it shows Stored or Delivered.", "error")
            return redirect(self.get_url(".index_view"))
        except FileGone as exc:
            return error_page(exc.status, sentence_from(exc.message), f"File #{batch.id} can no longer be downloaded")
        except NotFound as exc:  # an empty run: there never was a file
            return error_page(exc.status, sentence_from(exc.message), f"#{batch.id} has no file to download")

    @expose("/retry/<int:batch_id>", methods=("POST",))
    def retry_view(self, batch_id: int):
        return engine_call(self, sending.retry_batch, batch_id, "File #{id} will be delivered again.")

    @expose("/resend/<int:batch_id>", methods=("POST",))
    def resend_view(self, batch_id: int):
        return engine_call(self, sending.resend_batch, batch_id, "File #{id} is being resent as file #{new}.")

    @expose("/requeue/<int:batch_id>", methods=("POST",))
    def requeue_view(self, batch_id: int):
        return engine_call(self, sending.requeue_batch, batch_id, "{count} leads of file #{id} are pending again.")

    @expose("/status.json")
    def status_view(self):
        """Status of the given files, for the page's live updates (only this enterprise's)."""
        try:
            ids = [int(i) for i in request.args.get("ids", "").split(",") if i.strip()][:MAX_POLLED]
        except ValueError:
            return jsonify(error={"code": "validation_error", "message": "ids must be integers"}), 422
        rows = db.session.execute(
            select(SentBatch.id, SentBatch.status, SentBatch.sent_at, SentBatch.size_bytes).where(
                SentBatch.id.in_(ids), SentBatch.enterprise_id == current_user.enterprise_id
            )
        ).all()
        data = {
            str(row.id): {
                "status": row.status,
                "inFlight": row.status in IN_FLIGHT,
                "badge": str(fmt.status_badge(row.status)),
                "sent": str(fmt.when(row.sent_at)) if row.sent_at else "",
            }
            for row in rows
        }
        return jsonify(data=data)


def engine_call(view: TenantModelView, action: Callable[[int, User], SentBatch | int], batch_id: int, message: str):
    """Run a manual action of app.services.sending on one of the view's files, flash, go back.

    Shared by Sent Batches and Jobs: the same service function serves both (and the API).
    """
    require_role(Role.MANAGER.value)
    view.get_owned_or_404(batch_id)
    try:
        result = action(batch_id, current_user)
    except DomainError as exc:
        db.session.rollback()
        flash_error(exc)
    else:
        count = result if isinstance(result, int) else 0
        flash(message.format(id=batch_id, new=getattr(result, "id", batch_id), count=count), "success")
    return redirect(safe_return(request.form.get("url")) or view.get_url(".index_view"))
