"""`flask --app wsgi dev bootstrap|stop`: the zero-setup development instance (app/devinstance.py)."""

import click
from flask import current_app
from flask.cli import AppGroup

from app import devinstance

group = AppGroup("dev", help="Prepare or stop the development instance (make run does both).")


@group.command("bootstrap")
def bootstrap() -> None:
    """Start the embedded Redis (unless REDIS_URL is set) and bring the database to the newest revision.

    The development secrets in instance/dev-secrets.json are written before the app is created,
    by the `flask --app wsgi` entry point. Run this before any command that needs Redis
    (`rq worker`, `rq cron`, `ops ...`) when `make run` is not running.
    """
    if not devinstance.is_development():
        raise click.ClickException("dev bootstrap is for development; production sets REDIS_URL and runs db upgrade")
    for line in devinstance.bootstrap(current_app._get_current_object()):
        click.echo(line)


@group.command("stop")
def stop() -> None:
    """Stop the embedded Redis (scripts/run does this when make run exits)."""
    cfg = current_app.config
    if cfg["REDIS_URL"] != devinstance.embedded_redis_url(cfg["EMBEDDED_REDIS_SOCKET"]):
        click.echo("REDIS_URL is set: no embedded Redis to stop")
        return
    stopped = devinstance.stop_embedded_redis(cfg["EMBEDDED_REDIS_SOCKET"])
    click.echo("embedded Redis stopped" if stopped else "embedded Redis was not running")
