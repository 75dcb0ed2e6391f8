"""Flask-Admin views: Pending and Sent Batches, configuration, audit."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the admin (filled in by the admin issue)."""
    from flask_admin import Admin

    Admin(app, name="Batch Manager", url="/admin")
