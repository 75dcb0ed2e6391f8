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
from dataclasses import dataclass
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import Row, bindparam, func, or_, select
from sqlalchemy.dialects.postgresql import ARRAY

from app.extensions import db
from app.models import IN_FLIGHT, BatchCsvIntegration, SentBatch
from app.models.types import utcnow
from app.services import campaign_end, integration_health, queueing, scheduling

log = logging.getLogger(__name__)

# Due integrations are read this many at a time (one keyset page); the tick goes on until no
# due row is left.
DUE_PER_TICK = 1000
# A page is taken in steps of about TAKE_STEP slots (whole send groups): one set-based UPDATE,
# its commit and one Redis pipeline each, so the first groups are queued, and other workers
# start on them, while this tick takes the rest of the minute.
TAKE_STEP = 100


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
    """Enqueue the send of every enabled integration whose next run is due; advance next runs.

    Every due integration is taken in this tick, a page of DUE_PER_TICK at a time in id
    order (a keyset, so a slot given back or an unusable schedule is not read twice), each
    page in steps of whole send groups. When Redis refuses a step, its slots are given back
    and the tick stops: the next tick sends them and the rest.
    """
    _initialise_next_runs(now)
    keys: list[str] = []
    step = _take_step()
    after = 0
    while True:
        rows = _due_page(now, after)
        for start in range(0, len(rows), step):
            taken, refused = _take(rows[start : start + step], now)
            keys += taken
            if refused:
                return keys
        if len(rows) < DUE_PER_TICK:
            return keys
        after = rows[-1].id


def _take_step() -> int:
    """TAKE_STEP rounded up to whole groups of SEND_GROUP_SIZE, so a step queues no part group."""
    size = int(current_app.config.get("SEND_GROUP_SIZE", 1))
    return size * -(-TAKE_STEP // size)


def due_slots(now: datetime) -> list[Row]:
    """The integrations whose next run is due, as read now (the first page; each is then taken by take_slot)."""
    _initialise_next_runs(now)
    return _due_page(now, 0)


def _due_page(now: datetime, after: int) -> list[Row]:
    table = BatchCsvIntegration.__table__
    due = db.session.execute(
        select(table.c.id, table.c.schedule_cron, table.c.timezone, table.c.next_run_at)
        # A paused integration (app.services.integration_health) is skipped until resumed.
        .where(table.c.enabled, table.c.paused_at.is_(None), table.c.next_run_at <= now, table.c.id > after)
        .order_by(table.c.id)
        .limit(DUE_PER_TICK)
    ).all()
    db.session.rollback()  # end the read; the page is then taken in one transaction
    return list(due)


def take_slot(row: Row, now: datetime) -> str | None:
    """Advance the integration past the slot `row` read and enqueue its send; None if another tick won it."""
    taken = take_slots([row], now)
    return taken[0] if taken else None


@dataclass(frozen=True)
class _Slot:
    id: int
    read: datetime  # next_run_at as the tick read it: the slot
    following: datetime
    key: str


def take_slots(rows: list[Row], now: datetime) -> list[str]:
    """Advance each integration past the slot its row read, then enqueue the sends this tick won."""
    return _take(rows, now)[0]


def _take(rows: list[Row], now: datetime) -> tuple[list[str], bool]:
    """take_slots, and whether Redis refused (the slots not queued were given back).

    One set-based UPDATE moves every next_run_at that still equals the value read, so of two
    ticks reading one slot only one wins it; the winners' jobs go to Redis in one pipeline.
    Slots Redis refused are given back, so the next tick sends them: a slot is never lost.
    """
    slots = []
    following_of: dict[tuple[str, str, datetime], datetime] = {}  # at 06:00 most rows share one
    for row in rows:
        try:
            # A scheduler that was down sends once now, then waits for the next future slot.
            basis = (row.schedule_cron, row.timezone, max(row.next_run_at, now))
            if basis not in following_of:
                following_of[basis] = scheduling.next_run(*basis)
            key = scheduling.slot_key(row.next_run_at, row.timezone)
        except Exception:
            log.exception("integration %s has an unusable schedule; not sent", row.id)
            continue
        slots.append(_Slot(row.id, row.next_run_at, following_of[basis], key))
    if not slots:
        return [], False
    won = _move_next_runs([(s.id, s.read, s.following) for s in slots])
    db.session.commit()
    for slot in slots:
        if slot.id not in won:
            log.info("integration %s slot %s: taken by another tick", slot.id, slot.key)
    winners = [s for s in slots if s.id in won]
    if not winners:
        return [], False
    try:
        enqueued = queueing.enqueue_scheduled_sends([(s.id, s.key) for s in winners])
    except Exception:
        # Give the slots back so the next tick sends them (Redis away): a slot is never lost.
        _move_next_runs([(s.id, s.following, s.read) for s in winners])
        db.session.commit()
        log.exception("%s scheduled sends could not be enqueued; the next tick tries again", len(winners))
        return [], True
    taken = [f"{s.id}:{s.key}" for s, fresh in zip(winners, enqueued, strict=True) if fresh]
    log.info("tick: %s slots taken, %s sends enqueued", len(winners), len(taken))
    return taken, False


def _move_next_runs(moves: list[tuple[int, datetime, datetime]]) -> set[int]:
    """Set next_run_at to `new` where it still equals `old`, for each (id, old, new); returns the ids moved."""
    table = BatchCsvIntegration.__table__
    if db.session.get_bind().dialect.name != "postgresql":
        # SQLite writers take turns on one database lock, so a statement per row inside this
        # one transaction is as atomic; its rowcount says who won.
        moved = set()
        for integration_id, old, new in moves:
            stmt = table.update().where(table.c.id == integration_id, table.c.next_run_at == old)
            if db.session.execute(stmt.values(next_run_at=new)).rowcount:
                moved.add(integration_id)
        return moved
    # Three bound arrays, unnested: one cached statement whatever the step's size (a VALUES
    # list was compiled anew for every step, ~0.3 ms a row).
    kind = ARRAY(table.c.next_run_at.type)
    ids, olds, news = (list(column) for column in zip(*moves, strict=True))
    given = (
        func.unnest(
            bindparam("ids", ids, type_=ARRAY(table.c.id.type)),
            bindparam("olds", olds, type_=kind),
            bindparam("news", news, type_=kind),
        )
        .table_valued("id", "old", "new")
        .render_derived(name="given")
    )
    stmt = (
        table.update()
        .where(table.c.id == given.c.id, table.c.next_run_at == given.c.old)
        .values(next_run_at=given.c.new)
        .returning(table.c.id)
    )
    return set(db.session.scalars(stmt))


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
    for batch_id in reversed(taken):  # to the front of the queue, the last first: they run in id order
        try:
            queueing.enqueue_process(batch_id, "reconcile")
        except Exception:
            log.exception("could not re-enqueue stuck batch %s", batch_id)
    return taken


def sweep_temp_files() -> int:
    """Remove store temp files of writers that died; none younger than the job timeout is touched."""
    from app.services.storage import get_store

    return get_store().sweep_temp_files(int(current_app.config["SEND_JOB_TIMEOUT"]))
