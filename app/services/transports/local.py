"""Local folder delivery: each enterprise writes only inside its own folder of the outbox.

The folder of an enterprise is `<LOCAL_DELIVERY_ROOT>/<enterprise id>/` (the id, not the
name: names change, ids do not). Settings hold a relative folder inside it; an absolute
path or `..` is refused, and symlinks are followed before writing so none leads out.
Messages name the relative folder only, never a path of the server.
"""

from __future__ import annotations

import errno
import os
import secrets
import shutil
from contextlib import suppress
from pathlib import Path, PurePosixPath

from flask import current_app

from app.errors import DeliveryError
from app.services import file_sync
from app.services.transports.base import (
    COPY_CHUNK,
    DeliveryReceipt,
    DeliverySource,
    Secret,
    SettingsErrors,
    Transport,
    plain_file_name,
    temp_name,
)

RELATIVE_ONLY = "must be a folder inside your enterprise's delivery folder, such as acme/daily (no leading /, no ..)"
LEFT_THE_FOLDER = "leads outside your enterprise's delivery folder"


def delivery_root() -> Path:
    root = current_app.config.get("LOCAL_DELIVERY_ROOT")
    if not root:
        raise DeliveryError("local delivery is not configured (LOCAL_DELIVERY_ROOT is empty)", transient=False)
    return Path(root).resolve()


def enterprise_root(enterprise_id: int | None) -> Path:
    """`<LOCAL_DELIVERY_ROOT>/<enterprise id>`: the only place this enterprise's files go."""
    if isinstance(enterprise_id, bool) or not isinstance(enterprise_id, int) or enterprise_id < 1:
        # Fail closed: without an enterprise there is no folder to write into.
        raise DeliveryError("local delivery needs the enterprise it delivers for", transient=False)
    return delivery_root() / str(enterprise_id)


def clean_directory(directory: str) -> str | None:
    """The folder setting normalised (`a//b/` -> `a/b`), or None if it is not a plain relative path."""
    if "\\" in directory or directory.startswith("/") or (len(directory) > 1 and directory[1] == ":"):
        return None
    parts = [part for part in PurePosixPath(directory).parts if part != "."]
    if any(part == ".." for part in parts):
        return None
    return "/".join(parts) or "."


def resolve_directory(enterprise_id: int | None, directory: str) -> Path:
    """The real folder for a setting, symlinks followed; ValueError if it leaves the enterprise's folder."""
    relative = clean_directory(directory)
    if relative is None:
        raise ValueError(RELATIVE_ONLY)
    root = enterprise_root(enterprise_id)
    # resolve() follows every symlink that exists, so a link pointing outside is caught too.
    real_root = root.resolve()
    resolved = (root / relative).resolve()
    if resolved != real_root and real_root not in resolved.parents:
        raise ValueError(LEFT_THE_FOLDER)
    return resolved


class LocalTransport(Transport):
    method = "local"
    label = "Local folder"
    credential_kinds = ()

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("directory",))
        directory = errors.text("directory", max_length=1000)
        if directory and clean_directory(directory) is None:
            errors.add("directory", RELATIVE_ONLY)
        errors.raise_if_any()
        return {"directory": clean_directory(directory) or directory}

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        folder = settings["directory"]
        target_dir = self._prepare(source.enterprise_id, folder)
        final = target_dir / source.file_name
        stale = temp_name(source.file_name, source.batch_id)
        partial = target_dir / (stale + secrets.token_hex(3))
        # An earlier attempt of this batch killed mid-write left its partial file; the
        # batch's lease means no other attempt is writing one now.
        _remove_leftovers(target_dir, stale)
        try:
            # O_EXCL | O_NOFOLLOW: never write through a planted file or link.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out, source.open() as fh:
                shutil.copyfileobj(fh, out, COPY_CHUNK)
                out.flush()
                # Synced, then named: now, or with the rest of a scheduled group (app.services.file_sync).
                size = file_sync.replace_durably(out.fileno(), str(partial), str(final))
        except OSError as exc:
            with suppress(OSError):
                partial.unlink()
            raise _os_error(exc, folder) from None
        # The receipt names the file inside the enterprise's folder, not the server's path.
        remote = source.file_name if folder == "." else f"{folder}/{source.file_name}"
        return DeliveryReceipt(remote=remote, remote_size=size)

    def test_connection(self, settings: dict, secret: Secret | None, enterprise_id: int | None = None):
        def attempt() -> str:
            folder = self.validate_settings(settings)["directory"]
            target_dir = self._prepare(enterprise_id, folder)
            probe = target_dir / f".batch-manager-probe-{secrets.token_hex(4)}"
            try:
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise _os_error(exc, folder) from None
            return f"Folder {folder} is writable."

        return self.run_test(attempt, settings, secret)

    @staticmethod
    def _prepare(enterprise_id: int | None, directory: str) -> Path:
        """Create the folder, then check again: a symlink could have appeared since validation."""
        try:
            target_dir = resolve_directory(enterprise_id, directory)
            if target_dir.is_dir():  # resolved, so no link in it, and nothing to create: one check is enough
                return target_dir
            try:
                target_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _os_error(exc, directory) from None
            return resolve_directory(enterprise_id, directory)
        except ValueError as exc:
            raise DeliveryError(f"local delivery folder {directory} {exc}", transient=False) from None


def _os_error(exc: OSError, folder: str) -> DeliveryError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DeliveryError(f"permission denied writing to folder {folder}", transient=False)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ELOOP):
        return DeliveryError(f"folder {folder} is not a usable directory", transient=False)
    # Disk full, I/O errors: may clear up, so worth a retry. strerror is the OS's text, not a path.
    return DeliveryError(f"writing to folder {folder} failed: {exc.strerror or type(exc).__name__}", transient=True)


def _remove_leftovers(target_dir: Path, stale: str) -> None:
    """Remove the partial files an earlier attempt of this batch left (their names start with `stale`)."""
    # os.scandir and a prefix, not Path.glob: glob compiled its pattern on every delivery.
    with os.scandir(target_dir) as entries:
        leftovers = [entry.path for entry in entries if entry.name.startswith(stale)]
    for path in leftovers:
        with suppress(OSError):
            os.unlink(path)
