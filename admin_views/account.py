"""My account: change my password, end my sessions on other devices."""

from __future__ import annotations

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from wtforms import PasswordField
from wtforms.validators import DataRequired

from admin_views.base import SecuredView, flash_error
from admin_views.integration_form import TIMEZONES
from app.auth.login import start_session
from app.errors import ValidationError
from app.extensions import db
from app.services import accounts, audit


class PasswordForm(BaseForm):
    current_password = PasswordField("Current password", validators=[DataRequired()])
    new_password = PasswordField("New password", validators=[DataRequired()], description="At least 8 characters.")


class AccountView(SecuredView):
    """Reached from the user menu; not a menu entry of its own."""

    def is_visible(self) -> bool:
        return False

    @expose("/", methods=("GET", "POST"))
    def index(self):
        form = PasswordForm(request.form if request.method == "POST" else None)
        if request.method == "POST" and form.validate():
            user = current_user._get_current_object()
            try:
                accounts.change_password(user, form.current_password.data, form.new_password.data)
            except ValidationError as exc:
                for key, problems in (exc.details or {}).items():
                    getattr(form, key).errors = list(problems)
            else:
                audit.record("password.change", "user", user.id, user=user, commit=True)
                start_session(user)  # this browser stays signed in with the new version
                flash("Password changed. Your sessions on other devices have ended.", "success")
                return redirect(self.get_url(".index"))
        return self.render("admin/bm/account.html", form=form, timezones=TIMEZONES)

    @expose("/timezone", methods=("POST",))
    def timezone_view(self):
        """The time zone the admin shows this user's times in."""
        user = current_user._get_current_object()
        try:
            zone = accounts.set_timezone(user, request.form.get("timezone", ""))
        except ValidationError as exc:
            db.session.rollback()
            flash_error(exc)
        else:
            audit.record("account.timezone", "user", user.id, user=user, details={"timezone": zone})
            db.session.commit()
            flash(f"Times are now shown in {zone}.", "success")
        return redirect(self.get_url(".index"))

    @expose("/end-sessions", methods=("POST",))
    def end_sessions_view(self):
        user = current_user._get_current_object()
        accounts.end_sessions(user)
        audit.record("sessions.end", "user", user.id, user=user, details={"kept": "this browser"})
        db.session.commit()
        start_session(user)
        flash("Signed out everywhere else; this browser stays signed in.", "success")
        return redirect(self.get_url(".index"))
