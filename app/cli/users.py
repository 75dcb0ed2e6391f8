"""`flask users ...`: create users and API tokens."""

import click
from flask.cli import AppGroup

from app.errors import DomainError
from app.services import accounts

group = AppGroup("users", help="Create users and API tokens.")


def fail(exc: DomainError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    lines = [exc.message] + [f"  {k}: {'; '.join(v)}" for k, v in details.items()]
    raise click.ClickException("\n".join(lines))


@group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "viewer"]), required=True)
@click.option("--enterprise", required=True, help="Created if it does not exist.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
def create(email: str, role: str, enterprise: str, password: str) -> None:
    """Create a user in an enterprise."""
    try:
        user = accounts.create_user(email, role, enterprise, password)
    except DomainError as exc:
        fail(exc)
    click.echo(f"Created {user.role} {user.email} in enterprise {user.enterprise.name!r}.")


@group.command("create-token")
@click.option("--email", required=True)
@click.option("--name", required=True, help="What the token is for, e.g. 'crm-sync'.")
def create_token(email: str, name: str) -> None:
    """Create an API token for a user; it is printed once and never again."""
    try:
        token, raw = accounts.create_token_for_email(email, name)
    except DomainError as exc:
        fail(exc)
    click.echo(raw)
    click.echo(f"Token {token.name!r} for {email}: store it now, it is not shown again.", err=True)
