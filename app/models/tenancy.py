"""Enterprises, their users and API tokens."""

from __future__ import annotations

import enum
from datetime import datetime

from flask_login import UserMixin
from sqlalchemy import ForeignKey, String, false
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import UtcDateTime, utcnow


class Role(enum.StrEnum):
    VIEWER = "viewer"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return {"viewer": 0, "manager": 1, "admin": 2}[self.value]


class Enterprise(db.Model):
    __tablename__ = "enterprises"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    # Retention in days (app/services/retention.py); NULL = the platform default from config.
    retention_file_days: Mapped[int | None] = mapped_column()
    retention_lead_days: Mapped[int | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class User(UserMixin, db.Model):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"), index=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[str] = mapped_column(String(20), default=Role.VIEWER.value)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_login_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Part of every session cookie (see get_id); bumping it ends every session of
    # this user at once, on every server, whatever happens to Redis.
    session_version: Mapped[int] = mapped_column(default=1, server_default="1")
    # Platform operators reach cross-tenant tools (the RQ dashboard). Only the CLI sets
    # it (`flask users set-operator`); no admin form or API field writes it.
    is_platform_operator: Mapped[bool] = mapped_column(default=False, server_default=false())
    # The IANA zone this person reads times in on the admin pages (My account); data stays UTC.
    timezone: Mapped[str] = mapped_column(String(64), default="UTC", server_default="UTC")

    enterprise: Mapped[Enterprise] = relationship()

    @property
    def is_active(self) -> bool:  # Flask-Login refuses inactive users
        return self.active

    def get_id(self) -> str:
        """What Flask-Login keeps in the session: the id and the current session version."""
        return f"{self.id}:{self.session_version}"

    def has_role(self, role: Role | str) -> bool:
        """True when this user's role is at least `role`."""
        return Role(self.role).rank >= Role(role).rank

    def __str__(self) -> str:
        return self.email


class ApiToken(db.Model):
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    # sha256 of the token: tokens are long random strings, so a fast hash is safe
    # and lets every request look its token up by an index.
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    user: Mapped[User] = relationship()

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
