"""Flask CLI command groups: `flask --app wsgi <group> <command>`."""

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli import credentials, demo, leads, users

    for group in (users.group, leads.group, demo.group, credentials.group):
        app.cli.add_command(group)
    try:
        from app.cli import ops
    except ImportError:  # pragma: no cover - ops commands arrive with the batch engine
        return
    for group in ops.GROUPS:
        app.cli.add_command(group)
