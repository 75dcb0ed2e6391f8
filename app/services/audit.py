"""Audit events: who did what to which object, and how much it matters."""

from __future__ import annotations

from typing import Any

from app.extensions import db
from app.models import AuditEvent, User

HIGH = "high"
LOW = "low"
# Actions a reviewer must be able to find: they send data out or change where it goes.
HIGH_SEVERITY = {
    "batch_now",
    "resend",
    "retry",
    "requeue",
    "download",
    "preview_file",
    "integration.create",
    "integration.update",
    "integration.pause",
    "integration.resume",
    "alerts.update",
    "credential.create",
    "credential.update",
    "credential.rotate",
    "user.create",
    "user.operator",
    "token.create",
    "token.revoke",
    "password.change",
    "sessions.end",
    "login.throttled",
    "retention.update",
    "erasure",
    "erasure.file",
}


def record(
    action: str,
    target_type: str,
    target_id: Any = None,
    *,
    user: User | None = None,
    enterprise_id: int | None = None,
    details: dict | None = None,
    commit: bool = False,
    actor: str | None = None,
) -> AuditEvent:
    """Add an audit event to the session (committed with the caller's change unless commit=True)."""
    event = AuditEvent(
        enterprise_id=enterprise_id if enterprise_id is not None else (user.enterprise_id if user else None),
        user_id=user.id if user else None,
        actor=actor or (user.email if user else "system"),
        action=action,
        target_type=target_type,
        target_id=None if target_id is None else str(target_id),
        severity=HIGH if action in HIGH_SEVERITY else LOW,
        details=details or {},
    )
    db.session.add(event)
    if commit:
        db.session.commit()
    return event
