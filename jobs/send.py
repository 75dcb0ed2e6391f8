"""Send jobs: thin wrappers that take ids and call the domain services."""

from __future__ import annotations

import logging

from rq import get_current_job

from app.services import pipeline, scheduled_send

# Transports load on first use (app.services.transports._REGISTRY). Importing the light ones
# with this module loads them in the worker before it forks its work horses (paramiko alone
# is ~0.1 s per horse); S3 stays lazy: a heavy client stack only S3 feeds need.
from app.services.transports import email, ftp, local, sftp  # noqa: F401

log = logging.getLogger(__name__)


def _retry_in() -> int | None:
    """Seconds until RQ retries the running job if it fails now; None when no retry is left."""
    job = get_current_job()
    if job is None or not job.retries_left:
        return None
    return job.get_retry_interval()


def process_batch(batch_id: int) -> str:
    """Build, store and deliver one SentBatch; a transient failure with retries left re-raises."""
    retry_in = _retry_in()
    status = pipeline.process_batch(batch_id, final_attempt=retry_in is None, retry_in=retry_in)
    log.info("batch %s is %s", batch_id, status)
    return status


def send_scheduled(integration_id: int, slot_key: str) -> list[dict]:
    """The scheduled send of one integration for one local time slot: claim, then its file, in this job."""
    outcomes = scheduled_send.send_slot(integration_id, slot_key)
    log.info("scheduled send of integration %s at %s: %s", integration_id, slot_key, outcomes)
    return outcomes


def send_scheduled_group(slots: list[list]) -> list[dict]:
    """The scheduled sends of a group of (integration id, local slot) pairs, one after another."""
    outcomes = scheduled_send.send_slots([(integration_id, slot_key) for integration_id, slot_key in slots])
    log.info("scheduled sends of %s slots: %s files", len(slots), len(outcomes))
    return outcomes
