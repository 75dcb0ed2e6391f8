"""`flask users ...`: create users and API tokens."""

import click
from flask.cli import AppGroup

from app.errors import DomainError
from app.services import accounts

group = AppGroup("users", help="Create users and API tokens; name platform operators.")


def fail(exc: DomainError) -> None:
    details = exc.details if isinstance(exc.details, dict) else {}
    lines = [exc.message] + [f"  {k}: {'; '.join(v)}" for k, v in details.items()]
    raise click.ClickException("\n".join(lines))


@group.command("create")
@click.option("--email", required=True)
@click.option("--role", type=click.Choice(["admin", "manager", "viewer"]), required=True)
@click.option("--enterprise", required=True, help="Created if it does not exist.")
@click.option("--password", prompt=True, hide_input=True, confirmation_prompt=True)
@click.option(
    "--platform-operator", is_flag=True, help="Also a platform operator: sees every tenant's jobs in /admin/rq."
)
def create(email: str, role: str, enterprise: str, password: str, platform_operator: bool) -> None:
    """Create a user in an enterprise."""
    try:
        user = accounts.create_user(email, role, enterprise, password, platform_operator=platform_operator)
    except DomainError as exc:
        fail(exc)
    operator = " (platform operator)" if user.is_platform_operator else ""
    click.echo(f"Created {user.role} {user.email}{operator} in enterprise {user.enterprise.name!r}.")


@group.command("set-operator")
@click.argument("email")
@click.option("--on/--off", "on", required=True, help="Grant or take away the platform operator flag.")
def set_operator(email: str, on: bool) -> None:
    """Make a user a platform operator (every tenant's jobs in /admin/rq) or take it away."""
    try:
        user = accounts.set_platform_operator(email, on)
    except DomainError as exc:
        fail(exc)
    state = "is now" if user.is_platform_operator else "is no longer"
    click.echo(f"{user.email} {state} a platform operator.")


@group.command("end-sessions")
@click.argument("email")
def end_sessions(email: str) -> None:
    """Sign a user out on every device (their browser sessions; API tokens are revoked apart)."""
    try:
        user = accounts.sign_out_everywhere(email)
    except DomainError as exc:
        fail(exc)
    click.echo(f"{user.email} is signed out everywhere.")


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
