"""Re-enqueue batches stuck in claimed/stored (also run by every tick)."""

from __future__ import annotations

import logging

log = logging.getLogger(__name__)


def reconcile() -> list[int]:
    from app.services.ticks import reconcile_stuck

    ids = reconcile_stuck()
    if ids:
        log.info("re-enqueued stuck batches %s", ids)
    return ids
