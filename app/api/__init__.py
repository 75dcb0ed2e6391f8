"""The /api/v4 blueprint."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Register the API (filled in by the API issue)."""
