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
    try:
        for key, changed in get_store().rotate_keys():
            if changed:
                rewrapped += 1
                click.echo(f"re-wrapped {key}", err=True)
            else:
                skipped += 1
    except StoredFileUnreadable as exc:
        raise click.ClickException(
            f"{exc}; {rewrapped} file(s) were re-wrapped before this. Put the old key back in FILE_KEYS "
            "(after the new one) and run the command again."
        ) from None
    click.echo(f"Re-wrapped {rewrapped} file(s); {skipped} already under the newest key or not encrypted.")
