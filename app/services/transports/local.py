"""Local folder delivery, confined to LOCAL_DELIVERY_ROOT (the zero-setup outbox)."""

from __future__ import annotations

import errno
import glob
import os
import secrets
import shutil
from contextlib import suppress
from pathlib import Path

from flask import current_app

from app.errors import DeliveryError
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


def delivery_root() -> Path:
    root = current_app.config.get("LOCAL_DELIVERY_ROOT")
    if not root:
        raise DeliveryError("local delivery is not configured (LOCAL_DELIVERY_ROOT is empty)", transient=False)
    return Path(root).resolve()


def resolve_directory(directory: str) -> Path:
    """The real directory for a setting, symlinks followed; ValueError if it leaves the root."""
    root = delivery_root()
    path = Path(directory)
    if not path.is_absolute():
        path = root / path
    # resolve() follows every symlink that exists, so a link pointing outside is caught too.
    resolved = path.resolve()
    if resolved != root and root not in resolved.parents:
        raise ValueError(f"must be inside the local delivery root {root}")
    return resolved


class LocalTransport(Transport):
    method = "local"
    label = "Local folder"
    credential_kinds = ()

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("directory",))
        directory = errors.text("directory", max_length=1000)
        if directory:
            try:
                resolve_directory(directory)
            except ValueError as exc:
                errors.add("directory", str(exc))
        errors.raise_if_any()
        return {"directory": directory}

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        target_dir = self._prepare(settings["directory"])
        final = target_dir / source.file_name
        stale = temp_name(source.file_name, source.batch_id)
        partial = target_dir / (stale + secrets.token_hex(3))
        # An earlier attempt of this batch killed mid-write left its partial file; the
        # batch's lease means no other attempt is writing one now.
        for leftover in target_dir.glob(glob.escape(stale) + "*"):
            with suppress(OSError):
                leftover.unlink()
        try:
            # O_EXCL | O_NOFOLLOW: never write through a planted file or link.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)
            with os.fdopen(fd, "wb") as out, source.open() as fh:
                shutil.copyfileobj(fh, out, COPY_CHUNK)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, final)
        except OSError as exc:
            with suppress(OSError):
                partial.unlink()
            raise _os_error(exc, target_dir) from None
        return DeliveryReceipt(remote=str(final), remote_size=final.stat().st_size)

    def test_connection(self, settings: dict, secret: Secret | None):
        def attempt() -> str:
            target_dir = self._prepare(self.validate_settings(settings)["directory"])
            probe = target_dir / f".batch-manager-probe-{secrets.token_hex(4)}"
            try:
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as exc:
                raise _os_error(exc, target_dir) from None
            return f"{target_dir} is writable."

        return self.run_test(attempt, settings, secret)

    @staticmethod
    def _prepare(directory: str) -> Path:
        """Create the directory, then check again: a symlink could have appeared since validation."""
        try:
            target_dir = resolve_directory(directory)
            try:
                target_dir.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise _os_error(exc, target_dir) from None
            return resolve_directory(directory)
        except ValueError:
            raise DeliveryError("local delivery directory is outside the allowed root", transient=False) from None


def _os_error(exc: OSError, directory: Path) -> DeliveryError:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return DeliveryError(f"permission denied writing to {directory}", transient=False)
    if exc.errno in (errno.ENOTDIR, errno.EEXIST, errno.ELOOP):
        return DeliveryError(f"{directory} is not a usable directory", transient=False)
    # Disk full, I/O errors: may clear up, so worth a retry.
    return DeliveryError(f"writing to {directory} failed: {exc.strerror or exc}", transient=True)
