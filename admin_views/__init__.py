"""Flask-Admin views: Pending and Sent Batches, Jobs, configuration, people, audit, RQ dashboard.

The two product tables answer at the product's own URLs
(/v2/system/campaign-lead-batch/pending-batch and .../sent-batches); everything else
lives under /admin. Views are created per app, so each app (and test) gets its own.
"""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.theme import Bootstrap4Theme

from admin_views import formatting
from app import error_pages
from app.extensions import db
from app.models import ApiToken, AuditEvent, BatchCsvIntegration, Credential, SentBatch, User
from app.security_headers import csp_nonce

PENDING_URL = "/v2/system/campaign-lead-batch/pending-batch"
SENT_URL = "/v2/system/campaign-lead-batch/sent-batches"


def init_app(app: Flask) -> None:
    """Register the admin, its views, the RQ dashboard and the template helpers."""
    from admin_views import people, rq, rq_nonce, settings
    from admin_views.account import AccountView
    from admin_views.alerts import AlertsView
    from admin_views.configure import IntegrationsView
    from admin_views.dashboard import DashboardView
    from admin_views.erasure import ErasureView
    from admin_views.jobs import JobsView
    from admin_views.pending import PendingBatchesView
    from admin_views.retention import RetentionView
    from admin_views.sent import SentBatchesView
    from admin_views.trace import LeadTraceView

    admin = Admin(
        app,
        name="Batch Manager",
        url="/admin",
        index_view=DashboardView(
            name="Dashboard", url="/admin", endpoint="admin", menu_icon_type="fa", menu_icon_value="fa-tachometer"
        ),
        csp_nonce_generator=csp_nonce,
        theme=Bootstrap4Theme(
            swatch=app.config.get("FLASK_ADMIN_SWATCH", "cerulean"),
            base_template="admin/bm/base.html",
            fluid=True,
        ),
    )
    # Error pages of people's requests are drawn in this layout (app/error_pages.py).
    error_pages.set_layout(app, admin.index_view.render)
    admin.add_view(
        PendingBatchesView(
            BatchCsvIntegration,
            db,
            name="Pending Batches",
            endpoint="pending_batches",
            url=PENDING_URL,
            menu_icon_type="fa",
            menu_icon_value="fa-clock-o",
        )
    )
    admin.add_view(
        SentBatchesView(
            SentBatch,
            db,
            name="Sent Batches",
            endpoint="sent_batches",
            url=SENT_URL,
            menu_icon_type="fa",
            menu_icon_value="fa-paper-plane",
        )
    )
    admin.add_view(
        JobsView(
            SentBatch,
            db,
            name="Jobs",
            endpoint="admin_jobs",
            url="jobs",
            menu_icon_type="fa",
            menu_icon_value="fa-tasks",
        )
    )
    admin.add_view(
        LeadTraceView(
            name="Lead trace",
            endpoint="lead_trace",
            url="lead-trace",
            menu_icon_type="fa",
            menu_icon_value="fa-search",
        )
    )
    admin.add_view(
        IntegrationsView(
            BatchCsvIntegration,
            db,
            name="Integrations",
            endpoint="admin_integrations",
            url="integrations",
            menu_icon_type="fa",
            menu_icon_value="fa-cogs",
        )
    )
    admin.add_view(
        settings.CredentialsView(
            Credential,
            db,
            name="Credentials",
            endpoint="admin_credentials",
            url="credentials",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-key",
        )
    )
    admin.add_view(
        people.UsersView(
            User,
            db,
            name="Users",
            endpoint="admin_users",
            url="users",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-users",
        )
    )
    admin.add_view(
        people.TokensView(
            ApiToken,
            db,
            name="API tokens",
            endpoint="admin_api_tokens",
            url="api-tokens",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-ticket",
        )
    )
    admin.add_view(
        settings.AuditView(
            AuditEvent,
            db,
            name="Audit log",
            endpoint="admin_audit",
            url="audit",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-history",
        )
    )
    admin.add_view(
        RetentionView(
            name="Data retention",
            endpoint="admin_retention",
            url="retention",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-hourglass-half",
        )
    )
    admin.add_view(
        AlertsView(
            name="Alerts",
            endpoint="admin_alerts",
            url="alerts",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-bell",
        )
    )
    admin.add_view(
        ErasureView(
            name="Erase a person",
            endpoint="admin_erasure",
            url="erasure",
            category="Settings",
            menu_icon_type="fa",
            menu_icon_value="fa-eraser",
        )
    )
    admin.add_view(AccountView(name="My account", endpoint="account", url="account"))
    rq.init_app(app, admin)
    rq_nonce.init_app(app)
    app.jinja_env.globals.update(
        bm_status=formatting.status_badge, bm_when=formatting.when, bm_stamp=formatting.stamp, bm_size=formatting.size
    )
