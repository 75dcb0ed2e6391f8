"""Dry run: the file an integration would send now, built but neither claimed, stored nor delivered.

It goes through the send path's own pieces: the settings are snapshotted and read back
exactly as a claim does (FileSettings.to_snapshot/from_snapshot), the records come from
app.services.lead_records in queue order with the names a claim snapshots, and the bytes
come from app.services.files.write_file with the same zip member name, locked by
app.services.protection with the integration's password or key as a send locks it. So a real
send of the same leads with the same settings stores the same bytes (a protected file's
plain content: encryption salts make each encrypted copy differ).

The name is the one part that depends on the moment of the send: `{batch_id}` and
`{sent_at}` are rendered as the real send would render them if it were claimed at the
moment of the preview — the next file id the database will hand out, and now. A send that
happens later (or after another file was created) differs only in those two tokens.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from typing import BinaryIO

from flask import current_app
from sqlalchemy import func, select, text

from app.errors import Conflict, DeliveryError, ValidationError
from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch, User
from app.models.types import utcnow
from app.services import audit, delivery_caps
from app.services.credentials import protection_secret_for
from app.services.files import FileSettings, inner_file_name, render_file_name, write_file
from app.services.lead_records import cumulative_query, integration_names, iter_rows, pending_query
from app.services.protection import write_protected

# Built files up to this size stay in memory; larger ones spill to a temporary file.
SPOOL_BYTES = 8 * 1024 * 1024


@dataclass
class PreviewFile:
    """A built preview: its name, the leads in it, and the bytes (rewound, ready to stream)."""

    file_name: str
    lead_count: int
    pending_count: int
    size: int
    stream: BinaryIO


def max_leads() -> int:
    """The most leads a preview may hold (PREVIEW_MAX_LEADS)."""
    return int(current_app.config["PREVIEW_MAX_LEADS"])


def check_limit(limit: int | None) -> int:
    """The preview's cap: `limit` if given and within 1..PREVIEW_MAX_LEADS, else the maximum."""
    cap = max_leads()
    if limit is None:
        return cap
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= cap:
        raise ValidationError("invalid preview size", {"limit": [f"must be a whole number from 1 to {cap}"]})
    return limit


def lead_cap(integration: BatchCsvIntegration, limit: int | None = None) -> int:
    """How many leads a preview of this integration holds at most (a send splits at max leads per file)."""
    cap = check_limit(limit)
    if (integration.max_leads_per_file or 0) > 0:
        cap = min(cap, integration.max_leads_per_file)
    if integration.lead_mode == "cumulative":
        return cap  # caps do not apply to cumulative files (app.services.claim)
    # A delivery cap: a send now claims at most what the current window has left.
    left = delivery_caps.remaining(integration, utcnow())
    return cap if left is None else min(cap, left)


def next_batch_id() -> int:
    """The id the next SentBatch row will get, as far as the database can tell now."""
    if db.session.get_bind().dialect.name == "postgresql":
        # The sequence's last value + 1 (ids are not reused there: a deleted row's id is gone),
        # or its start when it was never used.
        return int(
            db.session.scalar(
                text(
                    "SELECT COALESCE(pg_sequence_last_value(CAST(:seq AS regclass)) + 1,"
                    " (SELECT seqstart FROM pg_sequence WHERE seqrelid = CAST(:seq AS regclass)))"
                ),
                {"seq": db.session.scalar(text("SELECT pg_get_serial_sequence('sent_batches', 'id')"))},
            )
        )
    # SQLite: an INTEGER PRIMARY KEY without AUTOINCREMENT takes max(rowid) + 1.
    return int(db.session.scalar(select(func.coalesce(func.max(SentBatch.id), 0))) or 0) + 1


def build_preview_file(integration: BatchCsvIntegration, user: User, limit: int | None = None) -> PreviewFile:
    """Build the file the integration's next send would deliver, capped to `limit` leads; audited.

    The cap is the smaller of `limit` and the integration's max leads per file (a real send
    splits there, so the first file holds the first leads). Nothing is claimed: the queue is
    only read.
    """
    cap = lead_cap(integration, limit)
    if cap == 0:
        raise Conflict("the delivery cap of this period is used up, so no file would be sent before the next period")
    if integration.pending_count == 0 and not integration.send_empty:
        raise Conflict("nothing is pending and this integration does not send empty files, so no file would be sent")
    # Exactly what a claim snapshots onto the batch and what the build then reads back.
    settings = FileSettings.from_snapshot(FileSettings.from_integration(integration).to_snapshot())
    mapping = list(integration.fields or [])
    secret = None
    if settings.protection != "none":
        try:
            secret = protection_secret_for(integration, settings.protection)
        except DeliveryError as exc:
            raise Conflict(exc.message) from None
    file_name = render_file_name(
        settings,
        advertiser_id=integration.campaign.advertiser_id,
        campaign_id=integration.campaign_id,
        integration_id=integration.id,
        batch_id=next_batch_id(),
        label=integration.label,
        sent_at=utcnow(),
        timezone=integration.timezone or "UTC",
    )
    # A cumulative send claims what is pending, then delivers the whole history with it.
    query = cumulative_query(integration) if integration.lead_mode == "cumulative" else pending_query(integration.id)
    records = (record for _queued_at, record in iter_rows(query.limit(cap), integration_names(integration)))
    # Handed to the response, which closes it once streamed (or closed here on failure).
    out = tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES)  # noqa: SIM115
    try:
        member = inner_file_name(file_name)
        rows = write_protected(
            settings.protection,
            secret,
            lambda sink: write_file(records, mapping, settings, sink, member_name=member),
            out,  # type: ignore[arg-type]
            member_name=member,
            armor=settings.pgp_armor,
        )
        size = out.tell()
        out.seek(0)
    except BaseException:
        out.close()
        raise
    audit.record(
        "preview_file",
        "integration",
        integration.id,
        user=user,
        enterprise_id=integration.enterprise_id,
        details={
            "fileName": file_name,
            "leadCount": rows,
            "sizeBytes": size,
            "pendingCount": integration.pending_count,
        },
        commit=True,
    )
    return PreviewFile(file_name, rows, integration.pending_count, size, out)  # type: ignore[arg-type]
