"""The one-minute scheduler tick, enqueued by `flask --app wsgi rq cron` (RQ's CronScheduler)."""

from __future__ import annotations

import logging

from redis import Redis
from rq.cron import CronScheduler

from app.services.queueing import TICK_QUEUE
from app.services.ticks import run_tick

log = logging.getLogger(__name__)

TICK_CRON = "* * * * *"


def tick() -> dict:
    """Enqueue due scheduled sends, send campaign-end final batches, re-enqueue stuck batches."""
    result = run_tick()
    log.info("tick: %s", result)
    return result


def build_cron_scheduler(connection: Redis, logging_level: str = "INFO") -> CronScheduler:
    """RQ's cron scheduler with the tick every minute (UTC; two of them are harmless)."""
    scheduler = CronScheduler(connection=connection, logging_level=logging_level)
    # ttl: a tick nobody picked up within two minutes is dropped; the next one does its work.
    scheduler.register(tick, TICK_QUEUE, cron=TICK_CRON, job_timeout=300, result_ttl=600, ttl=120)
    return scheduler
