"""Audit events and per-user table preferences."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.extensions import db
from app.models.types import BigId, JsonDoc, UtcDateTime, utcnow


class AuditEvent(db.Model):
    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_enterprise_created", "enterprise_id", "created_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    enterprise_id: Mapped[int | None] = mapped_column(ForeignKey("enterprises.id"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    actor: Mapped[str] = mapped_column(String(320))
    action: Mapped[str] = mapped_column(String(60))
    target_type: Mapped[str] = mapped_column(String(60))
    target_id: Mapped[str | None] = mapped_column(String(60))
    severity: Mapped[str] = mapped_column(String(10), default="low")
    details: Mapped[dict] = mapped_column(JsonDoc, default=dict)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __str__(self) -> str:
        return f"{self.action} {self.target_type} {self.target_id}"


class TablePreference(db.Model):
    """The columns one user chose for one admin table; absent means the default."""

    __tablename__ = "table_preferences"
    __table_args__ = (UniqueConstraint("user_id", "table_name", name="uq_table_preferences_user_table"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    table_name: Mapped[str] = mapped_column(String(60))
    columns: Mapped[list] = mapped_column(JsonDoc, default=list)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
