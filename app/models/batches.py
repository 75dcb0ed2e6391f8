"""The queue of leads waiting per integration, and the files sent from it."""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text, false, literal_column, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.integrations import BatchCsvIntegration
from app.models.types import BigId, JsonDoc, UtcDateTime, utcnow


class BatchStatus(enum.StrEnum):
    CLAIMED = "claimed"
    STORED = "stored"
    DELIVERED = "delivered"
    FAILED = "failed"
    # A scheduled run that found nothing to send: recorded, never a file (no leads, no
    # stored bytes, never processed, counted neither as delivered nor as failed).
    EMPTY = "empty"


IN_FLIGHT = (BatchStatus.CLAIMED.value, BatchStatus.STORED.value)


class Trigger(enum.StrEnum):
    SCHEDULE = "schedule"
    BATCH_NOW = "batch_now"
    RESEND = "resend"
    CAMPAIGN_END = "campaign_end"


class QueueEntry(db.Model):
    """One lead waiting in (or sent by) one integration; unique per pair."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        # One entry per (lead, integration); lead first, so it is also the index of a lead's
        # entries (erasure, lead trace, status changes, retention) and a claim writes one
        # index fewer per entry (migration 20261202_10).
        Index("uq_queue_lead_integration", "lead_id", "integration_id", unique=True),
        # An integration's entries in queue order: its pending ones (ids above claimed_through)
        # and the entries of each of its files (an id range) are ranges of this index.
        Index("ix_queue_integration", "integration_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("batch_integrations.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    queued_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class SentBatch(db.Model):
    """A file: the leads claimed for it, where it is stored and how its delivery went."""

    __tablename__ = "sent_batches"
    __table_args__ = (
        Index("ix_sent_enterprise_id", "enterprise_id", "id"),
        # The Sent lists leave empty runs out by default (NOT_EMPTY_RUN): page and count by index alone,
        # name filters too on PostgreSQL (the names included: revision 20261201_40_sent_names_covering).
        Index(
            "ix_sent_enterprise_files",
            "enterprise_id",
            "id",
            "status",
            sqlite_where=text("status <> 'empty'"),
            postgresql_where=text("status <> 'empty'"),
            postgresql_include=["advertiser_name", "campaign_name", "label"],
        ),
        Index("ix_sent_enterprise_sent_at", "enterprise_id", "sent_at"),
        Index("ix_sent_integration", "integration_id", "id"),
        # The file that holds a queue entry: the first range of its integration that ends at or
        # after the entry's id (app.services.queue_files.file_of_entry).
        Index(
            "ix_sent_entries",
            "integration_id",
            "entries_through",
            sqlite_where=text("entries_through IS NOT NULL"),
            postgresql_where=text("entries_through IS NOT NULL"),
        ),
        # Delivery caps sum the leads an integration's files counted within a window.
        Index("ix_sent_integration_counted", "integration_id", "counted_at"),
        Index("ix_sent_status_updated", "status", "updated_at"),
        # The Jobs view: one enterprise's files in a few statuses, newest change first.
        Index("ix_sent_enterprise_status_updated", "enterprise_id", "status", "updated_at"),
        Index("ix_sent_advertiser", "enterprise_id", "advertiser_id"),
        Index("ix_sent_campaign", "enterprise_id", "campaign_id"),
        Index("ix_sent_label", "enterprise_id", "label"),
        # Sorting the Sent table by lead count or a name reads an index instead of sorting 200k rows.
        Index("ix_sent_lead_count", "enterprise_id", "lead_count", "id"),
        Index("ix_sent_advertiser_name", "enterprise_id", "advertiser_name"),
        Index("ix_sent_campaign_name", "enterprise_id", "campaign_name"),
        # The name filters (case-insensitive contains: ILIKE '%x%') find their rows through
        # trigrams on PostgreSQL (pg_trgm GIN) instead of reading every name of the enterprise.
        # On SQLite (no trigrams) the same names are plain indexes: see 20261201_20_sent_name_trigrams.
        *(
            Index(f"ix_sent_{col}_trgm", col, postgresql_using="gin", postgresql_ops={col: "gin_trgm_ops"})
            for col in ("advertiser_name", "campaign_name", "label")
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    integration_id: Mapped[int] = mapped_column(ForeignKey("batch_integrations.id"))
    # Snapshot at send time: the row reads the same after a rename or a remapping.
    advertiser_id: Mapped[int] = mapped_column()
    advertiser_name: Mapped[str] = mapped_column(String(200))
    campaign_id: Mapped[int] = mapped_column()
    campaign_name: Mapped[str] = mapped_column(String(200))
    label: Mapped[str] = mapped_column(String(200))
    field_mapping: Mapped[list] = mapped_column(JsonDoc, default=list)
    file_settings: Mapped[dict] = mapped_column(JsonDoc, default=dict)
    delivery_method: Mapped[str] = mapped_column(String(10))

    lead_count: Mapped[int] = mapped_column(default=0)
    # The file's leads are its integration's queue entries with ids in (entries_after,
    # entries_through]: a claim writes these two numbers, not one row per lead
    # (app.services.queue_files). NULL for a file that claimed nothing, a resend (its leads
    # are its original's) and a failed file whose leads were requeued.
    entries_after: Mapped[int | None] = mapped_column(BigInteger)
    entries_through: Mapped[int | None] = mapped_column(BigInteger)
    # A cumulative file's leads are recorded in batch_leads (its queue entries hold only the
    # leads new to it); the lead views and the file builder read from there.
    cumulative: Mapped[bool] = mapped_column(default=False, server_default=false())
    row_count: Mapped[int | None] = mapped_column()
    trigger: Mapped[str] = mapped_column(String(20))
    triggered_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"))
    triggered_by: Mapped[str] = mapped_column(String(320), default="scheduler")
    # A resend delivers the stored file of the batch it points at.
    resend_of_id: Mapped[int | None] = mapped_column(ForeignKey("sent_batches.id"))

    # The instant whose cap window this file's leads count against (the scheduled slot, or
    # the moment of a Batch now); NULL for resends, which deliver leads already counted.
    counted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    status: Mapped[str] = mapped_column(String(12), default=BatchStatus.CLAIMED.value)
    attempts: Mapped[int] = mapped_column(default=0)
    # The job working on the batch (app.services.lease): who, and until when unless renewed.
    lease_owner: Mapped[str | None] = mapped_column(String(32))
    lease_until: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_error: Mapped[str | None] = mapped_column(Text)
    # When RQ runs the next automatic retry of a transient failure (the Jobs view shows it);
    # NULL when none is scheduled.
    next_attempt_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    file_name: Mapped[str | None] = mapped_column(String(300))
    storage_key: Mapped[str | None] = mapped_column(String(300))
    size_bytes: Mapped[int | None] = mapped_column()
    sha256: Mapped[str | None] = mapped_column(String(64))
    # The stored bytes were removed (retention or erasure); the row, counts and sha256 remain.
    purged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    purge_reason: Mapped[str | None] = mapped_column(String(40))
    # The stored file was rebuilt without an erased person (sha256/size above are the new file's).
    rewritten_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)
    stored_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    integration: Mapped[BatchCsvIntegration] = relationship()

    @property
    def in_flight(self) -> bool:
        return self.status in IN_FLIGHT

    def __str__(self) -> str:
        return f"File {self.id}"


# Every row but empty runs, with the literal of ix_sent_enterprise_files' predicate: SQLite
# matches a partial index only against the same literal term, never a bound parameter.
NOT_EMPTY_RUN = SentBatch.status != literal_column(f"'{BatchStatus.EMPTY.value}'")


class LeadDrop(db.Model):
    """A lead that left an integration's pending queue because its status stopped being valid.

    Kept so the Pending View can say why a lead is no longer in the next file, and so a
    lead made valid again re-enters exactly the queues it left (app.services.lead_status).
    """

    __tablename__ = "lead_drops"
    __table_args__ = (
        Index("uq_lead_drops_integration_lead", "integration_id", "lead_id", unique=True),
        Index("ix_lead_drops_lead", "lead_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    integration_id: Mapped[int] = mapped_column(ForeignKey("batch_integrations.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
    # The status that made the lead invalid, and when.
    status: Mapped[str] = mapped_column(String(30))
    dropped_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class BatchLead(db.Model):
    """One lead of a cumulative file, in file order: exactly what that file held."""

    __tablename__ = "batch_leads"
    __table_args__ = (Index("ix_batch_leads_batch", "batch_id", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("sent_batches.id"))
    lead_id: Mapped[int] = mapped_column(ForeignKey("leads.id"))
