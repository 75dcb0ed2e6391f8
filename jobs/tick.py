"""The scheduler's jobs, enqueued by `flask --app wsgi rq cron` (RQ's CronScheduler): the
one-minute tick, the reconciler every RECONCILE_INTERVAL_SECONDS, the hourly temp-file sweep,
the daily retention run."""

from __future__ import annotations

import logging

from redis import Redis
from rq.cron import CronScheduler

from app.services import retention as retention_policy
from app.services.queueing import TICK_QUEUE
from app.services.ticks import reconcile_stuck, run_tick, sweep_temp_files
from jobs.outage import OutageTolerantCronScheduler

log = logging.getLogger(__name__)

TICK_CRON = "* * * * *"
SWEEP_CRON = "17 * * * *"
RETENTION_CRON = "41 3 * * *"
# Each chunk commits, so a run cut by this timeout resumes where it stopped the next day.
RETENTION_TIMEOUT = 4 * 3600


def tick() -> dict:
    """Enqueue due scheduled sends, send campaign-end final batches, re-enqueue stuck batches."""
    result = run_tick()
    log.info("tick: %s", result)
    return result


def reconcile() -> list[int]:
    """Re-enqueue the in-flight batches no live job works on (expired lease, or a lost job)."""
    ids = reconcile_stuck()
    if ids:
        log.info("re-enqueued stuck batches %s", ids)
    return ids


def sweep() -> int:
    """Remove the store's temp files left by writers that were killed."""
    removed = sweep_temp_files()
    if removed:
        log.info("removed %s temp files left by killed writers", removed)
    return removed


def retention() -> list[dict]:
    """Apply every enterprise's retention policy (purge old files, redact delivered leads)."""
    done = [
        {"enterpriseId": c.enterprise_id, "filesPurged": c.files_purged, "leadsRedacted": c.leads_redacted}
        for c in retention_policy.apply_all()
    ]
    log.info("retention: %s", done)
    return done


def build_cron_scheduler(connection: Redis, logging_level: str = "INFO", reconcile_every: int = 15) -> CronScheduler:
    """RQ's cron scheduler: the tick every minute (UTC; two of them are harmless), the
    reconciler every `reconcile_every` seconds so a killed work horse's batch is taken
    over soon after its lease expires, and the temp-file sweep hourly. It waits out
    Redis outages (jobs.outage) instead of exiting."""
    scheduler = OutageTolerantCronScheduler(connection=connection, logging_level=logging_level)
    # ttl: a tick nobody picked up within two minutes is dropped; the next one does its work.
    scheduler.register(tick, TICK_QUEUE, cron=TICK_CRON, job_timeout=300, result_ttl=600, ttl=120)
    scheduler.register(
        reconcile, TICK_QUEUE, interval=reconcile_every, job_timeout=120, result_ttl=60, ttl=max(reconcile_every, 30)
    )
    scheduler.register(sweep, TICK_QUEUE, cron=SWEEP_CRON, job_timeout=600, result_ttl=3600, ttl=600)
    scheduler.register(
        retention, TICK_QUEUE, cron=RETENTION_CRON, job_timeout=RETENTION_TIMEOUT, result_ttl=86400, ttl=3600
    )
    return scheduler
