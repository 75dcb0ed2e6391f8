"""Campaign end: when a campaign passes its end date, its pending leads go out in a final batch."""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, Campaign, Trigger
from app.models.types import utcnow

log = logging.getLogger(__name__)

PER_TICK = 200


def send_due(now: datetime | None = None) -> list[int]:
    """Send the final batch of each campaign whose end date has passed; returns the campaigns closed.

    A campaign is marked (final_batch_at) only once every enabled integration of it has
    been claimed; if one could not start, the whole campaign is tried again next tick
    (integrations already sent then claim only what arrived since).
    """
    from app.services.actors import SYSTEM
    from app.services.sending import send_integration

    now = now or utcnow()
    today = now.date()
    campaigns = db.session.execute(
        select(Campaign.id)
        .where(Campaign.end_date.is_not(None), Campaign.end_date < today, Campaign.final_batch_at.is_(None))
        .order_by(Campaign.id)
        .limit(PER_TICK)
    ).all()
    closed = []
    for (campaign_id,) in campaigns:
        integration_ids = db.session.scalars(
            select(BatchCsvIntegration.id)
            .where(BatchCsvIntegration.campaign_id == campaign_id, BatchCsvIntegration.enabled)
            .order_by(BatchCsvIntegration.id)
        ).all()
        done = True
        for integration_id in integration_ids:
            try:
                send_integration(integration_id, Trigger.CAMPAIGN_END.value, SYSTEM)
            except Exception:
                log.exception("final batch of integration %s failed to start", integration_id)
                done = False
        if done:
            table = Campaign.__table__
            db.session.execute(
                table.update()
                .where(table.c.id == campaign_id, table.c.final_batch_at.is_(None))
                .values(final_batch_at=now)
            )
            db.session.commit()
            closed.append(campaign_id)
    return closed


def scheduled_sends_stopped(integration_id: int) -> bool:
    """True when the integration's campaign had its final batch and it is set to stop then."""
    row = db.session.execute(
        select(BatchCsvIntegration.deliver_after_end, Campaign.final_batch_at)
        .join(Campaign, Campaign.id == BatchCsvIntegration.campaign_id)
        .where(BatchCsvIntegration.id == integration_id)
    ).first()
    return row is not None and stops_scheduled_sends(row.deliver_after_end, row.final_batch_at)


def stops_scheduled_sends(deliver_after_end: bool, final_batch_at: datetime | None) -> bool:
    """An integration stops its scheduled sends once its campaign's final batch is out, unless set to go on."""
    return not deliver_after_end and final_batch_at is not None
