"""`flask credentials ...`: encryption keys for the Credential Manager.

Rotating keys:  1. `flask credentials generate-key`
                2. CREDENTIAL_KEYS=<new>,<old>  (newest first), restart
                3. `flask credentials rotate`   (re-encrypts every credential with <new>)
                4. CREDENTIAL_KEYS=<new>, restart: the old key is no longer needed.
"""

import sys

import click
from flask.cli import AppGroup

from app.errors import DomainError
from app.services import credentials

group = AppGroup("credentials", help="Credential encryption keys: generate and rotate.")


@group.command("generate-key")
def generate_key() -> None:
    """Print a new key to put at the front of CREDENTIAL_KEYS."""
    click.echo(credentials.generate_key())
    click.echo(
        "Put it first in CREDENTIAL_KEYS (comma-separated, newest first), restart, then run "
        "`flask credentials rotate`; drop the old key only after that.",
        err=True,
    )


@group.command("rotate")
def rotate() -> None:
    """Re-encrypt every stored credential with the newest key in CREDENTIAL_KEYS."""
    total = credentials.count_credentials()
    try:
        with click.progressbar(length=total, label="Re-encrypting credentials", file=sys.stderr) as bar:
            count = credentials.rotate_keys(on_progress=bar.update)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Re-encrypted {count} credential(s) with the newest key.")
