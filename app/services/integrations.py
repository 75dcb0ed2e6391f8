"""Batch CSV integrations: create, update (partial), validate, test connection.

The payload is the API shape (camelCase, nested `schedule` (by kind: cron, lastBusinessDay,
every), `file`, `fields`, `delivery`); the admin's Configure form converts its form data to
the same shape, so there is one copy of the validation. Errors are collected for every part and raised
together as one ValidationError whose details are keyed by field path
(`schedule.cron`, `file.delimiter`, `fields.2.header`, `delivery.hostKey`, ...).
"""

from __future__ import annotations

from copy import deepcopy
from typing import Any

from app.errors import Forbidden, NotFound, ValidationError
from app.extensions import db
from app.models import BatchCsvIntegration, Credential, Role, User
from app.models.types import utcnow
from app.services import audit, scheduling
from app.services.actors import Actor, is_system
from app.services.integration_rules import FILE_COLUMNS, SCHEDULE_COMMON, validate, validate_delivery


def _require_admin(user: Actor | None) -> None:
    # The system (CLI, demo seed) passes SYSTEM explicitly; None is a caller's bug and is refused.
    if is_system(user):
        return
    if not isinstance(user, User) or not user.has_role(Role.ADMIN):
        raise Forbidden("only admins can configure integrations")


def _require_same_enterprise(integration: BatchCsvIntegration, user: Actor) -> None:
    if not is_system(user) and integration.enterprise_id != user.enterprise_id:
        raise NotFound(f"BatchCsvIntegration {integration.id} not found")


def create_integration(enterprise_id: int, payload: Any, user: Actor | None) -> BatchCsvIntegration:
    """Validate a full payload and create the integration; audited, commits."""
    _require_admin(user)
    if not isinstance(payload, dict):
        raise ValidationError("the integration must be an object", {"_schema": ["must be an object"]})
    full = {"enabled": True, "schedule": {"cron": "0 6 * * *", "timezone": "UTC"}, "file": {}, **payload}
    values = validate(enterprise_id, full, existing=None)
    integration = BatchCsvIntegration(enterprise_id=enterprise_id, **values)
    integration.next_run_at = scheduling.next_run(values["schedule_cron"], values["timezone"], utcnow())
    db.session.add(integration)
    db.session.flush()
    audit.record(
        "integration.create",
        "integration",
        integration.id,
        user=user,
        enterprise_id=enterprise_id,
        details={"label": integration.label, "campaignId": integration.campaign_id},
    )
    db.session.commit()
    return integration


def update_integration(integration: BatchCsvIntegration, payload: Any, user: Actor | None) -> BatchCsvIntegration:
    """Apply a partial payload (PATCH): given keys replace, the rest stay; audited, commits."""
    _require_admin(user)
    _require_same_enterprise(integration, user)
    if not isinstance(payload, dict):
        raise ValidationError("the changes must be an object", {"_schema": ["must be an object"]})
    merged = _merge(settings_payload(integration), payload)
    values = validate(integration.enterprise_id, merged, existing=integration)
    changed = sorted(column for column, value in values.items() if getattr(integration, column) != value)
    for column in changed:
        setattr(integration, column, values[column])
    if {"schedule_cron", "timezone", "enabled"} & set(changed) or integration.next_run_at is None:
        integration.next_run_at = scheduling.next_run(integration.schedule_cron, integration.timezone, utcnow())
    if changed:
        audit.record(
            "integration.update",
            "integration",
            integration.id,
            user=user,
            enterprise_id=integration.enterprise_id,
            details={"changed": changed},
        )
    db.session.commit()
    return integration


def _merge(current: dict, patch: dict) -> dict:
    merged = deepcopy(current)
    for key, value in patch.items():
        if key == "schedule" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = _merge_schedule(merged[key], value)
        elif key == "file" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = {**merged[key], **value}
        elif key == "delivery" and isinstance(value, dict) and isinstance(merged.get(key), dict):
            # Another method means other settings: start from the given ones only.
            same = value.get("method", merged[key].get("method")) == merged[key].get("method")
            merged[key] = {**merged[key], **value} if same else value
        else:
            merged[key] = value
    return merged


def _merge_schedule(current: dict, patch: dict) -> dict:
    """A change naming a kind or a cron line replaces the kind and its settings; others keep them."""
    if "kind" in patch or "cron" in patch:
        # A PATCH of {"cron": ...} has always meant a cron schedule, whatever the kind was.
        current = {key: value for key, value in current.items() if key in SCHEDULE_COMMON}
    return {**current, **patch}


def settings_payload(integration: BatchCsvIntegration) -> dict:
    """The integration's settings in the payload shape (what a PATCH starts from)."""
    return {
        "campaignId": integration.campaign_id,
        "label": integration.label,
        "enabled": integration.enabled,
        "pauseAfterFailures": integration.pause_after_failures,
        "schedule": {
            **scheduling.settings_of(integration.schedule_cron),
            "timezone": integration.timezone,
            "capLeads": integration.cap_leads,
            "capPeriod": integration.cap_period,
            "deliverAfterCampaignEnd": integration.deliver_after_end,
        },
        "file": {key: getattr(integration, column) for key, column in FILE_COLUMNS.items()},
        "fields": deepcopy(integration.fields or []),
        "delivery": {
            "method": integration.delivery_method,
            **deepcopy(integration.delivery or {}),
            "credentialId": integration.credential_id,
        },
    }


def check_delivery_connection(enterprise_id: int, delivery: Any, user: Actor | None):
    """Try to reach a destination with (possibly unsaved) delivery settings -> ConnectionResult."""
    _require_admin(user)
    values: dict[str, Any] = {}
    errors: dict[str, list[str]] = {}
    validate_delivery(enterprise_id, delivery, values, errors)
    if errors:
        raise ValidationError("invalid delivery settings", errors)
    return _check_connection(enterprise_id, delivery["method"], values["delivery"], values.get("credential_id"))


def check_integration_connection(integration: BatchCsvIntegration, user: Actor | None):
    """Try to reach a saved integration's destination -> ConnectionResult(ok, message)."""
    _require_admin(user)
    _require_same_enterprise(integration, user)
    return _check_connection(
        integration.enterprise_id, integration.delivery_method, integration.delivery or {}, integration.credential_id
    )


def _check_connection(enterprise_id: int, method: str, settings: dict, credential_id: int | None):
    from app.services.transports import get_transport

    secret = None
    if credential_id is not None:
        from app.services.credentials import reveal

        secret = reveal(db.session.get(Credential, credential_id))
    return get_transport(method).test_connection(settings, secret, enterprise_id=enterprise_id)
