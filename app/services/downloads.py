"""Which stored bytes a download of a sent batch serves, and the audit event it leaves.

One implementation for the API, the admin and the e-mailed link; app/downloads.py turns
the result into the HTTP response (headers, ETag, Range) for all three.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import BinaryIO

from app.errors import Conflict, DomainError, NotFound
from app.extensions import db
from app.models import BatchStatus, SentBatch, User
from app.services import audit


class FileGone(DomainError):
    """The batch exists, but its stored bytes are gone (deleted, lost with a volume, damaged)."""

    status = 410
    code = "file_gone"


@dataclass
class StoredDownload:
    """An open stored file and what the response says about it."""

    batch_id: int
    file_name: str
    size: int
    sha256: str
    stored_at: datetime | None
    stream: BinaryIO


def storage_key(batch: SentBatch) -> str | None:
    """The key of the batch's file; a resend serves its original's file."""
    if batch.storage_key:
        return batch.storage_key
    original = db.session.get(SentBatch, batch.resend_of_id) if batch.resend_of_id else None
    return original.storage_key if original else None


def _purged(batch: SentBatch) -> SentBatch | None:
    """The batch (itself, or the original a resend serves) whose file was purged on purpose."""
    if batch.purged_at is not None:
        return batch
    original = db.session.get(SentBatch, batch.resend_of_id) if batch.resend_of_id else None
    return original if original is not None and original.purged_at is not None else None


def open_stored(batch: SentBatch) -> StoredDownload:
    """Open the batch's stored file: Conflict if it was never stored, FileGone if it is no more,
    NotFound for an empty run (it never had a file)."""
    from app.services.retention import purge_reason_text
    from app.services.storage import StoredFileUnreadable, get_store

    if batch.status == BatchStatus.EMPTY.value:
        raise NotFound(f"#{batch.id} is an empty run: nothing was pending at its scheduled slot, so no file was made")
    key = storage_key(batch)
    purged = _purged(batch)
    if purged is not None:
        raise FileGone(f"{purge_reason_text(purged)} (the delivered copy at the destination is not affected)")
    if key is None or not batch.sha256:
        raise Conflict(f"file #{batch.id} has no stored file yet (status {batch.status})")
    store = get_store()
    gone = FileGone(
        f"the stored file of file #{batch.id} is no longer in the file store, so it cannot be downloaded "
        "(the delivered copy at the destination is not affected)"
    )
    try:
        size = store.size(key)
        stream = store.open(key)
    except FileNotFoundError:
        raise gone from None
    except StoredFileUnreadable as exc:
        # Tampered with, cut short or its key dropped: no byte of it may go out.
        raise FileGone(f"the stored file of file #{batch.id} cannot be read: {exc}") from None
    if batch.size_bytes is not None and size != batch.size_bytes:
        # Serving other bytes under the recorded sha256 would be worse than serving none.
        stream.close()
        raise FileGone(f"the stored file of file #{batch.id} no longer matches what was sent ({size} bytes)")
    return StoredDownload(
        batch_id=batch.id,
        file_name=batch.file_name or f"batch-{batch.id}",
        size=size,
        sha256=batch.sha256,
        stored_at=batch.stored_at,
        stream=stream,
    )


def record_download(
    batch: SentBatch, via: str, *, user: User | None = None, byte_range: str | None = None, remote_addr: str | None
) -> None:
    """The one audit event of a download, whichever door it came through (api, admin, email_link)."""
    audit.record(
        "download",
        "sent_batch",
        batch.id,
        user=user,
        enterprise_id=batch.enterprise_id,
        details={
            "via": via,
            "fileName": batch.file_name,
            "sha256": batch.sha256,
            "range": byte_range,
            "remoteAddr": remote_addr,
        },
        commit=True,
    )
