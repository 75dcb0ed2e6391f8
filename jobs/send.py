"""Send jobs: thin wrappers that take ids and call the domain services."""

from __future__ import annotations

import logging

from rq import get_current_job

from app.models import Trigger

log = logging.getLogger(__name__)


def _retry_in() -> int | None:
    """Seconds until RQ retries the running job if it fails now; None when no retry is left."""
    job = get_current_job()
    if job is None or not job.retries_left:
        return None
    return job.get_retry_interval()


def process_batch(batch_id: int) -> str:
    """Build, store and deliver one SentBatch; a transient failure with retries left re-raises."""
    from app.services.pipeline import process_batch as run

    retry_in = _retry_in()
    status = run(batch_id, final_attempt=retry_in is None, retry_in=retry_in)
    log.info("batch %s is %s", batch_id, status)
    return status


def send_scheduled(integration_id: int, slot_key: str) -> list[dict]:
    """The scheduled send of one integration for one local time slot."""
    from app.services.actors import SYSTEM
    from app.services.sending import send_integration

    outcomes = send_integration(integration_id, Trigger.SCHEDULE.value, SYSTEM)
    log.info("scheduled send of integration %s at %s: %s", integration_id, slot_key, outcomes)
    return [o.to_dict() for o in outcomes]
