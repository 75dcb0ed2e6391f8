"""Integration settings rules: every check of a payload, each error keyed by field path.

app.services.integrations is the public face (create, update, test); this
module only turns a full payload into model column values or one ValidationError.
"""

from __future__ import annotations

import codecs
from typing import Any

from sqlalchemy import select

from app.errors import ValidationError
from app.extensions import db
from app.file_options import (
    COMPRESSIONS,
    DEFAULT_NAME_TEMPLATE,
    FILE_FORMATS,
    LINE_ENDINGS,
    PROTECTION_KINDS,
    PROTECTIONS,
    QUOTING,
)
from app.models import BatchCsvIntegration, Campaign, Credential
from app.models.integrations import DELIVERY_METHODS
from app.services import delivery_caps, egress, scheduling
from app.services.cumulative import LEAD_MODES, WINDOWS

MAX_LABEL = 200
MAX_TEMPLATE = 300
# Payload key under "file" -> model column.
FILE_COLUMNS = {
    "format": "file_format",
    "delimiter": "delimiter",
    "header": "header",
    "quoting": "quoting",
    "lineEnding": "line_ending",
    "encoding": "encoding",
    "nameTemplate": "name_template",
    "compression": "compression",
    "maxLeadsPerFile": "max_leads_per_file",
    "sendEmpty": "send_empty",
    "protection": "protection",
    "protectionCredentialId": "protection_credential_id",
    "pgpArmor": "pgp_armor",
    "leadMode": "lead_mode",
    "cumulativeWindow": "cumulative_window",
}
FILE_DEFAULTS = {
    "format": "csv",
    "delimiter": ",",
    "header": True,
    "quoting": "minimal",
    "lineEnding": "crlf",
    "encoding": "utf-8",
    "nameTemplate": DEFAULT_NAME_TEMPLATE,
    "compression": "none",
    "maxLeadsPerFile": None,
    "sendEmpty": False,
    "protection": "none",
    "protectionCredentialId": None,
    "pgpArmor": True,
    "leadMode": "new",
    "cumulativeWindow": "all",
}
TOP_LEVEL_KEYS = frozenset(
    {"campaignId", "label", "enabled", "schedule", "file", "fields", "delivery", "pauseAfterFailures"}
)
MAX_PAUSE_AFTER = 1000


def validate(enterprise_id: int, data: dict, existing: BatchCsvIntegration | None) -> dict:
    """Check every part of a full payload; return model column values or raise all errors at once."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    unknown = set(data) - TOP_LEVEL_KEYS
    for key in sorted(unknown):
        errors[key] = ["unknown field"]
    for path in _nul_paths(data):
        # Text columns (PostgreSQL above all) cannot hold NUL characters.
        errors[path] = ["must not contain NUL characters"]
    if errors:
        raise ValidationError("invalid integration settings", errors)

    _validate_campaign(enterprise_id, data.get("campaignId"), existing, values, errors)
    label = data.get("label")
    if not isinstance(label, str) or not label.strip():
        errors["label"] = ["required, a non-empty string"]
    elif len(label.strip()) > MAX_LABEL:
        errors["label"] = [f"at most {MAX_LABEL} characters"]
    else:
        values["label"] = label.strip()
    if not isinstance(data.get("enabled"), bool):
        errors["enabled"] = ["must be true or false"]
    else:
        values["enabled"] = data["enabled"]

    if "pauseAfterFailures" in data:
        pause_after = data["pauseAfterFailures"]
        if not _is_int(pause_after) or not 0 <= pause_after <= MAX_PAUSE_AFTER:
            errors["pauseAfterFailures"] = [f"must be a whole number from 0 (never pause) to {MAX_PAUSE_AFTER}"]
        else:
            values["pause_after_failures"] = pause_after
    _validate_schedule(data.get("schedule"), values, errors)
    _validate_file(data.get("file"), values, errors)
    _validate_protection(enterprise_id, data.get("file"), values, errors)
    _validate_fields(data.get("fields"), values, errors)
    validate_delivery(enterprise_id, data.get("delivery"), values, errors)
    if errors:
        raise ValidationError("invalid integration settings", errors)
    return values


def _nul_paths(value: Any, path: str = "") -> list[str]:
    if isinstance(value, str):
        return [path or "_schema"] if "\x00" in value else []
    if isinstance(value, dict):
        items = value.items()
    elif isinstance(value, list):
        items = enumerate(value)
    else:
        return []
    found = []
    for key, item in items:
        if isinstance(key, str) and "\x00" in key:
            found.append(path or "_schema")
        found.extend(_nul_paths(item, f"{path}.{key}" if path else str(key)))
    return found


def _absorb(exc: ValidationError, prefix: str, errors: dict[str, list[str]]) -> None:
    """Merge another validator's details into `errors`, keyed under `prefix`."""
    details = exc.details
    if not isinstance(details, dict) or not details:
        errors.setdefault(prefix, []).append(exc.message)
        return
    for key, messages in details.items():
        key = str(key)
        path = key if key == prefix or key.startswith(prefix + ".") else f"{prefix}.{key}"
        messages = messages if isinstance(messages, list) else [str(messages)]
        errors.setdefault(path, []).extend(str(m) for m in messages)


def _validate_campaign(enterprise_id, campaign_id, existing, values, errors) -> None:
    if existing is not None:
        if campaign_id != existing.campaign_id:
            errors["campaignId"] = ["cannot be changed; create a new integration for another campaign"]
        values["campaign_id"] = existing.campaign_id
        return
    if isinstance(campaign_id, bool) or not isinstance(campaign_id, int):
        errors["campaignId"] = ["required, a campaign id"]
        return
    owner = db.session.scalar(select(Campaign.enterprise_id).where(Campaign.id == campaign_id))
    if owner != enterprise_id:
        errors["campaignId"] = [f"unknown campaign {campaign_id}"]
        return
    values["campaign_id"] = campaign_id


# Schedule settings every kind takes; the kind's own are in scheduling.kind_settings.
SCHEDULE_COMMON = ("timezone", "capLeads", "capPeriod", "deliverAfterCampaignEnd")


def _validate_schedule(schedule, values, errors) -> None:
    if not isinstance(schedule, dict):
        errors["schedule"] = ["must be an object with cron and timezone (or a kind and its settings)"]
        return
    kind = schedule.get("kind", "cron")
    own = scheduling.kind_settings(kind)
    known = {"kind", *SCHEDULE_COMMON, *(name for k in scheduling.KINDS for name in scheduling.kind_settings(k))}
    for key in sorted(set(schedule) - {"kind", *SCHEDULE_COMMON, *own}):
        errors[f"schedule.{key}"] = [f"not a setting of kind {kind}" if key in known and own else "unknown field"]
    _validate_cap(schedule.get("capLeads"), schedule.get("capPeriod"), values, errors)
    after_end = schedule.get("deliverAfterCampaignEnd", True)
    if not isinstance(after_end, bool):
        errors["schedule.deliverAfterCampaignEnd"] = ["must be true or false"]
    else:
        values["deliver_after_end"] = after_end
    try:
        values["schedule_cron"] = scheduling.validate_settings(schedule)
    except ValidationError as exc:
        _absorb(exc, "schedule", errors)
        return
    values["timezone"] = schedule["timezone"]


def _validate_cap(leads: Any, period: Any, values, errors) -> None:
    """A delivery cap: a number of leads and a period; in force only when both are set."""
    if leads is not None and not (_is_int(leads) and 1 <= leads <= delivery_caps.MAX_CAP):
        errors["schedule.capLeads"] = ["a whole number from 1 to 10,000,000, or null for no cap"]
    elif period is not None and period not in delivery_caps.CAP_PERIODS:
        errors["schedule.capPeriod"] = [f"one of {', '.join(delivery_caps.CAP_PERIODS)}, or null for no cap"]
    else:
        # The cap applies when both are set (app.services.delivery_caps.remaining); one alone
        # is kept as given, so a PATCH may set the number and the period one at a time.
        values["cap_leads"], values["cap_period"] = leads, period


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _validate_file(settings, values, errors) -> None:
    if not isinstance(settings, dict):
        errors["file"] = ["must be an object"]
        return
    for key in sorted(set(settings) - set(FILE_COLUMNS)):
        errors[f"file.{key}"] = ["unknown field"]
    s = {**FILE_DEFAULTS, **settings}

    def check(key: str, ok: bool, message: str) -> None:
        if ok:
            values[FILE_COLUMNS[key]] = s[key]
        else:
            errors[f"file.{key}"] = [message]

    check("format", s["format"] in FILE_FORMATS, f"one of {', '.join(FILE_FORMATS)}")
    check("delimiter", isinstance(s["delimiter"], str) and len(s["delimiter"]) == 1, "a single character")
    if isinstance(s["delimiter"], str) and s["delimiter"] in ('"', "\r", "\n"):
        errors["file.delimiter"] = ["cannot be a quote or a line break"]
    check("header", isinstance(s["header"], bool), "must be true or false")
    check("quoting", s["quoting"] in QUOTING, f"one of {', '.join(QUOTING)}")
    check("lineEnding", s["lineEnding"] in LINE_ENDINGS, f"one of {', '.join(LINE_ENDINGS)}")
    check("encoding", _known_text_encoding(s["encoding"]), "not a known text encoding (e.g. utf-8, utf-8-sig, cp1252)")
    check("compression", s["compression"] in COMPRESSIONS, f"one of {', '.join(COMPRESSIONS)}")
    check(
        "maxLeadsPerFile",
        s["maxLeadsPerFile"] is None or (_is_int(s["maxLeadsPerFile"]) and 1 <= s["maxLeadsPerFile"] <= 10_000_000),
        "a whole number from 1 to 10,000,000, or null for no limit",
    )
    check("sendEmpty", isinstance(s["sendEmpty"], bool), "must be true or false")
    check("leadMode", s["leadMode"] in LEAD_MODES, f"one of {', '.join(LEAD_MODES)}")
    check("cumulativeWindow", s["cumulativeWindow"] in WINDOWS, f"one of {', '.join(WINDOWS)}")
    if s["leadMode"] == "cumulative" and s["maxLeadsPerFile"] is not None:
        errors["file.maxLeadsPerFile"] = ["must be null (no limit) for cumulative files: each holds every lead"]
    template = s["nameTemplate"]
    if not isinstance(template, str) or not template.strip() or len(template) > MAX_TEMPLATE:
        errors["file.nameTemplate"] = [f"required, at most {MAX_TEMPLATE} characters"]
        return
    from app.services.files import validate_name_template

    try:
        validate_name_template(template)
    except ValidationError as exc:
        messages = [m for ms in (exc.details or {}).values() for m in (ms if isinstance(ms, list) else [ms])]
        errors["file.nameTemplate"] = [str(m) for m in messages] or [exc.message]
        return
    values["name_template"] = template


def _validate_protection(enterprise_id, settings, values, errors) -> None:
    """protection, its credential (right kind, this enterprise) and pgpArmor, against format and compression."""
    if not isinstance(settings, dict):
        return
    from app.services.files.settings import protection_errors

    s = {**FILE_DEFAULTS, **settings}
    protection, credential_id = s["protection"], s["protectionCredentialId"]
    if not isinstance(s["pgpArmor"], bool):
        errors["file.pgpArmor"] = ["must be true or false"]
    else:
        values["pgp_armor"] = s["pgpArmor"]
    if protection not in PROTECTIONS:
        errors["file.protection"] = [f"one of {', '.join(PROTECTIONS)}"]
        return
    for key, messages in protection_errors(s["format"], s["compression"], protection).items():
        errors.setdefault(f"file.{key}", []).extend(messages)
    values["protection"] = protection
    if protection == "none":
        if credential_id is not None:
            errors["file.protectionCredentialId"] = ["only with a protection; set it to null for none"]
        values["protection_credential_id"] = None
        return
    kind = PROTECTION_KINDS[protection]
    if credential_id is None:
        errors["file.protectionCredentialId"] = [f"required for {protection}: a credential of kind {kind}"]
        return
    if not _is_int(credential_id):
        errors["file.protectionCredentialId"] = ["must be a credential id"]
        return
    credential = db.session.get(Credential, credential_id)
    if credential is None or credential.enterprise_id != enterprise_id:
        errors["file.protectionCredentialId"] = [f"unknown credential {credential_id}"]
    elif credential.kind != kind:
        errors["file.protectionCredentialId"] = [f"{protection} needs a credential of kind {kind}"]
    else:
        values["protection_credential_id"] = credential.id


def _known_text_encoding(name: Any) -> bool:
    if not isinstance(name, str) or not name or len(name) > 20:
        return False
    try:
        # rot13 and friends are codecs too, but not ones that make bytes from text.
        return bool(codecs.lookup(name)._is_text_encoding)
    except LookupError:
        return False


def _validate_fields(fields, values, errors) -> None:
    from app.services.files import validate_mapping

    try:
        values["fields"] = validate_mapping(fields)
    except ValidationError as exc:
        _absorb(exc, "fields", errors)


def validate_delivery(enterprise_id, delivery, values, errors) -> None:
    if not isinstance(delivery, dict):
        errors["delivery"] = ["must be an object with a method"]
        return
    method = delivery.get("method")
    if method not in DELIVERY_METHODS:
        errors["delivery.method"] = [f"one of {', '.join(DELIVERY_METHODS)}"]
        return
    from app.services.transports import get_transport

    transport = get_transport(method)
    settings = {k: v for k, v in delivery.items() if k not in ("method", "credentialId")}
    try:
        values["delivery"] = transport.validate_settings(settings)
        values["delivery_method"] = method
    except ValidationError as exc:
        _absorb(exc, "delivery", errors)
    else:
        # Egress policy, first pass: refuse private destinations when saved (again when connecting).
        for name, host, port in transport.destinations(values["delivery"]):
            problem = egress.check_on_save(host, port)
            if problem:
                errors.setdefault(f"delivery.{name}", []).append(problem)

    credential_id = delivery.get("credentialId")
    kinds = tuple(getattr(transport, "credential_kinds", ()) or ())
    if credential_id is None:
        if getattr(transport, "needs_credential", bool(kinds)):
            errors["delivery.credentialId"] = [f"required for {method}: a credential of kind {' or '.join(kinds)}"]
        else:
            values["credential_id"] = None
        return
    if not kinds:
        errors["delivery.credentialId"] = [f"{method} delivery does not use a credential"]
        return
    if not _is_int(credential_id):
        errors["delivery.credentialId"] = ["must be a credential id"]
        return
    credential = db.session.get(Credential, credential_id)
    if credential is None or credential.enterprise_id != enterprise_id:
        errors["delivery.credentialId"] = [f"unknown credential {credential_id}"]
    elif credential.kind not in kinds:
        errors["delivery.credentialId"] = [f"{method} needs a credential of kind {' or '.join(kinds)}"]
    else:
        values["credential_id"] = credential.id
