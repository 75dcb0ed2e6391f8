"""Batch CSV integrations and the credentials they deliver with."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, LargeBinary, String, UniqueConstraint, text, true
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.file_options import DEFAULT_NAME_TEMPLATE
from app.models.campaigns import Campaign
from app.models.types import JsonDoc, UtcDateTime, utcnow

DELIVERY_METHODS = ("sftp", "email", "ftp", "s3", "local")
CREDENTIAL_KINDS = ("password", "ssh_private_key", "s3_keys", "file_password", "pgp_public_key")


class Credential(db.Model):
    """A secret for a delivery, encrypted at rest and never shown again after saving."""

    __tablename__ = "credentials"
    __table_args__ = (UniqueConstraint("enterprise_id", "name", name="uq_credentials_enterprise_name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(30))
    ciphertext: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    def __str__(self) -> str:
        return f"{self.name} ({self.kind})"


class BatchCsvIntegration(db.Model):
    __tablename__ = "batch_integrations"
    __table_args__ = (
        # Pending Batches lists integrations with leads waiting.
        Index("ix_integrations_enterprise_pending", "enterprise_id", "pending_count"),
        # The Pending table's default order (next run) within a tenant, read in index order.
        Index("ix_integrations_enterprise_next_run", "enterprise_id", "next_run_at", "id"),
        Index("ix_integrations_label", "label"),
        # The scheduler tick: enabled integrations whose next run is due.
        Index("ix_integrations_due", "next_run_at", sqlite_where=text("enabled"), postgresql_where=text("enabled")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"), index=True)
    label: Mapped[str] = mapped_column(String(200))
    enabled: Mapped[bool] = mapped_column(default=True)

    schedule_cron: Mapped[str] = mapped_column(String(100), default="0 6 * * *")
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    next_run_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    file_format: Mapped[str] = mapped_column(String(10), default="csv")
    delimiter: Mapped[str] = mapped_column(String(4), default=",")
    header: Mapped[bool] = mapped_column(default=True)
    quoting: Mapped[str] = mapped_column(String(12), default="minimal")
    line_ending: Mapped[str] = mapped_column(String(4), default="crlf")
    encoding: Mapped[str] = mapped_column(String(20), default="utf-8")
    name_template: Mapped[str] = mapped_column(String(300), default=DEFAULT_NAME_TEMPLATE)
    compression: Mapped[str] = mapped_column(String(10), default="none")
    max_leads_per_file: Mapped[int | None] = mapped_column()
    send_empty: Mapped[bool] = mapped_column(default=False)
    # Delivery cap (app.services.delivery_caps): at most cap_leads leads per local day / week /
    # month of `timezone`; both NULL = no cap. The rest stays pending for the next window.
    cap_leads: Mapped[int | None] = mapped_column()
    cap_period: Mapped[str | None] = mapped_column(String(5))
    # After its campaign's final batch (app.services.campaign_end): keep the scheduled sends
    # going (True, as before this setting existed) or stop them (False; Batch now still works).
    deliver_after_end: Mapped[bool] = mapped_column(default=True, server_default=true())
    # Protected files: "none" | "zip-aes" | "xlsx-password" | "pgp", with the credential holding
    # the password or the advertiser's public key; pgp_armor picks .asc (text) over .pgp (binary).
    protection: Mapped[str] = mapped_column(String(16), default="none", server_default="none")
    protection_credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))
    pgp_armor: Mapped[bool] = mapped_column(default=True, server_default=true())
    # "new": each file holds the leads queued since the last one (exactly once).
    # "cumulative": each file holds every valid lead the integration has taken, or those
    # that arrived within cumulative_window ("all" | "month" | "week" | "day", local time).
    lead_mode: Mapped[str] = mapped_column(String(12), default="new", server_default="new")
    cumulative_window: Mapped[str] = mapped_column(String(12), default="all", server_default="all")
    # Ordered [{"source": "email" | "lead.id" | ..., "header": "Email"}].
    fields: Mapped[list] = mapped_column(JsonDoc, default=list)

    delivery_method: Mapped[str] = mapped_column(String(10), default="local")
    # Method-specific settings (host, port, remoteDir, hostKey, recipients, ...); never secrets.
    delivery: Mapped[dict] = mapped_column(JsonDoc, default=dict)
    credential_id: Mapped[int | None] = mapped_column(ForeignKey("credentials.id"))

    # Kept in step with the queue in the same transactions that add or claim
    # entries, so listing pending batches never counts the whole queue.
    pending_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # How far the queue has been claimed: every entry of this integration with an id up to
    # here is in exactly one file (the one whose id range holds it), every entry above it is
    # pending (app.services.queue_files). Only a claim moves it, under this row's lock.
    claimed_through: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")

    # Health (app.services.integration_health), kept in step by the pipeline as files end, so
    # the Pending table filters and sorts on it without reading sent_batches.
    # Auto-pause after this many failed files in a row; 0 never pauses.
    pause_after_failures: Mapped[int] = mapped_column(default=5, server_default="5")
    consecutive_failures: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set when auto-paused: scheduled sends stop (leads keep queueing) until someone resumes.
    paused_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_file_status: Mapped[str | None] = mapped_column(String(12))
    last_file_at: Mapped[datetime | None] = mapped_column(UtcDateTime)

    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow, onupdate=utcnow)

    campaign: Mapped[Campaign] = relationship()
    credential: Mapped[Credential | None] = relationship(foreign_keys=[credential_id])

    def __str__(self) -> str:
        return self.label
