"""Integrations: the list of every integration and its Configure (create / edit) form."""

from __future__ import annotations

from typing import Any

from flask import flash, jsonify, redirect, request
from flask_admin import expose
from flask_login import current_user
from sqlalchemy import select
from sqlalchemy.orm import selectinload

from admin_views import formatting as fmt
from admin_views import integration_form as iform
from admin_views.base import MacroRowAction, TenantModelView, choices, has_role, require_role, safe_return
from app.errors import DomainError, ValidationError
from app.extensions import db
from app.file_options import PROTECTION_KINDS
from app.models import Advertiser, BatchCsvIntegration, Campaign, Credential, Role
from app.models.types import utcnow
from app.services import dry_run, scheduling

LABELS = {
    "id": "ID",
    "campaign.advertiser.name": "Advertiser Name",
    "campaign.name": "Campaign Name",
    "label": "Label",
    "enabled": "Enabled",
    "delivery_method": "Delivery",
    "schedule": "Schedule",
    "pending_count": "Pending",
    "last_sent_at": "Last sent",
    "updated_at": "Changed",
}


class IntegrationsView(TenantModelView):
    """All integrations, with or without pending leads; admins create and configure them."""

    table_name = "integrations"
    column_list = list(LABELS)
    default_columns = list(LABELS)
    column_labels = LABELS
    column_sortable_list = [c if c != "schedule" else ("schedule", "next_run_at") for c in LABELS]
    column_default_sort = ("id", False)
    column_filters = ["campaign.advertiser.name", "campaign.name", "label", "enabled", "delivery_method"]
    column_searchable_list = ["label", "campaign.name"]
    column_auto_select_related = False
    column_formatters = {
        "schedule": lambda v, c, m, n: fmt.schedule(m.schedule_cron, m.timezone, m.next_run_at),
        "pending_count": fmt.formatter(fmt.count),
        "last_sent_at": fmt.formatter(lambda v: fmt.when(v, "never")),
        "updated_at": fmt.formatter(fmt.when),
        "delivery_method": fmt.formatter(lambda v: iform.METHOD_LABELS.get(v, v)),
    }
    column_extra_row_actions = [
        MacroRowAction("configure", "Configure", Role.ADMIN.value),
        MacroRowAction("view_pending", "View queued leads"),
    ]
    form = iform.IntegrationForm
    empty_message = "No integrations yet — an admin can create one with Create."

    @property
    def can_create(self) -> bool:  # type: ignore[override]
        return has_role(Role.ADMIN.value)

    def get_query(self):
        return super().get_query().options(selectinload(BatchCsvIntegration.campaign).selectinload(Campaign.advertiser))

    def get_empty_list_message(self) -> str:
        return self.empty_message

    # Configure ------------------------------------------------------------
    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        require_role(Role.ADMIN.value)
        form = self._form(None)
        if request.method == "POST" and form.validate():
            from app.services import integrations

            try:
                integration = integrations.create_integration(
                    current_user.enterprise_id, iform.to_payload(form), current_user
                )
            except ValidationError as exc:
                db.session.rollback()
                iform.apply_errors(form, exc.details, exc.message)
            else:
                flash(f"Integration '{integration.label}' created.", "success")
                return redirect(self._return_url())
        return self._render_form(form, None)

    @expose("/edit/", methods=("GET", "POST"))
    def edit_view(self):
        require_role(Role.ADMIN.value)
        integration = self.get_owned_or_404(request.args.get("id"))
        form = self._form(integration)
        if request.method == "POST" and form.validate():
            from app.services import integrations

            try:
                integrations.update_integration(integration, iform.to_payload(form), current_user)
            except ValidationError as exc:
                db.session.rollback()
                iform.apply_errors(form, exc.details, exc.message)
            else:
                flash(f"Integration '{integration.label}' saved.", "success")
                return redirect(self._return_url())
        return self._render_form(form, integration)

    def _return_url(self) -> str:
        return safe_return(request.args.get("url")) or self.get_url(".index_view")

    def _form(self, integration: BatchCsvIntegration | None) -> iform.IntegrationForm:
        if request.method == "POST":
            form = iform.IntegrationForm(request.form)
        elif integration is not None:
            form = iform.IntegrationForm(data=iform.from_integration(integration))
        else:
            form = iform.IntegrationForm()
        campaigns = db.session.execute(
            select(Campaign.id, Campaign.name, Advertiser.name)
            .join(Advertiser, Advertiser.id == Campaign.advertiser_id)
            .where(Campaign.enterprise_id == current_user.enterprise_id)
            .order_by(Advertiser.name, Campaign.name)
        ).all()
        form.campaign_id.choices = choices(
            [(0, "— choose a campaign —")] + [(cid, f"{adv} / {name}") for cid, name, adv in campaigns]
        )
        form.credential_id.choices = choices(
            [(0, "— none —")] + [(c.id, f"{c.name} ({c.kind})") for c in self._credentials()]
        )
        form.protection_credential_id.choices = choices(
            [(0, "— none —")]
            + [(c.id, f"{c.name} ({c.kind})") for c in self._credentials() if c.kind in PROTECTION_KINDS.values()]
        )
        return form

    def _credentials(self) -> list[Credential]:
        return list(
            db.session.scalars(
                select(Credential)
                .where(Credential.enterprise_id == current_user.enterprise_id)
                .order_by(Credential.name)
            )
        )

    def _render_form(self, form: iform.IntegrationForm, integration: BatchCsvIntegration | None) -> str:
        return self.render(
            "admin/bm/integration_form.html",
            form=form,
            integration=integration,
            timezones=iform.TIMEZONES,
            credential_kinds={c.id: c.kind for c in self._credentials()},
            runs=_runs(iform.schedule_settings(form)),
            cancel_url=self._return_url(),
            field_methods=iform.field_methods(),
            preview_max_leads=dry_run.lead_cap(integration) if integration is not None else None,
        )

    # Helpers the form calls -------------------------------------------------
    @expose("/schedule-preview")
    def schedule_preview_view(self):
        """The schedule in words and its next five runs (JSON for the form).

        Query: the form's field names (`schedule_kind`, `schedule_at`, ...); `cron` and
        `timezone` alone still mean a cron schedule.
        """
        args = {iform.SCHEDULE_FIELDS.get(key, key): value for key, value in request.args.items()}
        return jsonify(_runs(iform.schedule_settings(args)))

    @expose("/test-connection", methods=("POST",))
    def test_connection_view(self):
        """Try the delivery settings in the form (saved or not) with the chosen credential."""
        from app.services import integrations

        require_role(Role.ADMIN.value)
        form = iform.IntegrationForm(request.form)
        try:
            result = integrations.check_delivery_connection(
                current_user.enterprise_id, iform.to_payload(form)["delivery"], current_user
            )
        except DomainError as exc:
            details = exc.details if isinstance(exc.details, dict) else {}
            extra = "; ".join(
                f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}" for k, v in details.items()
            )
            return jsonify(ok=False, message=f"{exc.message}{' — ' + extra if extra else ''}")
        return jsonify(ok=bool(result.ok), message=str(result.message))


def _runs(settings: dict[str, Any]) -> dict[str, Any]:
    try:
        expression = scheduling.validate_settings(settings)
    except ValidationError as exc:
        return {"ok": False, "errors": exc.details}
    timezone = settings["timezone"]
    runs = scheduling.next_runs(expression, timezone, utcnow(), 5)
    from zoneinfo import ZoneInfo

    tz = ZoneInfo(timezone)
    return {
        "ok": True,
        "description": scheduling.describe(expression, timezone),
        "runs": [
            {"utc": r.isoformat(), "local": r.astimezone(tz).strftime("%a %d %b %Y, %H:%M %Z"), "in": fmt.relative(r)}
            for r in runs
        ],
    }
