"""Settings > Data retention: how long this enterprise keeps stored files and lead values (admins)."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from wtforms import IntegerField
from wtforms.validators import NumberRange, Optional

from admin_views.base import SecuredView
from app.errors import ValidationError
from app.models import Role
from app.services import retention

HELP = "Whole days; leave empty for the platform default."


class RetentionForm(BaseForm):
    file_days = IntegerField(
        "Purge stored files after (days)", validators=[Optional(), NumberRange(1, retention.MAX_DAYS)], description=HELP
    )
    lead_days = IntegerField(
        "Redact delivered lead values after (days)",
        validators=[Optional(), NumberRange(1, retention.MAX_DAYS)],
        description=HELP + " Leads still pending, or in a file not delivered yet, are never redacted.",
    )


class RetentionView(SecuredView):
    required_role = Role.ADMIN.value

    @expose("/", methods=("GET", "POST"))
    def index(self):
        enterprise = current_user.enterprise
        form = RetentionForm(request.form if request.method == "POST" else None)
        if request.method == "GET":
            form.file_days.data, form.lead_days.data = enterprise.retention_file_days, enterprise.retention_lead_days
        elif form.validate():
            try:
                retention.set_policy(enterprise, form.file_days.data, form.lead_days.data, current_user)
            except ValidationError as exc:
                flash(exc.message, "error")
            else:
                flash("Retention policy saved; the daily retention run applies it.", "success")
                return redirect(self.get_url(".index"))
        return self.render("admin/bm/retention.html", form=form, policy=retention.policy_for(enterprise))
