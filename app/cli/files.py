"""`flask files ...`: encryption keys of the stored files.

Rotating keys:  1. `flask credentials generate-key` (any Fernet key)
                2. FILE_KEYS=<new>,<old>  (newest first), restart: new files use <new>
                3. `flask files rotate-keys`  (re-wraps each file's data key with <new>;
                   the bodies are copied unchanged; run again after an interruption)
                4. FILE_KEYS=<new>, restart: the old key is no longer needed.
"""

import click
from flask.cli import AppGroup

from app.services.storage import StoredFileUnreadable, get_store

group = AppGroup("files", help="Stored files: encryption key rotation.")


@group.command("rotate-keys")
def rotate_keys() -> None:
    """Re-wrap every stored file's data key with the newest key in FILE_KEYS (resumable)."""
    rewrapped = skipped = 0
    unreadable = []
    for key, outcome in get_store().rotate_keys():
        if isinstance(outcome, StoredFileUnreadable):
            unreadable.append(key)
            click.echo(f"cannot re-wrap {key}: {outcome}", err=True)
        elif outcome:
            rewrapped += 1
            click.echo(f"re-wrapped {key}", err=True)
        else:
            skipped += 1
    click.echo(f"Re-wrapped {rewrapped} file(s); {skipped} already under the newest key or not encrypted.")
    if unreadable:
        raise click.ClickException(
            f"{len(unreadable)} file(s) could not be re-wrapped (listed above): their key is not in FILE_KEYS "
            "or they were tampered with. Put the old key back in FILE_KEYS (after the new one) and run the "
            "command again."
        )
