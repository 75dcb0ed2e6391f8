"""rq-dashboard mounted at /admin/rq, for platform operators only, on the app's own Redis.

The dashboard shows every tenant's jobs (arguments, results, exc_info), so no tenant
role reaches it: only users flagged `is_platform_operator` by the CLI. Tenants see
their own sends in the Jobs view (admin_views/jobs.py), built from the database.
"""

from __future__ import annotations

from flask import Flask, Response, abort, current_app, jsonify, redirect, request, url_for
from flask_admin import Admin
from flask_admin.menu import MenuLink
from flask_login import current_user
from flask_wtf.csrf import generate_csrf
from rq.exceptions import InvalidJobOperation, NoSuchJobError

URL = "/admin/rq"
BLUEPRINT = "rq_dashboard"


def is_operator() -> bool:
    """True when a platform operator is logged in."""
    return bool(current_user.is_authenticated and current_user.is_platform_operator)


class OperatorOnlyLink(MenuLink):
    def is_accessible(self) -> bool:
        return is_operator()


def init_app(app: Flask, admin: Admin) -> None:
    """Register the dashboard blueprint behind the operator check and the POST-only rule."""
    import rq_dashboard
    from rq_dashboard.web import setup_rq_connection

    # Set before setup: rq-dashboard would otherwise copy REDIS_URL with a warning.
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    blueprint = rq_dashboard.blueprint
    # On the app, not the blueprint: the app's before_request also runs when routing fails
    # (POST to a read-only page, the /0/ redirect, an unknown path under /admin/rq), so no
    # one but an operator learns anything there, and it runs before rq-dashboard's own
    # before_request, which opens a Redis connection.
    app.before_request(_operators_only)
    if not getattr(blueprint, "_bm_guarded", False):
        # The blueprint object is module-level in rq_dashboard, shared by every app
        # created in this process: add these once, before its first registration.
        blueprint.after_request(_csrf_cookie)
        # rq-dashboard lets RQ's errors escape (requeue of a job that is not failed, a job
        # that expired meanwhile): answer them as a refusal, not a 500.
        blueprint.register_error_handler(InvalidJobOperation, _job_refused)
        blueprint.register_error_handler(NoSuchJobError, _job_refused)
        blueprint._bm_guarded = True  # type: ignore[attr-defined]
    app.register_blueprint(blueprint, url_prefix=URL)
    setup_rq_connection(app)
    admin.add_link(
        OperatorOnlyLink(name="RQ dashboard", url=URL + "/", category="Settings", icon_type="fa", icon_value="fa-tasks")
    )


def _operators_only():
    if request.path != URL and not request.path.startswith(URL + "/"):
        return None
    if not current_user.is_authenticated:
        return redirect(url_for("auth.login", next=request.full_path.rstrip("?")))
    if not current_user.is_platform_operator:
        abort(403)
    if request.method not in ("POST", "HEAD", "OPTIONS") and _changes_state():
        # rq-dashboard 0.9.0 accepts GET on /requeue/<queue>: a link or <img> on another
        # site could requeue every failed job. State changes are POST only, where the
        # app-wide CSRF check applies.
        abort(405, valid_methods=["POST"])
    return None


def _changes_state() -> bool:
    """True when the matched route accepts POST: in rq-dashboard those are the actions."""
    rule = request.url_rule
    if rule is None:
        return False
    return any("POST" in (other.methods or ()) for other in current_app.url_map.iter_rules(rule.endpoint))


def _job_refused(exc: Exception):
    code, message = (404, "no such job") if isinstance(exc, NoSuchJobError) else (409, "the job is not in that state")
    return jsonify(status="ERROR", message=message), code


def _csrf_cookie(response: Response) -> Response:
    # rq-dashboard's own JS sends the `_csrf_token` cookie back as X-CSRFToken on its
    # POSTs (delete, requeue, empty), so they pass the app-wide CSRF check.
    response.set_cookie("_csrf_token", generate_csrf(), path=URL, samesite="Strict", secure=request.is_secure)
    return response
