"""Advertisers, their campaigns and the leads captured for them."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Date, ForeignKey, Index, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from app.extensions import db
from app.models.types import BigId, JsonDoc, UtcDateTime, utcnow

VALID_LEAD_STATUSES = frozenset({"valid", "approved"})


class Advertiser(db.Model):
    __tablename__ = "advertisers"
    __table_args__ = (Index("ix_advertisers_enterprise_name", "enterprise_id", "name"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    def __str__(self) -> str:
        return self.name


class Campaign(db.Model):
    __tablename__ = "campaigns"
    __table_args__ = (
        Index("ix_campaigns_enterprise_name", "enterprise_id", "name"),
        Index("ix_campaigns_end_date", "end_date", "final_batch_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    # Denormalised from the advertiser so every tenant check is one column.
    enterprise_id: Mapped[int] = mapped_column(ForeignKey("enterprises.id"))
    advertiser_id: Mapped[int] = mapped_column(ForeignKey("advertisers.id"), index=True)
    name: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(20), default="active")
    start_date: Mapped[date | None] = mapped_column(Date)
    end_date: Mapped[date | None] = mapped_column(Date)
    # Set once the campaign-end final batch has been sent.
    final_batch_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    advertiser: Mapped[Advertiser] = relationship()

    def __str__(self) -> str:
        return self.name


class Lead(db.Model):
    __tablename__ = "leads"
    __table_args__ = (
        UniqueConstraint("campaign_id", "external_id", name="uq_leads_campaign_external"),
        # Lead trace (app/services/lead_trace.py): exact lookups across an enterprise's campaigns.
        Index("ix_leads_external_id", "external_id"),
        Index("ix_leads_email_key", "email_key"),
        Index("ix_leads_phone_key", "phone_key"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id"))
    external_id: Mapped[str] = mapped_column(String(200))
    status: Mapped[str] = mapped_column(String(30))
    fields: Mapped[dict] = mapped_column(JsonDoc, default=dict)
    # fields["email"] / fields["phone"] normalised at intake (app/services/lead_keys.py) so a
    # trace is one index lookup instead of a scan of every lead's JSON document.
    email_key: Mapped[str | None] = mapped_column(String(320))
    phone_key: Mapped[str | None] = mapped_column(String(64))
    # Field values removed by the retention policy or an erasure (app/services/retention.py).
    redacted_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)

    campaign: Mapped[Campaign] = relationship()

    def __str__(self) -> str:
        return f"Lead {self.id} ({self.external_id})"
