"""Settings, Alerts: where an enterprise's alerts go (admins), and what was sent lately."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_login import current_user

from admin_views.base import SecuredView
from app.errors import ValidationError
from app.extensions import db
from app.models import Role
from app.services import alert_settings, alerts

FIELDS = ("emailRecipients", "webhookUrls", "webhookSecret", "optionalEvents", "staleDays")


class AlertsView(SecuredView):
    """E-mail recipients, signed webhooks (write-only secret), optional events; the recent events."""

    required_role = Role.ADMIN.value

    @expose("/", methods=("GET", "POST"))
    def index(self):
        settings = alert_settings.get(current_user.enterprise_id)
        values = alert_settings.to_dict(settings)
        errors: dict = {}
        if request.method == "POST":
            form = request.form
            days = form.get("staleDays", "").strip()
            data = {
                "emailRecipients": form.get("emailRecipients", ""),
                "webhookUrls": form.get("webhookUrls", ""),
                "webhookSecret": form.get("webhookSecret", ""),
                "optionalEvents": form.getlist("optionalEvents"),
                "staleDays": int(days) if days.isdigit() else days,
            }
            try:
                alert_settings.save(current_user, data)
            except ValidationError as exc:
                db.session.rollback()
                errors = exc.details or {}
                flash(exc.message[:1].upper() + exc.message[1:] + ".", "error")
                values = {**values, **{k: v for k, v in data.items() if k != "webhookSecret"}}
            else:
                flash("Alert settings saved.", "success")
                return redirect(self.get_url(".index"))
        return self.render(
            "admin/bm/alerts.html",
            values=values,
            errors=errors,
            optional_events=alert_settings.OPTIONAL_EVENTS,
            recent=alerts.recent(current_user.enterprise_id),
        )
