"""`flask demo seed [--leads N]`."""

import click
from flask.cli import AppGroup

from app.services import demo

group = AppGroup("demo", help="Demo data.")


@group.command("seed")
@click.option("--leads", default=20_000, show_default=True, help="Leads to spread over the campaigns.")
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def seed(leads: int, if_empty: bool) -> None:
    """Create the demo enterprise, users, advertisers, campaigns, integrations and leads."""
    if if_empty and not demo.is_empty():
        click.echo("Database already has data; demo seed skipped.")
        return
    with click.progressbar(length=leads, label="Seeding demo leads") as bar:
        summary = demo.seed(leads, progress=bar.update)
    click.echo(
        f"Demo enterprise {summary['enterprise']!r}: {summary['campaigns']} campaigns, "
        f"{summary['integrations']} integrations, {summary['leads']} new leads."
    )
    click.echo(f"Log in as admin@demo.local / {demo.DEMO_PASSWORD} (also manager@ and viewer@demo.local).")
    click.echo(f"Platform operator (RQ dashboard at /admin/rq): {demo.DEMO_OPERATOR} / {demo.DEMO_PASSWORD}.")
