"""The scheduler tick: due scheduled sends, campaign-end final batches, stuck batches.

Safe when two ticks run at once (two `rq cron` processes, or a tick that overlaps the
next): a tick sends a scheduled slot only after winning the conditional UPDATE that
advances next_run_at from the value it read, so a slot is enqueued by one tick even
when Redis lost the first tick's job before the second looked (the RQ job id, unique
per integration and local slot `send-<id>-<YYYYmmddHHMM local>`, is a second guard).
Time comes in as `now` so tests drive the clock.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, or_, select

from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, SentBatch
from app.models.types import utcnow
from app.services import campaign_end, integration_health, queueing, scheduling

log = logging.getLogger(__name__)

DUE_PER_TICK = 1000


def run_tick(now: datetime | None = None) -> dict:
    """One tick; returns what it did (slot keys enqueued, campaigns closed, batches re-enqueued)."""
    now = now or utcnow()
    return {
        "scheduled": enqueue_due_sends(now),
        "campaignEnds": campaign_end.send_due(now),
        "reconciled": reconcile_stuck(now),
        "staleAlerts": integration_health.raise_stale(now),
    }


def enqueue_due_sends(now: datetime) -> list[str]:
    """Enqueue the send of every enabled integration whose next run is due; advance next runs."""
    return [key for row in due_slots(now) if (key := take_slot(row, now)) is not None]


def due_slots(now: datetime) -> list[Row]:
    """The integrations whose next run is due, as read now (each is then taken by take_slot)."""
    _initialise_next_runs(now)
    table = BatchCsvIntegration.__table__
    due = db.session.execute(
        select(table.c.id, table.c.schedule_cron, table.c.timezone, table.c.next_run_at)
        # A paused integration (app.services.integration_health) is skipped until resumed.
        .where(table.c.enabled, table.c.paused_at.is_(None), table.c.next_run_at <= now)
        .order_by(table.c.next_run_at, table.c.id)
        .limit(DUE_PER_TICK)
    ).all()
    db.session.rollback()  # end the read; each integration is then its own transaction
    return list(due)


def take_slot(row: Row, now: datetime) -> str | None:
    """Advance the integration past the slot `row` read and enqueue its send; None if another tick won it."""
    try:
        # A scheduler that was down sends once now, then waits for the next future slot.
        following = scheduling.next_run(row.schedule_cron, row.timezone, max(row.next_run_at, now))
        key = scheduling.slot_key(row.next_run_at, row.timezone)
    except Exception:
        log.exception("integration %s has an unusable schedule; not sent", row.id)
        return None
    table = BatchCsvIntegration.__table__
    won = db.session.execute(
        table.update().where(table.c.id == row.id, table.c.next_run_at == row.next_run_at).values(next_run_at=following)
    ).rowcount
    db.session.commit()
    if not won:
        log.info("integration %s slot %s: taken by another tick", row.id, key)
        return None
    try:
        job = queueing.enqueue_scheduled_send(row.id, key)
    except Exception:
        # Give the slot back so the next tick sends it (Redis away): a slot is never lost.
        db.session.execute(
            table.update()
            .where(table.c.id == row.id, table.c.next_run_at == following)
            .values(next_run_at=row.next_run_at)
        )
        db.session.commit()
        log.exception("integration %s slot %s: could not enqueue; the next tick tries again", row.id, key)
        return None
    log.info("integration %s slot %s: enqueued=%s", row.id, key, job is not None)
    return f"{row.id}:{key}" if job is not None else None


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
    """Re-enqueue the in-flight batches no live job works on; returns their ids.

    Two cases (app.services.lease): a batch whose lease expired (its work horse was
    killed, or lost its database for a lease's length: it stopped by itself), within
    about a minute; and a batch no job ever leased, untouched for STUCK_AFTER_SECONDS
    (RQ lost the job: Redis restarted empty). Each re-enqueue first wins a conditional
    UPDATE that frees the lease and restarts the batch's clock, so two reconcilers at
    once enqueue it once.
    """
    now = now or utcnow()
    cutoff = now - timedelta(seconds=int(current_app.config["STUCK_AFTER_SECONDS"]))
    table = SentBatch.__table__
    in_flight = table.c.status.in_(IN_FLIGHT)
    expired = table.c.lease_until < now
    forgotten = table.c.lease_until.is_(None) & (table.c.updated_at < cutoff)
    stuck = db.session.scalars(
        select(table.c.id).where(in_flight, or_(expired, forgotten)).order_by(table.c.id).limit(DUE_PER_TICK)
    ).all()
    taken = []
    for batch_id in stuck:
        won = db.session.execute(
            table.update()
            .where(table.c.id == batch_id, in_flight, or_(expired, forgotten))
            .values(lease_owner=None, lease_until=None, updated_at=now)
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


def sweep_temp_files() -> int:
    """Remove store temp files of writers that died; none younger than the job timeout is touched."""
    from app.services.storage import get_store

    return get_store().sweep_temp_files(int(current_app.config["SEND_JOB_TIMEOUT"]))
