"""Login and logout pages."""

from __future__ import annotations

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_login import current_user, login_required, logout_user
from flask_wtf import FlaskForm
from sqlalchemy import select
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired

from app.auth import throttle
from app.auth.login import start_session
from app.auth.redirects import is_local_path
from app.extensions import db
from app.models import User
from app.services import accounts, audit

bp = Blueprint("auth", __name__)


class LoginForm(FlaskForm):
    email = EmailField("Email", validators=[DataRequired()])
    password = PasswordField("Password", validators=[DataRequired()])


def _safe_next(target: str | None) -> str:
    if is_local_path(target):
        return target
    return url_for("pending_batches.index_view") if "pending_batches.index_view" in _endpoints() else "/admin/"


def _endpoints() -> set[str]:
    from flask import current_app

    return set(current_app.view_functions)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(_safe_next(request.args.get("next")))
    form = LoginForm()
    if form.validate_on_submit():
        email, address = form.email.data.strip().lower(), request.remote_addr or "unknown"
        wait = throttle.retry_after(email, address)
        if wait:
            return _throttled(form, email, address, wait)
        user = accounts.authenticate(email, form.password.data)
        if user is None:
            throttle.record_failure(email, address)
            _audit_login("login.failed", email, address)
            flash("Wrong email or password.", "danger")
        else:
            throttle.clear_account(email, address)
            start_session(user)
            audit.record("login", "user", user.id, user=user, details={"address": address}, commit=True)
            return redirect(_safe_next(request.args.get("next")))
    return render_template("auth/login.html", form=form)


def _throttled(form: LoginForm, email: str, address: str, wait: int):
    if throttle.first_refusal(email, address):
        _audit_login("login.throttled", email, address)
    minutes = (wait + 59) // 60
    flash(
        f"Too many failed sign-ins for this account or from your address. "
        f"Try again in {minutes} minute{'s' if minutes != 1 else ''}.",
        "danger",
    )
    response = make_response(render_template("auth/login.html", form=form), 429)
    response.headers["Retry-After"] = str(wait)
    return response


def _audit_login(action: str, email: str, address: str) -> None:
    # Known accounts log under their enterprise, so its admins see attacks on their people.
    user = db.session.scalar(select(User).where(User.email == email))
    audit.record(
        action,
        "user",
        user.id if user else None,
        enterprise_id=user.enterprise_id if user else None,
        actor="anonymous",
        details={"email": email[:320], "address": address},
        commit=True,
    )


@bp.post("/logout")
@login_required
def logout():
    user = current_user._get_current_object()
    # Ends every session of this account, so a copied cookie stops working too.
    accounts.end_sessions(user)
    audit.record("logout", "user", user.id, user=user)
    db.session.commit()
    logout_user()
    flash("You are logged out.", "info")
    return redirect(url_for("auth.login"))


@bp.get("/")
def root():
    return redirect(_safe_next(None))
