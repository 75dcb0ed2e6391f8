"""Alerts: an enterprise's notification settings, the events raised, every delivery attempt."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId, JsonDoc, UtcDateTime, utcnow


class AlertSettings(db.Model):
    """Where an enterprise's alerts go; one row per enterprise (absent: no alerts go out)."""

    __tablename__ = "alert_settings"

    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), primary_key=True)
    email_recipients: Mapped[list] = mapped_column(JsonDoc, default=list)
    webhook_urls: Mapped[list] = mapped_column(JsonDoc, default=list)
    # The HMAC key webhooks are signed with, encrypted like credentials; write-only.
    webhook_secret: Mapped[bytes | None] = mapped_column(LargeBinary)
    # Optional events, off unless chosen: "file_empty", "empty_run", "stale" (nothing sent for stale_days).
    optional_events: Mapped[list] = mapped_column(JsonDoc, default=list)
    stale_days: Mapped[int] = mapped_column(default=3, server_default="3")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def __str__(self) -> str:
        return f"Alert settings of enterprise {self.enterprise_id}"


class AlertEvent(db.Model):
    """Something worth telling people; `key` makes each event happen once (idempotent)."""

    __tablename__ = "alert_events"
    __table_args__ = (Index("ix_alert_events_enterprise_id", "enterprise_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # e.g. "file_failed-42", "integration_paused-7-1764540000": the event id receivers see.
    key: Mapped[str] = mapped_column(String(120), unique=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    kind: Mapped[str] = mapped_column(String(40))
    integration_id: Mapped[int | None] = mapped_column(ForeignKey("batch_integrations.id"))
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("sent_batches.id"))
    payload: Mapped[dict] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.key


class AlertAttempt(db.Model):
    """One try at telling one target (an e-mail to the recipients, or one webhook URL)."""

    __tablename__ = "alert_attempts"
    __table_args__ = (Index("ix_alert_attempts_event", "event_id", "target"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_id: Mapped[int] = mapped_column(BigId, ForeignKey("alert_events.id"))
    channel: Mapped[str] = mapped_column(String(10))
    target: Mapped[str] = mapped_column(String(600))
    ok: Mapped[bool] = mapped_column(default=False)
    # The HTTP status a webhook answered (never its body), or None.
    status_code: Mapped[int | None] = mapped_column()
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __str__(self) -> str:
        return f"{self.channel} {self.target}"
