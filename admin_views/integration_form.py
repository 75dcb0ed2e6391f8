"""The Configure form: every integration setting, converted to and from the API payload.

Validation is not repeated here: the payload goes to app.services.integrations, and its
ValidationError details (keyed by API field path) are put back on the form fields.
"""

from __future__ import annotations

import json
import re
from typing import Any
from zoneinfo import available_timezones

from flask_admin.form import BaseForm
from wtforms import BooleanField, HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import NumberRange, Optional, StopValidation

from admin_views.base import choices
from app.file_options import COMPRESSIONS, DEFAULT_NAME_TEMPLATE, LINE_ENDINGS, PROTECTIONS, QUOTING
from app.models.integrations import DELIVERY_METHODS
from app.services import scheduling, strict_json
from app.services.integration_rules import FILE_COLUMNS

METHOD_LABELS = {"sftp": "SFTP", "email": "Email", "ftp": "FTP / FTPS", "s3": "S3 bucket", "local": "Local folder"}
PROTECTION_LABELS = {
    "none": "None",
    "zip-aes": "ZIP with password (AES-256)",
    "xlsx-password": "Excel password (xlsx only)",
    "pgp": "PGP to the advertiser's public key",
}
LEAD_MODE_LABELS = {
    "new": "New leads only (each lead sent once)",
    "cumulative": "Cumulative (every valid lead so far)",
}
WINDOW_LABELS = {
    "all": "Every lead ever taken",
    "month": "This calendar month",
    "week": "This week (from Monday)",
    "day": "Today",
}
SCHEDULE_KIND_LABELS = {
    "cron": "Cron expression",
    "lastBusinessDay": "Last business day of the month (Monday to Friday)",
    "every": "Every N days or weeks",
}
UNIT_LABELS = {"days": "days", "weeks": "weeks"}
# Schedule form field per API setting (the kind's settings and the shared ones).
SCHEDULE_FIELDS = {
    "kind": "schedule_kind",
    "cron": "schedule_cron",
    "interval": "schedule_interval",
    "unit": "schedule_unit",
    "at": "schedule_at",
    "startDate": "schedule_start",
    "timezone": "timezone",
    "capLeads": "cap_leads",
    "capPeriod": "cap_period",
    "deliverAfterCampaignEnd": "deliver_after_end",
}
FORMAT_LABELS = {"csv": "CSV (comma)", "tsv": "TSV (tab)", "psv": "PSV (pipe)", "xlsx": "Excel (xlsx)"}
# Form field per delivery setting, by method; keys are the API's names.
DELIVERY_FIELDS: dict[str, dict[str, str]] = {
    "sftp": {"host": "host", "port": "port", "username": "username", "remoteDir": "remote_dir", "hostKey": "host_key"},
    "email": {"recipients": "recipients", "subject": "subject"},
    "ftp": {"host": "host", "port": "port", "username": "username", "remoteDir": "remote_dir", "tls": "tls"},
    "s3": {"bucket": "bucket", "prefix": "prefix", "endpointUrl": "endpoint_url", "region": "region"},
    "local": {"directory": "directory"},
}
# The form fields are named after the model columns, so the service's map serves both.
FILE_FIELDS = FILE_COLUMNS
TOP_FIELDS = {
    "campaignId": "campaign_id",
    "label": "label",
    "enabled": "enabled",
    "pauseAfterFailures": "pause_after_failures",
}
# FTPS is the default; plain FTP is a choice made on purpose, and says what it gives up.
FTP_SECURITY = [("true", "FTPS (TLS, verified certificate)"), ("false", "Plain FTP (unencrypted)")]
TIMEZONES = sorted(available_timezones())


# Integer columns are 32-bit; numbers beyond them are refused as form errors (WTForms'
# NumberRange calls math.isnan on them, which overflows into a 500 for a 400-digit number).
MAX_INT = 2**31 - 1


def _id(value: Any) -> int:
    """SelectField coercion for ids: an int a column can hold (ValueError -> "Not a valid choice")."""
    number = int(value)
    if not 0 <= number <= MAX_INT:
        raise ValueError("out of range")
    return number


def _within_columns(form: Any, field: Any) -> None:
    if field.data is not None and abs(field.data) > MAX_INT:
        raise StopValidation(f"must be at most {MAX_INT:,}")


class IntegrationForm(BaseForm):
    campaign_id = SelectField("Campaign", coerce=_id, validate_choice=False)
    label = StringField("Label", description="Shown in both tables and usable in file names.")
    enabled = BooleanField("Enabled", default=True)
    pause_after_failures = IntegerField(
        "Pause after failed files",
        default=5,
        validators=[Optional(), NumberRange(min=0, max=1000)],
        description="Scheduled sends stop after this many failed files in a row (0: never).",
    )

    schedule_kind = SelectField("Schedule", choices=choices(SCHEDULE_KIND_LABELS.items()), default="cron")
    schedule_cron = StringField("Cron", default="0 6 * * *", description="Five fields: minute hour day month weekday.")
    schedule_interval = StringField("Every", default="1", description="A whole number from 1 to 365.")
    schedule_unit = SelectField("Unit", choices=choices(UNIT_LABELS.items()), default="weeks")
    schedule_at = StringField("At", default="06:00", description="Local time, 24-hour HH:MM.")
    schedule_start = StringField(
        "Starting on", description="The first run's day (YYYY-MM-DD); weekly runs keep its weekday."
    )
    timezone = StringField("Time zone", default="UTC", description="IANA name, e.g. Europe/London.")
    cap_leads = IntegerField(
        "Delivery cap (leads)",
        validators=[Optional(), _within_columns, NumberRange(min=1, max=10_000_000)],
        description="At most this many leads per period; the rest wait for the next period.",
    )
    cap_period = SelectField(
        "Per",
        choices=[("", "no cap"), ("day", "day"), ("week", "week (from Monday)"), ("month", "month")],
        default="",
        description="A local day, week or month of the time zone above.",
    )
    deliver_after_end = BooleanField(
        "Deliver even if the campaign has ended",
        default=True,
        description="Off: scheduled sends stop after the campaign's final batch (Batch now still works).",
    )

    file_format = SelectField("Format", choices=choices(FORMAT_LABELS.items()), default="csv")
    delimiter = StringField("Delimiter", default=",", description="CSV only; TSV and PSV imply tab and pipe.")
    header = BooleanField("Header row", default=True)
    quoting = SelectField("Quoting", choices=choices([(q, q.capitalize()) for q in QUOTING]), default="minimal")
    line_ending = SelectField("Line ending", choices=choices([(e, e.upper()) for e in LINE_ENDINGS]), default="crlf")
    encoding = StringField("Encoding", default="utf-8", description="utf-8, utf-8-sig (Excel), latin-1, cp1252…")
    name_template = StringField("File name template", default=DEFAULT_NAME_TEMPLATE)
    compression = SelectField("Compression", choices=choices([(c, c) for c in COMPRESSIONS]), default="none")
    max_leads_per_file = IntegerField(
        "Max leads per file", validators=[Optional(), _within_columns, NumberRange(min=1)]
    )
    send_empty = BooleanField("Send a file even when no leads are waiting")
    protection = SelectField(
        "Protection", choices=choices([(p, PROTECTION_LABELS[p]) for p in PROTECTIONS]), default="none"
    )
    protection_credential_id = SelectField(
        "Password / public key",
        coerce=_id,
        validate_choice=False,
        default=0,
        description="A File password or PGP public key credential from the Credential Manager.",
    )
    pgp_armor = BooleanField("PGP: ASCII-armoured (.asc); unticked: binary (.pgp)", default=True)
    lead_mode = SelectField(
        "Leads in each file",
        choices=choices(LEAD_MODE_LABELS.items()),
        default="new",
        description="Cumulative files are never split: leave Max leads per file empty.",
    )
    cumulative_window = SelectField(
        "Cumulative window",
        choices=choices(WINDOW_LABELS.items()),
        default="all",
        description="Cumulative only: which earlier leads each file repeats (calendar, in the schedule's time zone).",
    )

    fields_json = HiddenField("Field mapping", default="[]")

    delivery_method = SelectField(
        "Method", choices=choices([(m, METHOD_LABELS[m]) for m in DELIVERY_METHODS]), default="local"
    )
    credential_id = SelectField("Credential", coerce=_id, validate_choice=False, default=0)
    host = StringField("Host")
    port = IntegerField("Port", validators=[Optional(), _within_columns, NumberRange(min=1, max=65535)])
    username = StringField("Username")
    remote_dir = StringField("Remote folder")
    host_key = TextAreaField("Host key", description="The server's public key line, e.g. ssh-ed25519 AAAA…")
    tls = SelectField("Security", choices=FTP_SECURITY, default="true")
    recipients = TextAreaField("Recipients", description="One email address per line or comma-separated.")
    subject = StringField("Subject", description="Same tokens as file names plus {file_name} {lead_count}.")
    bucket = StringField("Bucket")
    prefix = StringField("Key prefix")
    endpoint_url = StringField("Endpoint URL", description="Leave empty for AWS.")
    region = StringField("Region")
    directory = StringField("Folder", description="A folder inside your enterprise's delivery folder, e.g. acme/daily.")

    form_errors_extra: list[str]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.form_errors_extra = []


def field_methods() -> dict[str, list[str]]:
    """Each delivery form field and the methods that use it (the form shows only those)."""
    used: dict[str, list[str]] = {}
    for method, fields in DELIVERY_FIELDS.items():
        for name in fields.values():
            used.setdefault(name, []).append(method)
    return used


def _clean(value: Any) -> Any:
    return value.strip() if isinstance(value, str) else value


def mapping_rows(form: IntegrationForm) -> Any:
    """The mapping rows; None if not JSON, ValidationError (fields.<row>...) for NaN or a lone surrogate."""
    try:
        rows = json.loads(form.fields_json.data or "[]")
    except ValueError:
        return None
    return strict_json.check(rows, "fields")


def to_payload(form: IntegrationForm) -> dict[str, Any]:
    """The API-shaped payload for app.services.integrations."""
    method = form.delivery_method.data
    delivery: dict[str, Any] = {"method": method}
    for key, name in DELIVERY_FIELDS.get(method, {}).items():
        value = _clean(form[name].data)
        if key == "recipients":
            value = [r.strip() for r in (value or "").replace(",", "\n").splitlines() if r.strip()]
        # Empty strings are sent, not dropped: an edit merges into the saved settings,
        # so a field the user cleared must say so (the transport applies its default).
        if value is not None:
            delivery[key] = value
    delivery["credentialId"] = form.credential_id.data or None
    file_settings = {key: _clean(form[name].data) for key, name in FILE_FIELDS.items()}
    file_settings["protectionCredentialId"] = file_settings["protectionCredentialId"] or None
    mapping = mapping_rows(form)
    return {
        "campaignId": form.campaign_id.data or None,
        "label": _clean(form.label.data),
        "enabled": bool(form.enabled.data),
        "pauseAfterFailures": 5 if form.pause_after_failures.data is None else form.pause_after_failures.data,
        "schedule": {
            **schedule_settings(form),
            # An empty cap field clears the cap; the service refuses a number without a period.
            "capLeads": form.cap_leads.data,
            "capPeriod": form.cap_period.data or None,
            "deliverAfterCampaignEnd": bool(form.deliver_after_end.data),
        },
        "file": file_settings,
        "fields": mapping if mapping is not None else "not valid JSON",
        "delivery": delivery,
    }


def schedule_settings(form: Any) -> dict[str, Any]:
    """The chosen kind, its settings (those of other kinds are left out) and the time zone.

    `form` is the form or the preview's query string (a mapping of the same field names).
    """
    get = (lambda name: form[name].data) if isinstance(form, IntegrationForm) else form.get
    kind = get("schedule_kind") or "cron"
    settings: dict[str, Any] = {"kind": kind, "timezone": _clean(get("timezone"))}
    for key in scheduling.kind_settings(kind):
        settings[key] = _clean(get(SCHEDULE_FIELDS[key]))
    if isinstance(settings.get("interval"), str) and re.fullmatch("[0-9]{1,6}", settings["interval"]):
        # Anything else goes as typed, and the service says what it needs.
        settings["interval"] = int(settings["interval"])
    return settings


def from_integration(integration: Any) -> dict[str, Any]:
    """Form data for editing an existing integration."""
    data: dict[str, Any] = {
        "campaign_id": integration.campaign_id,
        "label": integration.label,
        "enabled": integration.enabled,
        "pause_after_failures": integration.pause_after_failures,
        "timezone": integration.timezone,
        "cap_leads": integration.cap_leads,
        "cap_period": integration.cap_period or "",
        "deliver_after_end": integration.deliver_after_end,
        "fields_json": json.dumps(integration.fields or []),
        "delivery_method": integration.delivery_method,
        "credential_id": integration.credential_id or 0,
    }
    for key, value in scheduling.settings_of(integration.schedule_cron).items():
        data[SCHEDULE_FIELDS[key]] = value
    for name in FILE_FIELDS.values():
        data[name] = getattr(integration, name)
    data["protection_credential_id"] = integration.protection_credential_id or 0
    settings = integration.delivery or {}
    for key, name in DELIVERY_FIELDS.get(integration.delivery_method, {}).items():
        value = settings.get(key)
        if key == "recipients" and isinstance(value, list):
            value = "\n".join(value)
        elif key == "tls":
            value = "false" if value is False else "true"
        data[name] = value
    return data


def field_for(path: str) -> str | None:
    """The form field an API error path belongs to ("schedule.cron" -> "schedule_cron")."""
    head, _, rest = path.partition(".")
    if head in TOP_FIELDS:
        return TOP_FIELDS[head]
    if head == "schedule":
        return SCHEDULE_FIELDS.get(rest.split(".")[0])
    if head == "file":
        return FILE_FIELDS.get(rest.split(".")[0])
    if head == "fields":
        return "fields_json"
    if head == "delivery":
        key = rest.split(".")[0]
        if key == "credentialId":
            return "credential_id"
        if key == "method":
            return "delivery_method"
        for fields in DELIVERY_FIELDS.values():
            if key in fields:
                return fields[key]
    return None


def apply_errors(form: IntegrationForm, details: Any, message: str) -> None:
    """Put a ValidationError's details on the matching fields; the rest on the form."""
    if not isinstance(details, dict) or not details:
        form.form_errors_extra.append(message)
        return
    for path, problems in details.items():
        problems = problems if isinstance(problems, list) else [problems]
        name = field_for(str(path))
        if name == "fields_json" and str(path) != "fields":
            # fields.2.header -> "Row 3 header: ..." so people find the row.
            parts = str(path).split(".")
            where = f"Row {int(parts[1]) + 1}" if len(parts) > 1 and parts[1].isdigit() else "Mapping"
            problems = [f"{where} {' '.join(parts[2:])}: {p}".replace("  ", " ") for p in problems]
        if name is None:
            form.form_errors_extra.extend(f"{path}: {p}" for p in problems)
        else:
            form[name].errors = [*list(form[name].errors or []), *map(str, problems)]
