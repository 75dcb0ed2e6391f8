"""The file store: where built lead files live (fsspec; file:// by default, s3:// in production).

Keys are made from ids only, so nothing a user types ever reaches a path. A file
is written under a temporary key and moved into place, so a key either holds a
complete file or nothing. With keys (FILE_KEYS) the bytes at a key are encrypted
(app.services.file_crypto); everything here reads and reports the plaintext: its size,
its sha256, its bytes. Objects stored before encryption are read as they are.
"""

from __future__ import annotations

import hashlib
import io
import os
import re
import uuid
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, BinaryIO

import fsspec
from flask import current_app

from app.services import file_crypto, file_sync
from app.services.file_crypto import StoredFileUnreadable
from app.services.files.mapping import LeadRecord
from app.services.files.settings import FileSettings
from app.services.files.writer import write_file
from app.services.protection import write_protected

CHUNK = 1024 * 1024
# Extensions a key may carry; anything else in a file name is ignored.
_EXTENSION = re.compile(r"\.(csv|tsv|psv|xlsx)(\.gz|\.zip)?(\.asc|\.pgp)?$")
_TEMP = re.compile(r"/e\d+/b\d+/file[.a-z]*\.tmp-[0-9a-f]{32}$")
_KEY = re.compile(r"^e\d+/b\d+/file(\.(csv|tsv|psv|xlsx)(\.gz|\.zip)?(\.asc|\.pgp)?)?$")


@dataclass(frozen=True)
class StoredFile:
    key: str
    size: int
    sha256: str


class HashingWriter:
    """A binary writer that counts and hashes what passes through it."""

    def __init__(self, raw: BinaryIO) -> None:
        self._raw = raw
        self._hash = hashlib.sha256()
        self.size = 0
        self.stored: StoredFile | None = None  # set when the write block exits cleanly

    def write(self, data: bytes) -> int:
        self._hash.update(data)
        self.size += len(data)
        self._raw.write(data)
        return len(data)

    def flush(self) -> None:
        self._raw.flush()

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        # Streaming only: zip and gzip then write data descriptors instead of seeking back.
        return False

    def tell(self) -> int:
        return self.size

    @property
    def hexdigest(self) -> str:
        return self._hash.hexdigest()


class FileStore:
    """Lead files under one fsspec URL."""

    def __init__(self, url: str, *, keys: list[str] | None = None, encrypt: bool = True, **options: Any) -> None:
        """`keys` (newest first) read encrypted files; new files are encrypted when `encrypt` too."""
        self.url = url
        self.ring = file_crypto.KeyRing(keys) if keys else None
        self.encrypts = bool(encrypt and self.ring)
        self.fs, self.root = fsspec.core.url_to_fs(url, **options)
        self.local = "file" in _protocols(self.fs)

    @staticmethod
    def key_for(enterprise_id: int, batch_id: int, file_name: str | None = None) -> str:
        """The key of a batch's file: ids plus the format's extension, never the user's template."""
        for value in (enterprise_id, batch_id):
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError("enterprise_id and batch_id must be non-negative integers")
        match = _EXTENSION.search(file_name or "")
        return f"e{enterprise_id}/b{batch_id}/file{match.group(0) if match else ''}"

    def path(self, key: str) -> str:
        """The store path of a key; refuses anything key_for could not have made."""
        if not isinstance(key, str) or not _KEY.match(key):
            raise ValueError(f"not a storage key: {key!r}")
        return f"{self.root.rstrip('/')}/{key}"

    @contextmanager
    def write(self, key: str) -> Iterator[HashingWriter]:
        """Yield a writer; on clean exit the file appears at `key` and `writer.stored` is set."""
        final = self.path(key)
        temp = f"{final}.tmp-{uuid.uuid4().hex}"
        # An open sync group (app.services.file_sync) syncs the file with the others before its commit.
        group = file_sync.current() if self.local else None
        if self.local:
            self.fs.makedirs(self.fs._parent(final), exist_ok=True)
        try:
            with self.fs.open(temp, "wb") as raw:
                sealer = file_crypto.EncryptingWriter(raw, self.ring) if self.encrypts else None  # type: ignore[arg-type]
                writer = HashingWriter(sealer or raw)  # type: ignore[arg-type]
                yield writer
                if sealer is not None:
                    sealer.finish()
                raw.flush()
                if self.local and group is None:
                    os.fsync(raw.fileno())  # the rename must not outrun the data on a crash
            self.fs.mv(temp, final)
            if group is not None:
                group.note(final)
        except BaseException:
            self._discard(temp)
            raise
        writer.stored = StoredFile(key, writer.size, writer.hexdigest)

    def _discard(self, path: str) -> None:
        try:
            if self.fs.exists(path):
                self.fs.rm(path)
        except OSError:
            pass  # best effort: the original error matters more than a stray temp file

    def sweep_temp_files(self, older_than_seconds: int) -> int:
        """Remove temp files left by writers that died mid-write (SIGKILL); return how many.

        Only names this store writes (`<key>.tmp-<hex>`) older than the limit are
        touched, so a write still in progress is never removed.
        """
        cutoff = datetime.now(UTC) - timedelta(seconds=older_than_seconds)
        removed = 0
        for path in self.fs.find(self.root):
            if not _TEMP.search(path):
                continue
            try:
                modified = self.fs.modified(path)
                if modified.tzinfo is None:  # fsspec's local file system reports naive UTC
                    modified = modified.replace(tzinfo=UTC)
                if modified < cutoff:
                    self.fs.rm(path)
                    removed += 1
            except (OSError, NotImplementedError):
                continue  # gone already, or a store that cannot tell: leave it
        return removed

    def check(self) -> None:
        """Raise OSError unless the store can be reached (and, for a folder, written to)."""
        if self.local:
            self.fs.makedirs(self.root, exist_ok=True)  # a fresh install has no folder yet
            if not os.access(self.root, os.W_OK | os.X_OK):
                raise PermissionError(f"the file store folder is not writable: {self.root}")
            return
        # A bucket holds no object at an empty prefix, so ask for the bucket itself.
        if not self.fs.exists(self.root.split("/", 1)[0]):
            raise FileNotFoundError("the file store bucket does not exist")

    def discard_temp_files(self, key: str) -> int:
        """Remove the temp files of `key` left by a writer that died; only for the key's sole writer."""
        final = self.path(key)
        removed = 0
        try:
            siblings = self.fs.ls(self.fs._parent(final), detail=False)
        except (FileNotFoundError, NotADirectoryError):
            return 0
        for path in siblings:
            if path.startswith(f"{final}.tmp-") and _TEMP.search(path):
                self._discard(path)
                removed += 1
        return removed

    def open(self, key: str) -> BinaryIO:
        """The stored file's plaintext for reading, seekable; StoredFileUnreadable if it does not verify."""
        path = self.path(key)
        raw = self.fs.open(path, "rb")
        try:
            if raw.read(len(file_crypto.MAGIC)) != file_crypto.MAGIC:
                raw.seek(0)
                return raw
            if self.ring is None:
                raise StoredFileUnreadable("the stored file is encrypted but FILE_KEYS is not set")
            raw.seek(0)
            plain = file_crypto.DecryptingReader(raw, self.ring, int(self.fs.size(path)))
        except BaseException:
            raw.close()
            raise
        return io.BufferedReader(plain, file_crypto.CHUNK)  # type: ignore[return-value]

    def exists(self, key: str) -> bool:
        return bool(self.fs.exists(self.path(key)))

    def size(self, key: str) -> int:
        """The plaintext size (an encrypted file is read from its header, not decrypted)."""
        path = self.path(key)
        stored = int(self.fs.size(path))
        with self.fs.open(path, "rb") as raw:
            header = file_crypto.read_header(raw)
        return stored if header is None else file_crypto.plain_size(stored - header[2])

    def rotate_keys(self) -> Iterator[tuple[str, bool | StoredFileUnreadable]]:
        """Re-wrap each encrypted file's data key with the newest key; yields (key, rewrapped).

        Resumable: a file already under the newest key is skipped, and each file is
        replaced atomically (temp + move) with its body copied byte for byte. A file that
        cannot be unwrapped is yielded with its error and left as it is, so one lost key
        does not stop the others from being rotated.
        """
        if self.ring is None:
            raise StoredFileUnreadable("FILE_KEYS is not set")
        for path in sorted(self.fs.find(self.root)):
            key = path[len(self.root.rstrip("/")) + 1 :] if path.startswith(self.root.rstrip("/")) else path
            if not _KEY.match(key):
                continue  # temp files and anything the store did not write
            temp = f"{path}.tmp-{uuid.uuid4().hex}"
            try:
                with self.fs.open(path, "rb") as raw, self.fs.open(temp, "wb") as out:
                    changed: bool | StoredFileUnreadable = file_crypto.copy_rewrapped(raw, self.ring, out)
                if changed:
                    self.fs.mv(temp, path)
            except StoredFileUnreadable as exc:
                changed = exc
            finally:
                self._discard(temp)
            yield key, changed

    def delete(self, key: str) -> None:
        """Remove the file at `key`; nothing happens if there is none."""
        path = self.path(key)
        if self.fs.exists(path):
            self.fs.rm(path)

    def sha256(self, key: str) -> str:
        """The sha256 of the stored bytes, read in chunks."""
        digest = hashlib.sha256()
        with self.open(key) as f:
            while chunk := f.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()


def _protocols(fs: Any) -> tuple[str, ...]:
    proto = fs.protocol
    return (proto,) if isinstance(proto, str) else tuple(proto)


def get_store() -> FileStore:
    """The app's store from STORAGE_URL (and optional STORAGE_OPTIONS), made once per app."""
    store = current_app.extensions.get("file_store")
    if store is None:
        options = dict(current_app.config.get("STORAGE_OPTIONS") or {})
        url = current_app.config["STORAGE_URL"]
        if url.startswith("file://") or "://" not in url:
            options.setdefault("auto_mkdir", True)
        raw_keys = current_app.config.get("FILE_KEYS") or current_app.config.get("CREDENTIAL_KEYS") or ""
        keys = [k.strip() for k in (raw_keys.split(",") if isinstance(raw_keys, str) else raw_keys) if k.strip()]
        store = FileStore(url, keys=keys, encrypt=current_app.config.get("FILE_ENCRYPTION", True), **options)
        current_app.extensions["file_store"] = store
    return store


def build_and_store(
    records: Iterable[LeadRecord],
    mapping: Sequence[dict],
    settings: FileSettings,
    store: FileStore,
    key: str,
    *,
    member_name: str | None = None,
    protection_secret: Any = None,
) -> tuple[StoredFile, int]:
    """Build the file for `records` straight into the store; return what was stored and the row count.

    A protected file (settings.protection) is encrypted here, once, with `protection_secret`:
    what is stored is what every delivery, resend and download sends.
    """
    member = member_name or "leads" + settings.inner_extension

    def plain(sink: BinaryIO) -> int:
        return write_file(records, mapping, settings, sink, member_name=member)

    return store_plain(plain, settings, store, key, member_name=member, protection_secret=protection_secret)


def store_plain(
    plain: Callable[[BinaryIO], int],
    settings: FileSettings,
    store: FileStore,
    key: str,
    *,
    member_name: str,
    protection_secret: Any = None,
) -> tuple[StoredFile, int]:
    """Store what `plain(sink) -> rows` writes, protected as the settings say; what was stored and the rows."""
    with store.write(key) as writer:
        rows = write_protected(
            settings.protection,
            protection_secret,
            plain,
            writer,  # type: ignore[arg-type]
            member_name=member_name,
            armor=settings.pgp_armor,
        )
    assert writer.stored is not None
    return writer.stored, rows
