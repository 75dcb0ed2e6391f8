"""Users and API tokens of the enterprise, for admins."""

from __future__ import annotations

from typing import Any

from flask import flash, redirect, request
from flask_admin import expose
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup
from sqlalchemy import select
from wtforms import BooleanField, PasswordField, SelectField, StringField
from wtforms.validators import DataRequired, Length

from admin_views import formatting as fmt
from admin_views.base import MacroRowAction, TenantModelView, choices, require_role, safe_return
from app.errors import ValidationError
from app.extensions import db
from app.models import ApiToken, Role, User
from app.services import accounts, audit

ROLE_CHOICES = choices((r.value, r.value.capitalize()) for r in Role)


class NewUserForm(BaseForm):
    email = StringField("Email", validators=[DataRequired(), Length(max=320)])
    role = SelectField("Role", choices=ROLE_CHOICES, default=Role.VIEWER.value)
    password = PasswordField("Password", validators=[DataRequired()], description="At least 8 characters.")


class EditUserForm(BaseForm):
    role = SelectField("Role", choices=ROLE_CHOICES)
    active = BooleanField("Active (may log in)")


class UsersView(TenantModelView):
    """People of this enterprise: create them and change role or access."""

    required_role = Role.ADMIN.value
    table_name = ""
    column_list = ["email", "role", "active", "created_at", "last_login_at"]
    default_columns = column_list
    column_labels = {"created_at": "Created", "last_login_at": "Last login"}
    column_sortable_list = column_list
    column_default_sort = ("email", False)
    column_searchable_list = ["email"]
    column_formatters = {
        "created_at": fmt.formatter(fmt.when),
        "last_login_at": fmt.formatter(lambda v: fmt.when(v, "never")),
    }
    column_extra_row_actions = [MacroRowAction("end_sessions", "Log out everywhere", Role.ADMIN.value)]
    can_create = True
    can_edit = True
    form = NewUserForm

    def get_edit_form(self):
        return EditUserForm

    def create_model(self, form: Any) -> Any:
        try:
            user = accounts.create_user(
                form.email.data, form.role.data, current_user.enterprise.name, form.password.data
            )
        except ValidationError as exc:
            db.session.rollback()
            for key, problems in (exc.details or {}).items():
                if hasattr(form, key):
                    getattr(form, key).errors = list(problems)
            flash(exc.message, "error")
            return False
        audit.record("user.create", "user", user.id, user=current_user, details={"role": user.role}, commit=True)
        return user

    def update_model(self, form: Any, model: Any) -> bool:
        if model.id == current_user.id and (form.role.data != Role.ADMIN.value or not form.active.data):
            flash("You cannot take away your own admin role or access; ask another admin.", "error")
            return False
        changes = accounts.update_access(model, form.role.data, bool(form.active.data))
        if changes:
            audit.record("user.update", "user", model.id, user=current_user, details=changes)
            db.session.commit()
            flash(f"{model.email}: changed, and signed out everywhere.", "success")
        return True

    @expose("/end-sessions/<int:user_id>", methods=("POST",))
    def end_sessions_view(self, user_id: int):
        require_role(Role.ADMIN.value)
        user = self.get_owned_or_404(user_id)
        accounts.end_sessions(user)
        audit.record("sessions.end", "user", user.id, user=current_user, details={"for": user.email})
        db.session.commit()
        flash(f"{user.email} is signed out everywhere.", "success")
        return redirect(safe_return(request.form.get("url")) or self.get_url(".index_view"))


class NewTokenForm(BaseForm):
    user_id = SelectField("User", coerce=int, validate_choice=False)
    name = StringField(
        "Name", validators=[DataRequired(), Length(max=100)], description="What it is for, e.g. 'CRM sync'."
    )


def _token_state(view, context, model, name):
    if model.revoked_at:
        return Markup('<span class="badge badge-secondary">revoked</span> {}').format(fmt.when(model.revoked_at))
    return Markup('<span class="badge badge-success">active</span>')


class TokensView(TenantModelView):
    """API tokens: the raw token is shown once at creation; revoke any time."""

    required_role = Role.ADMIN.value
    table_name = ""
    column_list = ["name", "user.email", "prefix", "created_at", "last_used_at", "revoked_at"]
    default_columns = column_list
    column_labels = {
        "user.email": "User",
        "prefix": "Starts with",
        "created_at": "Created",
        "last_used_at": "Last used",
        "revoked_at": "State",
    }
    column_sortable_list = ["name", "user.email", "prefix", "created_at", "last_used_at", "revoked_at"]
    column_default_sort = ("created_at", True)
    column_formatters = {
        "created_at": fmt.formatter(fmt.when),
        "last_used_at": fmt.formatter(lambda v: fmt.when(v, "never")),
        "revoked_at": _token_state,
        "prefix": fmt.formatter(lambda v: fmt.mono(f"{v}…")),
    }
    column_extra_row_actions = [MacroRowAction("revoke_token", "Revoke", Role.ADMIN.value)]
    can_create = True
    empty_message = "No API tokens yet — create one for each system that calls the API."

    def get_empty_list_message(self) -> str:
        return self.empty_message

    def scope(self) -> list:
        # Tokens belong to users; a user belongs to one enterprise.
        return [ApiToken.user_id.in_(select(User.id).where(User.enterprise_id == current_user.enterprise_id))]

    def _users(self) -> list[User]:
        return list(
            db.session.scalars(
                select(User).where(User.enterprise_id == current_user.enterprise_id).order_by(User.email)
            )
        )

    @expose("/new/", methods=("GET", "POST"))
    def create_view(self):
        require_role(Role.ADMIN.value)
        form = NewTokenForm(request.form if request.method == "POST" else None)
        users = {u.id: u for u in self._users()}
        form.user_id.choices = choices((u.id, f"{u.email} ({u.role})") for u in users.values())
        if request.method == "POST" and form.validate():
            owner = users.get(form.user_id.data)
            if owner is None:
                form.user_id.errors = ["Choose a user of your enterprise."]
            else:
                try:
                    token, raw = accounts.create_token(owner, form.name.data)
                except ValidationError as exc:
                    form.name.errors = [exc.message]
                else:
                    audit.record(
                        "token.create",
                        "api_token",
                        token.id,
                        user=current_user,
                        details={"for": owner.email},
                        commit=True,
                    )
                    # Rendered, not flashed: the raw token must not travel in the session cookie.
                    return self.render("admin/bm/token_created.html", token=token, raw=raw, owner=owner)
        return self.render("admin/bm/token_new.html", form=form, cancel_url=self.get_url(".index_view"))

    @expose("/revoke/<int:token_id>", methods=("POST",))
    def revoke_view(self, token_id: int):
        require_role(Role.ADMIN.value)
        token = self.get_owned_or_404(token_id)
        if token.revoked_at is None:
            accounts.revoke_token(token)
            audit.record("token.revoke", "api_token", token.id, user=current_user, commit=True)
            flash(f"Token '{token.name}' revoked; it stops working immediately.", "success")
        return redirect(safe_return(request.form.get("url")) or self.get_url(".index_view"))
