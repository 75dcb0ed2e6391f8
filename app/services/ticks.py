"""The scheduler tick: due scheduled sends, campaign-end final batches, stuck batches.

Safe when two ticks run at once (two `rq cron` processes, or a tick that overlaps the
next): each scheduled slot is guarded twice, by an RQ job id unique per integration and
local slot (`send-<id>-<YYYYmmddHHMM local>`) and by a conditional UPDATE that advances
next_run_at only from the value this tick read. Time comes in as `now` so tests drive
the clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, SentBatch
from app.models.types import utcnow
from app.services import campaign_end, queueing, scheduling

log = logging.getLogger(__name__)

DUE_PER_TICK = 1000


def run_tick(now: datetime | None = None) -> dict:
    """One tick; returns what it did (slot keys enqueued, campaigns closed, batches re-enqueued)."""
    now = now or utcnow()
    return {
        "scheduled": enqueue_due_sends(now),
        "campaignEnds": campaign_end.send_due(now),
        "reconciled": reconcile_stuck(now),
    }


def enqueue_due_sends(now: datetime) -> list[str]:
    """Enqueue the send of every enabled integration whose next run is due; advance next runs."""
    _initialise_next_runs(now)
    table = BatchCsvIntegration.__table__
    due = db.session.execute(
        select(table.c.id, table.c.schedule_cron, table.c.timezone, table.c.next_run_at)
        .where(table.c.enabled, table.c.next_run_at <= now)
        .order_by(table.c.next_run_at, table.c.id)
        .limit(DUE_PER_TICK)
    ).all()
    db.session.rollback()  # end the read; each integration below is its own transaction
    enqueued: list[str] = []
    for row in due:
        try:
            # A scheduler that was down sends once now, then waits for the next future slot.
            following = scheduling.next_run(row.schedule_cron, row.timezone, max(row.next_run_at, now))
            key = scheduling.slot_key(row.next_run_at, row.timezone)
        except Exception:
            log.exception("integration %s has an unusable schedule; not sent", row.id)
            continue
        job = queueing.enqueue_scheduled_send(row.id, key)
        advanced = db.session.execute(
            table.update()
            .where(table.c.id == row.id, table.c.next_run_at == row.next_run_at)
            .values(next_run_at=following)
        ).rowcount
        db.session.commit()
        if job is not None:
            enqueued.append(f"{row.id}:{key}")
        log.info("integration %s slot %s: enqueued=%s advanced=%s", row.id, key, job is not None, bool(advanced))
    return enqueued


def _initialise_next_runs(now: datetime) -> None:
    """Enabled integrations without a next run get one (created without a schedule pass)."""
    table = BatchCsvIntegration.__table__
    rows = db.session.execute(
        select(table.c.id, table.c.schedule_cron, table.c.timezone)
        .where(table.c.enabled, table.c.next_run_at.is_(None))
        .limit(DUE_PER_TICK)
    ).all()
    for row in rows:
        try:
            first = scheduling.next_run(row.schedule_cron, row.timezone, now)
        except Exception:
            log.exception("integration %s has an unusable schedule", row.id)
            continue
        db.session.execute(
            table.update().where(table.c.id == row.id, table.c.next_run_at.is_(None)).values(next_run_at=first)
        )
    db.session.commit()


def reconcile_stuck(now: datetime | None = None) -> list[int]:
    """Re-enqueue batches in claimed/stored untouched for STUCK_AFTER_SECONDS.

    RQ can lose a job (a SIGKILLed worker, a Redis restart); the database row is the
    truth. Each re-enqueue first wins a conditional UPDATE that restarts the batch's
    clock, so two reconcilers at once enqueue it once.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=int(current_app.config["STUCK_AFTER_SECONDS"]))
    table = SentBatch.__table__
    stuck = db.session.scalars(
        select(table.c.id)
        .where(table.c.status.in_(IN_FLIGHT), table.c.updated_at < cutoff)
        .order_by(table.c.id)
        .limit(DUE_PER_TICK)
    ).all()
    taken = []
    for batch_id in stuck:
        won = db.session.execute(
            table.update()
            .where(table.c.id == batch_id, table.c.status.in_(IN_FLIGHT), table.c.updated_at < cutoff)
            .values(updated_at=now)
        ).rowcount
        db.session.commit()
        if won:
            taken.append(batch_id)
    for batch_id in taken:
        try:
            queueing.enqueue_process(batch_id, "reconcile")
        except Exception:
            log.exception("could not re-enqueue stuck batch %s", batch_id)
    return taken
