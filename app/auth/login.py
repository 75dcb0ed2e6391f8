"""Flask-Login wiring: sessions that the server can end, and that end on their own.

The session cookie holds "<user id>:<session version>" (User.get_id) and two
timestamps. A cookie stops working when the user's version moved on (logout,
password, role or access change, "log out everywhere"), when it was idle for
SESSION_IDLE_MINUTES, or SESSION_MAX_HOURS after the password was typed.
"""

from __future__ import annotations

import time

from flask import Flask, current_app, flash, session
from flask_login import login_user
from sqlalchemy.orm import joinedload

from app.extensions import db, login_manager

LOGIN_AT = "bm_login_at"
SEEN_AT = "bm_seen_at"
# Refresh the idle clock at most this often: each refresh rewrites the cookie.
SEEN_RESOLUTION = 60


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.login_view = "auth.login"
    login_manager.login_message_category = "info"
    login_manager.session_protection = "strong"
    login_manager.user_loader(load_user)


def start_session(user) -> None:
    """Log `user` in on this browser and start both lifetime clocks."""
    login_user(user)
    now = int(time.time())
    session[LOGIN_AT] = now
    session[SEEN_AT] = now


def load_user(session_id: str):
    """The user of this session cookie, or None when the session was revoked or expired."""
    from app.models import User

    user_id, _, version = session_id.partition(":")
    # A cookie from before session versions has no version: sign in again. The enterprise comes
    # in the same query: every admin page shows its name (one round trip less a page).
    user = (
        db.session.get(User, int(user_id), options=[joinedload(User.enterprise)])
        if user_id.isdigit() and version.isdigit()
        else None
    )
    if user is None or user.session_version != int(version):
        session.clear()  # revoked: forget it, so the next request does not look again
        return None
    if _expired():
        session.clear()
        flash("Your session has expired; please sign in again.", "info")
        return None
    now = int(time.time())
    if now - session.get(SEEN_AT, 0) >= SEEN_RESOLUTION:
        session[SEEN_AT] = now
    return user


def _expired() -> bool:
    now = time.time()
    idle = current_app.config["SESSION_IDLE_MINUTES"] * 60
    absolute = current_app.config["SESSION_MAX_HOURS"] * 3600
    login_at, seen_at = session.get(LOGIN_AT), session.get(SEEN_AT)
    if not isinstance(login_at, int) or not isinstance(seen_at, int):
        return True
    return now - seen_at > idle or now - login_at > absolute
