"""rq-dashboard mounted at /admin/rq, for admins only, on the app's own Redis."""

from __future__ import annotations

from flask import Flask, Response, abort, redirect, request, url_for
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_login import current_user
from flask_wtf.csrf import generate_csrf

from admin_views.base import has_role
from app.models import Role

URL = "/admin/rq"


class AdminOnlyLink(MenuLink):
    def is_accessible(self) -> bool:
        return has_role(Role.ADMIN.value)


def init_app(app: Flask, admin: Admin) -> None:
    """Register the dashboard blueprint behind an admin check."""
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    # Set before setup: rq-dashboard would otherwise copy REDIS_URL with a warning.
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    blueprint = rq_dashboard.blueprint
    if not getattr(blueprint, "_bm_guarded", False):
        # The blueprint object is module-level in rq_dashboard, shared by every app
        # created in this process: add the guards once, before its first registration.
        blueprint.before_request(_admins_only)
        blueprint.after_request(_csrf_cookie)
        blueprint._bm_guarded = True  # type: ignore[attr-defined]
    app.register_blueprint(blueprint, url_prefix=URL)
    setup_rq_connection(app)
    admin.add_link(
        AdminOnlyLink(name="RQ dashboard", url=URL + "/", category="Settings", icon_type="fa", icon_value="fa-tasks")
    )


def _admins_only():
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.has_role(Role.ADMIN.value):
        abort(403)
    return None


def _csrf_cookie(response: Response) -> Response:
    # rq-dashboard's own JS sends the `_csrf_token` cookie back as X-CSRFToken on its
    # POSTs (delete, requeue, empty), so they pass the app-wide CSRF check.
    response.set_cookie("_csrf_token", generate_csrf(), path=URL, samesite="Strict", secure=request.is_secure)
    return response
