"""Credential Manager (write-only secrets) and the audit log, for admins."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Any

from flask import flash
from flask_admin.contrib.sqla.filters import (
    DateTimeBetweenFilter,
    DateTimeGreaterFilter,
    DateTimeSmallerFilter,
    FilterEqual,
)
from flask_admin.form import BaseForm
from flask_login import current_user
from markupsafe import Markup
from wtforms import PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length

from admin_views import formatting as fmt
from admin_views.base import TenantModelView, choices
from app.errors import ValidationError
from app.extensions import db
from app.models import AuditEvent, Role
from app.models.integrations import CREDENTIAL_KINDS

KIND_LABELS = {
    "password": "Password",
    "ssh_private_key": "SSH private key",
    "s3_keys": "S3 access keys",
    "file_password": "File password (ZIP / Excel)",
    "pgp_public_key": "PGP public key (advertiser's)",
}


class SecretTextAreaField(TextAreaField):
    """A textarea that never renders its value: a secret is not shown back, even on error."""

    def _value(self) -> str:
        return ""


class CredentialForm(BaseForm):
    name = StringField("Name", validators=[DataRequired(), Length(max=200)])
    kind = SelectField("Kind", choices=choices([(k, KIND_LABELS[k]) for k in CREDENTIAL_KINDS]))
    password = PasswordField("Password", description="For kinds Password and File password.")
    private_key = SecretTextAreaField("Private key", description="OpenSSH or PEM text, for kind SSH private key.")
    public_key = SecretTextAreaField(
        "PGP public key", description="The advertiser's ASCII-armoured key (-----BEGIN PGP PUBLIC KEY BLOCK-----)."
    )
    access_key_id = StringField("Access key ID", description="For kind S3 access keys.")
    secret_access_key = PasswordField("Secret access key")


class ReplaceSecretForm(BaseForm):
    password = PasswordField("New password")
    private_key = SecretTextAreaField("New private key")
    public_key = SecretTextAreaField("New PGP public key")
    access_key_id = StringField("Access key ID")
    secret_access_key = PasswordField("New secret access key")


def _secret(form: Any, kind: str) -> Any:
    if kind in ("password", "file_password"):
        return form.password.data or ""
    if kind == "pgp_public_key":
        return form.public_key.data or ""
    if kind == "ssh_private_key":
        return form.private_key.data or ""
    return {
        "accessKeyId": (form.access_key_id.data or "").strip(),
        "secretAccessKey": form.secret_access_key.data or "",
    }


def _show_errors(form: Any, exc: ValidationError) -> None:
    targets = {"secret": "password", "name": "name", "kind": "kind"}
    for key, problems in (exc.details or {}).items() if isinstance(exc.details, dict) else []:
        name = targets.get(str(key).split(".")[0])
        if name and hasattr(form, name):
            getattr(form, name).errors = [*list(getattr(form, name).errors or []), *map(str, problems)]
    flash(exc.message, "error")


class CredentialsView(TenantModelView):
    """Secrets for deliveries: create or replace, never shown (list shows name, kind, updated)."""

    required_role = Role.ADMIN.value
    table_name = ""
    column_list = ["name", "kind", "updated_at", "created_at"]
    default_columns = column_list
    column_labels = {"updated_at": "Updated", "created_at": "Created"}
    column_sortable_list = column_list
    column_default_sort = ("name", False)
    column_formatters = {
        "kind": fmt.formatter(lambda v: KIND_LABELS.get(v, v)),
        "updated_at": fmt.formatter(fmt.when),
        "created_at": fmt.formatter(fmt.when),
    }
    can_set_page_size = False
    can_create = True
    can_edit = True
    form = CredentialForm
    edit_template = "admin/bm/credential_edit.html"
    create_template = "admin/bm/credential_create.html"
    empty_message = "No credentials yet — create one, then choose it in an integration's delivery settings."

    def get_empty_list_message(self) -> str:
        return self.empty_message

    def get_edit_form(self):
        return ReplaceSecretForm

    def create_model(self, form: Any) -> Any:
        from app.services import credentials

        try:
            credential = credentials.create_credential(
                current_user.enterprise_id,
                form.name.data.strip(),
                form.kind.data,
                _secret(form, form.kind.data),
                current_user,
            )
        except ValidationError as exc:
            db.session.rollback()
            _show_errors(form, exc)
            return False
        return credential

    def update_model(self, form: Any, model: Any) -> bool:
        from app.services import credentials

        try:
            credentials.update_secret(model, _secret(form, model.kind), current_user)
        except ValidationError as exc:
            db.session.rollback()
            _show_errors(form, exc)
            return False
        return True


class _Utc:
    """Flask-Admin parses filter dates as naive; our columns hold aware UTC datetimes."""

    def clean(self, value: str) -> Any:
        parsed = super().clean(value)  # type: ignore[misc]
        if isinstance(parsed, list):
            return [p.replace(tzinfo=UTC) for p in parsed]
        return parsed.replace(tzinfo=UTC)


class UtcAfter(_Utc, DateTimeGreaterFilter):
    pass


class UtcBefore(_Utc, DateTimeSmallerFilter):
    pass


class UtcBetween(_Utc, DateTimeBetweenFilter):
    pass


def _details(view, context, model, name):
    if not model.details:
        return fmt.DASH
    return Markup("<code class='small'>{}</code>").format(json.dumps(model.details, sort_keys=True)[:200])


def _severity(view, context, model, name):
    css = "danger" if model.severity == "high" else "secondary"
    return Markup('<span class="badge badge-{}">{}</span>').format(css, model.severity)


class AuditView(TenantModelView):
    """Who did what, when; filter by action, severity, actor and date."""

    required_role = Role.ADMIN.value
    table_name = ""
    column_list = ["created_at", "actor", "action", "severity", "target_type", "target_id", "details"]
    default_columns = column_list
    column_labels = {"created_at": "When", "target_type": "Target", "target_id": "Target ID"}
    column_sortable_list = ["created_at", "actor", "action", "severity", "target_type", "target_id"]
    column_default_sort = ("created_at", True)
    column_filters = [
        "action",
        FilterEqual(AuditEvent.severity, "Severity", options=(("high", "high"), ("low", "low"))),
        "actor",
        UtcAfter(AuditEvent.created_at, "Date (UTC)"),
        UtcBefore(AuditEvent.created_at, "Date (UTC)"),
        UtcBetween(AuditEvent.created_at, "Date (UTC)"),
    ]
    column_searchable_list = ["actor", "action", "target_id"]
    column_formatters = {"created_at": fmt.formatter(fmt.when), "details": _details, "severity": _severity}
    empty_message = "Nothing recorded yet."

    def get_empty_list_message(self) -> str:
        return self.empty_message
