"""Integration health: failure streaks, auto-pause and resume, and the alerts they raise.

The pipeline reports each file that ends (file_failed / file_delivered) in the
transaction that ends it; the integration row keeps the last file's status and time and
the number of failed files in a row, so the Pending table shows, filters and sorts health
without reading sent_batches. After `pause_after_failures` failed files in a row (0:
never) the integration is paused: the tick and queued scheduled sends skip it, leads keep
queueing. Resume (manager+) lifts the pause and sends what is pending at once; the
streak is kept until a file is delivered, so the first success after failures raises
"recovered" once, and a failure right after resuming pauses it again.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import bindparam, func, select, update

from app.errors import Conflict, Forbidden
from app.extensions import db
from app.models import AlertSettings, BatchCsvIntegration, Role, SentBatch, Trigger, User
from app.models.types import utcnow
from app.services import alerts, audit, scheduling, sending
from app.services.claim import BatchNowOutcome
from app.services.tenancy import get_owned

Ints = BatchCsvIntegration


HEALTH_STATES = ("paused", "failing", "healthy", "new")


def health_criterion(state: str):
    """The WHERE clause of one health state (Pending's filter, admin and API alike)."""
    criteria = {
        "paused": Ints.paused_at.is_not(None),
        "failing": Ints.paused_at.is_(None) & (Ints.consecutive_failures > 0),
        "healthy": Ints.paused_at.is_(None) & (Ints.consecutive_failures == 0) & (Ints.last_file_status == "delivered"),
        "new": Ints.last_file_status.is_(None),
    }
    return criteria[state]


def _keep_updated_at():
    # Health is not a settings change: "Settings changed" (updated_at) must not move.
    return {"updated_at": Ints.updated_at}


def file_failed(batch_id: int) -> list[int | None]:
    """Count a failed file (in the caller's transaction); returns alert ids to dispatch after commit."""
    batch = db.session.get(SentBatch, batch_id)
    db.session.refresh(batch)  # its status and error were just written with a Core UPDATE
    now = utcnow()
    db.session.execute(
        update(Ints)
        .where(Ints.id == batch.integration_id)
        .values(
            consecutive_failures=Ints.consecutive_failures + 1,
            last_file_status="failed",
            last_file_at=now,
            **_keep_updated_at(),
        )
        .execution_options(synchronize_session=False)
    )
    integration = db.session.get(Ints, batch.integration_id)
    db.session.refresh(integration)
    events = [alerts.raise_event("file_failed", f"file_failed-{batch.id}-{batch.attempts}", integration, batch)]
    threshold = integration.pause_after_failures
    if threshold and integration.consecutive_failures >= threshold and integration.paused_at is None:
        paused = db.session.execute(
            update(Ints)
            .where(Ints.id == integration.id, Ints.paused_at.is_(None))
            .values(paused_at=now, **_keep_updated_at())
            .execution_options(synchronize_session=False)
        ).rowcount
        if paused:
            db.session.refresh(integration)
            failures = integration.consecutive_failures
            audit.record(
                "integration.pause",
                "integration",
                integration.id,
                enterprise_id=integration.enterprise_id,
                details={"consecutiveFailures": failures, "lastFileId": batch.id, "threshold": threshold},
            )
            key = f"integration_paused-{integration.id}-{int(now.timestamp())}"
            events.append(alerts.raise_event("integration_paused", key, integration, batch, failures=failures))
    return events


# file_delivered's UPDATE, built once: a herd runs it for every file, and building it
# (with its cache key) each time cost more CPU than running it. A Core UPDATE of the table,
# so the session's loaded integration is left as it is (as synchronize_session=False did);
# the column's onupdate still moves updated_at.
_DELIVERED = (
    Ints.__table__.update()
    .where(Ints.__table__.c.id == bindparam("integration_id"))
    .values(last_sent_at=bindparam("at"), last_file_status="delivered", last_file_at=bindparam("at"))
    .returning(Ints.__table__.c.consecutive_failures)
)


def file_delivered(batch: SentBatch, sent_at: datetime) -> list[int | None]:
    """Record a delivered file: the integration's last send and health (caller's transaction).

    A first success after failures raises "recovered". The common case (no failure streak,
    a file with leads) is one UPDATE, which returns the streak it found under its row lock;
    the ORM objects an alert needs are loaded only when one is raised. `batch` is the
    delivered file as its job holds it (integration, lead count, resend: fixed at its claim).
    """
    integration_id = batch.integration_id
    # last_sent_at moves updated_at as the pipeline's own update of it always did; the
    # health columns alone would not (_keep_updated_at).
    failures = db.session.execute(_DELIVERED, {"integration_id": integration_id, "at": sent_at}).scalar_one() or 0
    return delivered_events(batch, failures)


def delivered_events(batch: SentBatch, failures: int) -> list[int | None]:
    """The rest of file_delivered once the integration's UPDATE has found a streak of `failures`.

    Nothing to do (no query) for a file with leads after no failure; a scheduled group
    (app.services.group_send) writes that UPDATE for all its files at once.
    """
    integration_id, batch_id = batch.integration_id, batch.id
    reset = 0
    if failures:
        # Only the file that resets a streak (a conditional UPDATE) raises the recovery.
        reset = db.session.execute(
            update(Ints)
            .where(Ints.id == integration_id, Ints.consecutive_failures > 0)
            .values(consecutive_failures=0, **_keep_updated_at())
            .execution_options(synchronize_session=False)
        ).rowcount
    empty = batch.lead_count == 0 and batch.resend_of_id is None
    if not (reset or empty):
        return []
    batch = db.session.get(SentBatch, batch_id)
    db.session.refresh(batch)
    integration = db.session.get(Ints, integration_id)
    db.session.refresh(integration)
    events = []
    if reset:
        key = f"integration_recovered-{integration.id}-{batch.id}"
        events.append(alerts.raise_event("integration_recovered", key, integration, batch, failures=failures))
    if empty:
        events.append(alerts.raise_event("file_empty", f"file_empty-{batch.id}", integration, batch))
    return events


def is_paused(integration_id: int) -> bool:
    return db.session.scalar(select(Ints.paused_at).where(Ints.id == integration_id)) is not None


def resume(integration_id: int, user: User) -> list[BatchNowOutcome]:
    """Lift an integration's pause and send what is pending now (manager or admin; audited)."""
    if user is None or not user.has_role(Role.MANAGER):
        raise Forbidden("resuming an integration needs the manager or admin role")
    integration = get_owned(Ints, integration_id, user.enterprise_id)
    if integration.paused_at is None:
        raise Conflict(f"integration {integration.id} is not paused")
    now = utcnow()
    # The next scheduled run counts from now: the slots missed while paused are not replayed.
    following = scheduling.next_run(integration.schedule_cron, integration.timezone, now)
    resumed = db.session.execute(
        update(Ints)
        .where(Ints.id == integration.id, Ints.paused_at.is_not(None))
        .values(paused_at=None, next_run_at=following, **_keep_updated_at())
        .execution_options(synchronize_session=False)
    ).rowcount
    if not resumed:
        db.session.rollback()
        raise Conflict(f"integration {integration.id} is not paused")
    audit.record(
        "integration.resume",
        "integration",
        integration.id,
        user=user,
        details={"consecutiveFailures": integration.consecutive_failures, "pending": integration.pending_count},
    )
    db.session.commit()
    if not integration.enabled:
        return []
    return sending.send_integration(integration.id, Trigger.BATCH_NOW.value, user)


def raise_stale(now: datetime) -> int:
    """The optional "nothing sent for N days while leads are pending" alert, once per quiet spell."""
    events: list[int | None] = []
    for settings in db.session.scalars(select(AlertSettings)):
        if "stale" not in (settings.optional_events or []):
            continue
        since = func.coalesce(Ints.last_sent_at, Ints.created_at)
        quiet = db.session.scalars(
            select(Ints)
            .where(
                Ints.enterprise_id == settings.enterprise_id,
                Ints.enabled,
                Ints.pending_count > 0,
                since < now - timedelta(days=settings.stale_days),
            )
            .order_by(Ints.id)
            .limit(1000)
        ).all()
        for integration in quiet:
            started = integration.last_sent_at or integration.created_at
            key = f"stale-{integration.id}-{int(started.timestamp())}"
            events.append(
                alerts.raise_event(
                    "stale", key, integration, days=settings.stale_days, pending=integration.pending_count
                )
            )
    db.session.commit()
    alerts.dispatch(events)
    return sum(1 for e in events if e)
