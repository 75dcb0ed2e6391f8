"""What users would use instead: default Flask-Admin ModelViews in a bench-only Admin.

They are registered on a second Admin at /baseline of an ordinary app instance, only
inside the benchmarks, with Flask-Admin's defaults (COUNT(*) + OFFSET paging, export
of every row), so the product's pages can be timed beside them over the same tables.
"""

from __future__ import annotations

from flask import Flask
from flask_admin import Admin
from flask_admin.contrib.sqla import ModelView

BASELINE_URL = "/baseline"


class DefaultView(ModelView):
    """Flask-Admin's defaults; exports allowed for the export baseline."""

    can_export = True
    export_types = ["csv"]
    named_filter_urls = True
    # Only so the deep-page case reads the same rows (50 a page) as the API's.
    can_set_page_size = True
    page_size_options = (20, 50, 100)


class PendingView(DefaultView):
    # The one filter the benchmark uses, declared the way Flask-Admin's docs show.
    column_filters = ["campaign.advertiser.name"]


class SentView(DefaultView):
    column_filters = ["campaign_name"]


def register(app: Flask, *, export_max_rows: int = 0) -> dict[str, str]:
    """Add default ModelViews over leads, integrations and sent batches; returns their URLs."""
    from app.extensions import db
    from app.models import BatchCsvIntegration, Lead, SentBatch

    admin = Admin(app, name="Baseline", url=BASELINE_URL, endpoint="baseline")
    views = {
        "leads": DefaultView(Lead, db, endpoint="baseline_leads", url=f"{BASELINE_URL}/leads"),
        "pending": PendingView(BatchCsvIntegration, db, endpoint="baseline_pending", url=f"{BASELINE_URL}/pending"),
        "sent": SentView(SentBatch, db, endpoint="baseline_sent", url=f"{BASELINE_URL}/sent"),
    }
    views["leads"].export_max_rows = export_max_rows
    for view in views.values():
        admin.add_view(view)
    return {name: view.url for name, view in views.items()}


def view(app: Flask, table: str) -> ModelView:
    """The baseline view of `table` (leads, pending or sent) registered on `app`."""
    # Admin._views and, below, ModelView._list_columns are Flask-Admin 2.2.1 internals
    # (canary: tests/test_flask_admin_canary.py).
    for admin in app.extensions.get("admin", []):
        for candidate in admin._views:
            if candidate.endpoint == f"baseline_{table}":
                return candidate
    raise LookupError(f"no baseline view for {table}")


def sort_arg(app: Flask, table: str, column: str) -> str:
    """Flask-Admin's sort argument (descending) for `column` of a baseline list."""
    names = [name for name, _label in view(app, table)._list_columns]
    return f"sort={names.index(column)}&desc=1"
