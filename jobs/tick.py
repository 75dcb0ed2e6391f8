"""The one-minute scheduler tick, enqueued by `flask --app wsgi rq cron` (RQ's CronScheduler)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def tick() -> dict:
    """Enqueue due scheduled sends, send campaign-end final batches, re-enqueue stuck batches."""
    from app.services.ticks import run_tick

    result = run_tick()
    log.info("tick: %s", result)
    return result
