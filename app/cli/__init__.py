"""Flask CLI command groups: `flask --app wsgi <group> <command>`."""

from flask import Flask


def init_app(app: Flask) -> None:
    from app.cli import credentials, demo, dev, files, leads, ops, users

    for group in (users.group, leads.group, demo.group, credentials.group, files.group, dev.group, *ops.GROUPS):
        app.cli.add_command(group)
