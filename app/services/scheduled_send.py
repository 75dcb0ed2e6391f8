"""A scheduled send as one job: claim the slot's leads, then build, store and deliver the file.

At 06:00 thousands of integrations fall due together. A send that only claimed and
queued a second job for the file put every file behind all the claims still queued;
here the job that claims goes on with the file. Its lease is taken in the claim's own
transaction (app.services.lease.LeaseOffer), so no other job can start on it meanwhile,
and a worker killed mid-file leaves a lease that expires: the reconciler then hands the
batch to a process job, exactly as for any other file. Further files of a split
(maxLeadsPerFile) are queued as process jobs at the front of the queue.

After its claim has committed this job never raises: RQ retrying it would claim again
(a second file for one slot). A transient failure of the file goes on in a process job
queued with the retries left (SEND_RETRY_INTERVALS); anything unexpected queues one at
once, and failing that the lease runs out and the reconciler finds the batch.
"""

from __future__ import annotations

import logging

from app.models import Trigger
from app.services import campaign_end, integration_health, pipeline, queueing, sending
from app.services.actors import SYSTEM
from app.services.lease import LeaseOffer

log = logging.getLogger(__name__)


def send_slot(integration_id: int, slot_key: str) -> list[dict]:
    """The scheduled send of one integration for one local slot; its first file is delivered here.

    None while it is paused, nor after its campaign's final batch if it is set to stop then.
    """
    if integration_health.is_paused(integration_id):
        log.info("integration %s is paused; scheduled send at %s skipped", integration_id, slot_key)
        return []
    if campaign_end.scheduled_sends_stopped(integration_id):
        log.info("integration %s: campaign ended, set to stop; scheduled send at %s skipped", integration_id, slot_key)
        return []
    offer = LeaseOffer()
    outcomes = sending.send_integration(integration_id, Trigger.SCHEDULE.value, SYSTEM, slot_key, lease=offer)
    first = next((o for o in outcomes if o.status == "queued" and o.batch_id is not None), None)
    if first is not None:
        _process_first(first.batch_id, offer)
    return [o.to_dict() for o in outcomes]


def _process_first(batch_id: int, offer: LeaseOffer) -> None:
    intervals = queueing.retry_intervals()
    try:
        status = pipeline.process_leased(
            offer.lease(batch_id), final_attempt=not intervals, retry_in=intervals[0] if intervals else None
        )
        log.info("batch %s is %s", batch_id, status)
    except pipeline.RetryLater as exc:
        log.info("batch %s: %s; retried in %s s", batch_id, exc, intervals[0])
        _hand_over(batch_id, lambda: queueing.enqueue_process_later(batch_id, intervals[0], intervals[1:]))
    except Exception:
        log.exception("batch %s: the scheduled send stopped; its file goes on in a process job", batch_id)
        _hand_over(batch_id, lambda: queueing.enqueue_process(batch_id, "claim"))


def _hand_over(batch_id: int, enqueue) -> None:
    try:
        enqueue()
    except Exception:  # Redis away: the lease expires and the reconciler re-enqueues the batch
        log.exception("could not queue batch %s; the reconciler will pick it up", batch_id)
