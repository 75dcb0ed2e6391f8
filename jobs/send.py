"""Send jobs: thin wrappers that take ids and call the domain services."""

from __future__ import annotations

import logging

from rq import get_current_job

from app.models import Trigger

log = logging.getLogger(__name__)


def _final_attempt() -> bool:
    """True when RQ has no retries left for the running job (or no job runs it)."""
    job = get_current_job()
    return job is None or not job.retries_left


def process_batch(batch_id: int) -> str:
    """Build, store and deliver one SentBatch; a transient failure with retries left re-raises."""
    from app.services.pipeline import process_batch as run

    status = run(batch_id, final_attempt=_final_attempt())
    log.info("batch %s is %s", batch_id, status)
    return status


def send_scheduled(integration_id: int, slot_key: str) -> list[dict]:
    """The scheduled send of one integration for one local time slot."""
    from app.services.actors import SYSTEM
    from app.services.sending import send_integration

    outcomes = send_integration(integration_id, Trigger.SCHEDULE.value, SYSTEM)
    log.info("scheduled send of integration %s at %s: %s", integration_id, slot_key, outcomes)
    return [o.to_dict() for o in outcomes]
