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
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, Campaign, SentBatch, Trigger
from app.services import campaign_end, group_send, integration_health, pipeline, queueing, scheduling, sending
from app.services.actors import SYSTEM
from app.services.lease import LeaseOffer

log = logging.getLogger(__name__)


def send_slots(slots: Sequence[tuple[int, str]]) -> list[dict]:
    """The scheduled sends of a group of slots (queueing.enqueue_scheduled_sends), one after another.

    A job per file spent more in RQ's bookkeeping than in a 200-lead file, so the tick
    queues SEND_GROUP_SIZE slots per job. Each send is the same send_slot as a job of its
    own, and a group keeps what a job per file promised:
    - a send that raises has claimed nothing (send_slot); it goes on in a job of its own
      with the retries of a single scheduled send, and the group goes on;
    - slots already sent (an RQ retry of a group whose worker was killed) are skipped, so
      a retry never gives a slot a second file;
    - once the group has run SEND_GROUP_BUDGET seconds the rest go to a new job at the
      front of the queue, so a slow destination holds back only the file it is sending.
    On PostgreSQL the plain slots (one file of everything pending, no cap, split, protection
    or cumulative history) are first sent set-based, claimed in one transaction and marked
    stored and delivered together (app.services.group_send); the others go one by one here.
    """
    slots = [(int(integration_id), str(slot_key)) for integration_id, slot_key in slots]
    sent = _already_sent(slots)
    held = _held_back({integration_id for integration_id, _ in slots})
    budget = float(current_app.config["SEND_GROUP_BUDGET"])
    started = time.monotonic()
    due = [slot for slot in slots if slot not in sent and slot[0] not in held]
    outcomes, rest = group_send.send_group(due)
    taken = set(due) - set(rest)
    for index, (integration_id, slot_key) in enumerate(slots):
        if (integration_id, slot_key) in taken:
            continue
        if index and time.monotonic() - started > budget and _hand_over_rest(_not_in(slots[index:], taken)):
            break
        if (integration_id, slot_key) in sent:
            log.info("integration %s slot %s was already sent by this group; skipped", integration_id, slot_key)
            continue
        if integration_id in held:
            log.info("integration %s %s; scheduled send at %s skipped", integration_id, held[integration_id], slot_key)
            continue
        try:
            outcomes += _send(integration_id, slot_key)
        except Exception:
            db.session.rollback()
            log.exception(
                "scheduled send of integration %s at %s failed; retried in a job of its own", integration_id, slot_key
            )
            try:
                queueing.enqueue_scheduled_send(integration_id, slot_key)
            except Exception:  # Redis away too: its leads stay pending for the next slot
                log.exception("could not queue the retry of integration %s at %s", integration_id, slot_key)
    return outcomes


def _not_in(slots: list[tuple[int, str]], taken: set[tuple[int, str]]) -> list[tuple[int, str]]:
    return [slot for slot in slots if slot not in taken]


def _already_sent(slots: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """The slots of `slots` that have a scheduled file or empty run recorded (one query)."""
    if not slots:
        return set()
    # counted_at is the slot's UTC instant; a local key is at most 14 h from UTC.
    since = min(datetime.strptime(key, "%Y%m%d%H%M") for _, key in slots) - timedelta(days=1)
    rows = db.session.execute(
        select(SentBatch.integration_id, SentBatch.counted_at, BatchCsvIntegration.timezone)
        .join(BatchCsvIntegration, BatchCsvIntegration.id == SentBatch.integration_id)
        .where(
            SentBatch.integration_id.in_({integration_id for integration_id, _ in slots}),
            SentBatch.trigger == Trigger.SCHEDULE.value,
            SentBatch.counted_at >= since.replace(tzinfo=UTC),
        )
    ).all()
    db.session.rollback()
    recorded = {(row.integration_id, scheduling.slot_key(row.counted_at, row.timezone)) for row in rows}
    return recorded & set(slots)


def _held_back(integration_ids: set[int]) -> dict[int, str]:
    """Why each of these integrations sends nothing now: paused, or its campaign ended and it stops then.

    Read once for the group, as send_slot reads it before each send: neither is read under
    the claim's lock, so a pause that lands while the group runs holds back its next slot.
    """
    rows = db.session.execute(
        select(
            BatchCsvIntegration.id,
            BatchCsvIntegration.paused_at,
            BatchCsvIntegration.deliver_after_end,
            Campaign.final_batch_at,
        )
        .join(Campaign, Campaign.id == BatchCsvIntegration.campaign_id)
        .where(BatchCsvIntegration.id.in_(integration_ids))
    ).all()
    db.session.rollback()
    held = {}
    for row in rows:
        if row.paused_at is not None:
            held[row.id] = "is paused"
        elif campaign_end.stops_scheduled_sends(row.deliver_after_end, row.final_batch_at):
            held[row.id] = "stopped with its campaign's end"
    return held


def _hand_over_rest(rest: list[tuple[int, str]]) -> bool:
    """Queue the rest of the group as a new job at the front; False (go on here) if Redis refuses."""
    try:
        queueing.enqueue_scheduled_group(rest)
    except Exception:
        log.exception("could not hand %s scheduled sends to a new job; this job sends them", len(rest))
        return False
    log.info("group budget spent; %s scheduled sends handed to a new job", len(rest))
    return True


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
    return _send(integration_id, slot_key)


def _send(integration_id: int, slot_key: str) -> list[dict]:
    """Claim the slot's leads, then build, store and deliver its first file in this job."""
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
            offer.lease(batch_id),
            final_attempt=not intervals,
            retry_in=intervals[0] if intervals else None,
            held=next(iter(offer.kept), None),
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
