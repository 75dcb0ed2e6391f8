"""An enterprise's alert settings: who is told (e-mail, signed webhooks) and about what.

Admins only. The webhook secret is write-only like a credential: encrypted with the
same MultiFernet keys (CREDENTIAL_KEYS), never shown or returned after saving; leaving
it blank keeps the stored one.
"""

from __future__ import annotations

import re
from typing import Any

from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import AlertSettings, Role, User
from app.services import audit, credentials, webhooks

OPTIONAL_EVENTS = {
    "file_empty": "A file was empty",
    "empty_run": "A scheduled run had nothing to send (empty run; integrations that send no empty files)",
    "stale": "Nothing sent for N days while leads are pending",
}
MAX_RECIPIENTS = 20
MAX_WEBHOOKS = 5
MIN_SECRET = 16
# What the e-mail transport takes as an address (app.services.transports.email).
_EMAIL = re.compile(r'^[^@\s<>,;"()\[\]\x00]+@[^@\s<>,;"()\[\]\x00]+$')


def get(enterprise_id: int) -> AlertSettings | None:
    return db.session.get(AlertSettings, enterprise_id)


def has_targets(settings: AlertSettings | None) -> bool:
    return bool(settings and (settings.email_recipients or settings.webhook_urls))


def webhook_secret(settings: AlertSettings) -> str:
    """The plain signing secret, for the sender only."""
    return credentials.decrypt_value(settings.webhook_secret, "the webhook secret")


def to_dict(settings: AlertSettings | None) -> dict:
    """The public view: never the secret, only whether one is set."""
    return {
        "emailRecipients": list(settings.email_recipients) if settings else [],
        "webhookUrls": list(settings.webhook_urls) if settings else [],
        "webhookSecretSet": bool(settings and settings.webhook_secret),
        "optionalEvents": list(settings.optional_events) if settings else [],
        "staleDays": settings.stale_days if settings else 3,
    }


def _list(value: Any, name: str, errors: dict) -> list[str]:
    if isinstance(value, str):
        value = [part for part in re.split(r"[\s,;]+", value) if part]
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        errors[name] = ["must be a list of strings"]
        return []
    return list(dict.fromkeys(v.strip() for v in value if v.strip()))


def save(user: User, data: dict) -> AlertSettings:
    """Validate and store the settings (all or nothing); ValidationError names each bad field."""
    if user is None or not user.has_role(Role.ADMIN):
        raise Forbidden("alert settings need the admin role")
    if not isinstance(data, dict):
        raise ValidationError("invalid alert settings", {"body": ["must be an object"]})
    current = get(user.enterprise_id)
    errors: dict[str, list[str]] = {}
    recipients = _list(data.get("emailRecipients", []), "emailRecipients", errors)
    bad = [r for r in recipients if not _EMAIL.match(r)]
    if bad:
        errors["emailRecipients"] = [f"not an e-mail address: {', '.join(bad[:5])}"]
    elif len(recipients) > MAX_RECIPIENTS:
        errors["emailRecipients"] = [f"at most {MAX_RECIPIENTS} recipients"]
    urls = _list(data.get("webhookUrls", []), "webhookUrls", errors)
    problems = [f"{url[:200]} {problem}" for url in urls if (problem := webhooks.check_url(url))]
    if problems:
        errors["webhookUrls"] = problems
    elif len(urls) > MAX_WEBHOOKS or any(len(u) > 500 for u in urls):
        errors["webhookUrls"] = [f"at most {MAX_WEBHOOKS} URLs of up to 500 characters"]
    secret = data.get("webhookSecret")
    if secret not in (None, "") and (not isinstance(secret, str) or len(secret) < MIN_SECRET or len(secret) > 500):
        errors["webhookSecret"] = [f"must be {MIN_SECRET} to 500 characters"]
    elif urls and not secret and not (current and current.webhook_secret):
        errors["webhookSecret"] = ["webhooks are signed: set a secret (the receiver checks signatures with it)"]
    events = _list(data.get("optionalEvents", []), "optionalEvents", errors)
    unknown = [e for e in events if e not in OPTIONAL_EVENTS]
    if unknown:
        errors["optionalEvents"] = [f"unknown: {', '.join(unknown)}; one of {', '.join(OPTIONAL_EVENTS)}"]
    stale_days = data.get("staleDays", current.stale_days if current else 3)
    if isinstance(stale_days, bool) or not isinstance(stale_days, int) or not 1 <= stale_days <= 365:
        errors["staleDays"] = ["must be a whole number of days from 1 to 365"]
    if errors:
        raise ValidationError("invalid alert settings", errors)

    settings = current or AlertSettings(enterprise_id=user.enterprise_id)
    settings.email_recipients = recipients
    settings.webhook_urls = urls
    settings.optional_events = events
    settings.stale_days = stale_days
    if secret:
        settings.webhook_secret = credentials.encrypt_value(secret)
    db.session.add(settings)
    details = {"emailRecipients": len(recipients), "webhookUrls": len(urls), "secretChanged": bool(secret)}
    audit.record("alerts.update", "alert_settings", user.enterprise_id, user=user, details=details)
    db.session.commit()
    return settings
