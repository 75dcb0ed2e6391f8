"""Users, passwords and API tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import joinedload

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import ApiToken, Enterprise, Role, User
from app.models.types import utcnow
from app.services import audit

_hasher = PasswordHasher()
TOKEN_PREFIX = "bm_"  # noqa: S105 - a marker, not a secret
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def get_or_create_enterprise(name: str) -> Enterprise:
    name = name.strip()
    if not name:
        raise ValidationError("enterprise name is required", {"enterprise": ["required"]})
    enterprise = db.session.scalar(select(Enterprise).where(Enterprise.name == name))
    if enterprise is None:
        enterprise = Enterprise(name=name)
        db.session.add(enterprise)
        db.session.flush()
    return enterprise


def create_user(email: str, role: str, enterprise_name: str, password: str, *, platform_operator: bool = False) -> User:
    """Create a user (and its enterprise if new); commits.

    `platform_operator` is for the CLI only: the admin and the API never pass it.
    """
    email = email.strip().lower()
    errors: dict[str, list[str]] = {}
    if "@" not in email:
        errors["email"] = ["not an email address"]
    if role not in {r.value for r in Role}:
        errors["role"] = [f"must be one of {', '.join(r.value for r in Role)}"]
    if len(password) < 8:
        errors["password"] = ["at least 8 characters"]
    if not errors and db.session.scalar(select(User.id).where(User.email == email)):
        errors["email"] = ["already registered"]
    if errors:
        raise ValidationError("invalid user", errors)
    user = User(
        email=email,
        role=role,
        enterprise=get_or_create_enterprise(enterprise_name),
        password_hash=hash_password(password),
        is_platform_operator=platform_operator,
    )
    db.session.add(user)
    if platform_operator:
        db.session.flush()
        _audit_operator(user, False)
    db.session.commit()
    return user


def user_by_email(email: str) -> User:
    """The user with this email, or NotFound."""
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email}")
    return user


def set_platform_operator(email: str, on: bool) -> User:
    """Make a user a platform operator or take it away (the CLI's `users set-operator`); commits."""
    user = user_by_email(email)
    if user.is_platform_operator != on:
        before = user.is_platform_operator
        user.is_platform_operator = on
        end_sessions(user)  # a change of powers starts from a fresh sign-in, like a role change
        _audit_operator(user, before)
        db.session.commit()
    return user


def _audit_operator(user: User, before: bool) -> None:
    audit.record(
        "user.operator",
        "user",
        user.id,
        enterprise_id=user.enterprise_id,
        details={"platformOperator": [before, user.is_platform_operator], "via": "cli"},
    )


def authenticate(email: str, password: str) -> User | None:
    """The active user with this email and password, or None."""
    user = db.session.scalar(select(User).where(User.email == (email or "").strip().lower()))
    if user is None or not user.active:
        _hasher.hash(password or "")  # same cost either way: no user enumeration by timing
        return None
    try:
        _hasher.verify(user.password_hash, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = utcnow()
    db.session.commit()
    return user


def end_sessions(user: User) -> None:
    """End every login session of `user` (the caller commits): logout, "log out everywhere"."""
    user.session_version = (user.session_version or 0) + 1


def sign_out_everywhere(email: str) -> User:
    """End every session of the user with this email, audited (the CLI's `users end-sessions`); commits."""
    user = user_by_email(email)
    end_sessions(user)
    audit.record("sessions.end", "user", user.id, enterprise_id=user.enterprise_id, details={"for": user.email})
    db.session.commit()
    return user


def change_password(user: User, current: str, new: str) -> None:
    """Set a new password after checking the current one; ends the user's other sessions. Commits."""
    try:
        _hasher.verify(user.password_hash, current or "")
    except (VerificationError, InvalidHashError):
        raise ValidationError("wrong password", {"current_password": ["not your current password"]}) from None
    if len(new or "") < 8:
        raise ValidationError("invalid password", {"new_password": ["at least 8 characters"]})
    user.password_hash = hash_password(new)
    end_sessions(user)
    db.session.commit()


def update_access(user: User, role: str, active: bool) -> dict:
    """Change role and access; a change ends the user's sessions. Returns the changes (caller commits)."""
    changes = {}
    if role != user.role:
        changes["role"] = [user.role, role]
    if active != user.active:
        changes["active"] = [user.active, active]
    if changes:
        user.role, user.active = role, active
        end_sessions(user)
    return changes


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def create_token(user: User, name: str) -> tuple[ApiToken, str]:
    """Create an API token; the raw token is returned once and never stored."""
    name = (name or "").strip()
    if not name:
        raise ValidationError("token name is required", {"name": ["required"]})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(user=user, name=name, token_hash=_digest(raw), prefix=raw[:10])
    db.session.add(token)
    db.session.commit()
    return token, raw


def create_token_for_email(email: str, name: str) -> tuple[ApiToken, str]:
    user = db.session.scalar(select(User).where(User.email == email.strip().lower()))
    if user is None:
        raise NotFound(f"no user with email {email}")
    return create_token(user, name)


def user_for_token(raw: str) -> User | None:
    """The active user owning this unrevoked token, or None; records its use."""
    if not raw:
        return None
    # The user in the same query: every API request needs it (one round trip less a request).
    token = db.session.scalar(
        select(ApiToken).options(joinedload(ApiToken.user)).where(ApiToken.token_hash == _digest(raw))
    )
    if token is None or token.revoked_at is not None or not token.user.active:
        return None
    now = utcnow()
    if token.last_used_at is None or now - token.last_used_at > LAST_USED_RESOLUTION:
        token.last_used_at = now
        db.session.commit()
    return token.user


def revoke_token(token: ApiToken) -> None:
    token.revoked_at = utcnow()
    db.session.commit()


def set_timezone(user: User, timezone: str) -> str:
    """Save the IANA time zone the user reads times in; ValidationError for an unknown zone."""
    from zoneinfo import available_timezones

    zone = (timezone or "").strip()
    if zone not in available_timezones():
        raise ValidationError("unknown time zone", {"timezone": [f"not an IANA time zone: {zone[:64]!r}"]})
    user.timezone = zone
    return zone
