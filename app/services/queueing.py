"""The enqueue port of the domain: queue names, job options, idempotent job ids.

Services queue work through these helpers and name each job by its dotted path
(RQ imports it in the worker), so the domain never imports the job layer: `jobs/`
holds the job functions, which call back down into services.

No connection is made at import time; every helper takes the Redis client of the
current app (app.redis_conn.get_redis) and passes it to RQ explicitly (RQ 2 has no
Connection context).
"""

from __future__ import annotations

import logging
import re
import time
from collections.abc import Sequence
from datetime import timedelta

from flask import current_app
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from rq.job import Job

from app.redis_conn import get_redis

log = logging.getLogger(__name__)

SEND_QUEUE = "send"
TICK_QUEUE = "tick"
ALERT_QUEUE = "alerts"
# A worker started without queue names serves these, the tick first so a long
# upload queue never delays the scheduler, alerts before files so news of a failure
# does not wait behind the herd.
DEFAULT_QUEUES = (TICK_QUEUE, ALERT_QUEUE, SEND_QUEUE)

RESULT_TTL = 24 * 3600
FAILURE_TTL = 7 * 24 * 3600
DEFAULT_RETRY_INTERVALS = (30, 120, 600)
DEFAULT_ALERT_RETRY_INTERVALS = (30, 120, 600, 3600)
_JOB_ID = re.compile(r"^[A-Za-z0-9_-]+$")

# The job functions, by the dotted path RQ resolves in the worker (tests check each resolves).
PROCESS_BATCH_JOB = "jobs.send.process_batch"
SCHEDULED_SEND_JOB = "jobs.send.send_scheduled"
SCHEDULED_GROUP_JOB = "jobs.send.send_scheduled_group"
DELIVER_ALERT_JOB = "jobs.alerts.deliver_alert"
JOBS = (PROCESS_BATCH_JOB, SCHEDULED_SEND_JOB, SCHEDULED_GROUP_JOB, DELIVER_ALERT_JOB)
# A scheduled send raises only while nothing is claimed (the claim is one transaction: database
# away), so running it again is safe; after the claim the file is the lease's and the
# reconciler's, never the job's retry.
SCHEDULED_RETRY = Retry(max=3, interval=[10, 60, 300])


def get_queue(name: str = SEND_QUEUE) -> Queue:
    return Queue(name, connection=get_redis())


def retry_intervals() -> list[int]:
    """Backoff between RQ retries of a transient delivery failure (config SEND_RETRY_INTERVALS)."""
    return [int(s) for s in current_app.config.get("SEND_RETRY_INTERVALS", DEFAULT_RETRY_INTERVALS)]


def _enqueue_unique(queue: Queue, func: str, job_id: str, *args, **options) -> Job | None:
    if not _JOB_ID.match(job_id):
        raise ValueError(f"bad job id {job_id!r}")
    try:
        return queue.enqueue(func, *args, job_id=job_id, unique=True, **options)
    except DuplicateJobError:
        log.info("job %s already exists; not enqueued twice", job_id)
        return None


def process_job_id(batch_id: int, reason: str) -> str:
    """`batch-<id>-claim` for a new file; retries and re-enqueues get a fresh suffix.

    A new batch id is unique by itself; a manual retry or a reconciler re-enqueue has
    already won a conditional UPDATE in the database, so a time suffix is enough.
    """
    if reason in {"claim", "resend"}:
        return f"batch-{batch_id}-{reason}"
    return f"batch-{batch_id}-{reason}-{time.time_ns() // 1_000_000}"


def enqueue_process(batch_id: int, reason: str = "claim") -> Job | None:
    """Queue the build/store/deliver job of one SentBatch, ahead of the scheduled herd.

    The scheduled sends of a busy minute fill the send queue; a Batch now, a retry, a
    resend, a re-enqueue of a stuck file or the second part of a split file goes to the
    front of it (RQ at_front), so none waits behind thousands of unrelated sends.
    """
    intervals = retry_intervals()
    return _enqueue_unique(
        get_queue(SEND_QUEUE),
        PROCESS_BATCH_JOB,
        process_job_id(batch_id, reason),
        batch_id,
        job_timeout=int(current_app.config["SEND_JOB_TIMEOUT"]),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"process file {batch_id} ({reason})",
        at_front=True,
    )


def enqueue_process_later(batch_id: int, delay: int, intervals: list[int]) -> Job:
    """Queue a process job of one SentBatch `delay` seconds from now, retried after `intervals`.

    A scheduled send's own attempt at its file that failed transiently continues here, with
    the retries left of SEND_RETRY_INTERVALS.
    """
    return get_queue(SEND_QUEUE).enqueue_in(
        timedelta(seconds=delay),
        PROCESS_BATCH_JOB,
        batch_id,
        job_id=process_job_id(batch_id, "retry"),
        job_timeout=int(current_app.config["SEND_JOB_TIMEOUT"]),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"process file {batch_id} (retry)",
    )


def scheduled_job_id(integration_id: int, slot_key: str) -> str:
    return f"send-{integration_id}-{slot_key}"


def _scheduled_send_data(integration_id: int, slot_key: str):
    return Queue.prepare_data(
        SCHEDULED_SEND_JOB,
        (integration_id, slot_key),
        job_id=scheduled_job_id(integration_id, slot_key),
        # The job claims, builds, stores and delivers the slot's file.
        timeout=int(current_app.config["SEND_JOB_TIMEOUT"]),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=SCHEDULED_RETRY,
        description=f"scheduled send of integration {integration_id} at {slot_key}",
    )


def _slot_marker(integration_id: int, slot_key: str) -> str:
    """A Redis key per queued scheduled slot: the job id guard of a slot sent in a group job."""
    return f"bm:scheduled-slot:{integration_id}:{slot_key}"


# A marker outlives any tick that could still be racing for its slot.
SLOT_MARKER_TTL = 24 * 3600


def enqueue_scheduled_send(integration_id: int, slot_key: str) -> Job | None:
    """Queue the scheduled send of one integration for one local time slot (once per slot)."""
    data = _scheduled_send_data(integration_id, slot_key)
    job = _enqueue_unique(
        get_queue(SEND_QUEUE),
        SCHEDULED_SEND_JOB,
        data.job_id,
        *data.args,
        job_timeout=data.timeout,
        result_ttl=data.result_ttl,
        failure_ttl=data.failure_ttl,
        retry=data.retry,
        description=data.description,
    )
    if job is not None:
        get_redis().set(_slot_marker(integration_id, slot_key), job.id, ex=SLOT_MARKER_TTL)
    return job


def scheduled_group_job_id(slots: Sequence[tuple[int, str]], suffix: str = "") -> str:
    """`sends-<first id>-<its slot>-<n>`: a group is named by its first slot and its size."""
    first_id, first_key = slots[0]
    return f"sends-{first_id}-{first_key}-{len(slots)}{suffix}"


def _scheduled_group_data(slots: Sequence[tuple[int, str]], suffix: str = "", *, at_front: bool = False):
    return Queue.prepare_data(
        SCHEDULED_GROUP_JOB,
        ([list(slot) for slot in slots],),
        job_id=scheduled_group_job_id(slots, suffix),
        # SEND_JOB_TIMEOUT is a file's; the group's sends run one after another.
        timeout=int(current_app.config["SEND_JOB_TIMEOUT"]) * len(slots),
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        # Raised only before the group's first claim; a retry skips the slots already sent.
        retry=SCHEDULED_RETRY,
        description=f"scheduled sends of {len(slots)} integrations from {slots[0][0]} at {slots[0][1]}",
        at_front=at_front,
    )


def enqueue_scheduled_sends(slots: list[tuple[int, str]]) -> list[bool]:
    """Queue many scheduled sends in two Redis round trips; True for each one queued now.

    The sends go in jobs of SEND_GROUP_SIZE slots (app.services.scheduled_send.send_slots):
    at 06:00 thousands of small files fall due together, and a job per file spent more in
    RQ's own bookkeeping than in the file. A slot already queued (its marker, set with its
    job, or the job id of its single job) is not queued twice. The jobs and markers go in
    with one MULTI/EXEC: all of them or, if Redis fails, none.
    """
    size = int(current_app.config.get("SEND_GROUP_SIZE", 1))
    queue = get_queue(SEND_QUEUE)
    with queue.connection.pipeline(transaction=False) as pipe:
        for integration_id, slot_key in slots:
            pipe.exists(_slot_marker(integration_id, slot_key), Job.key_for(scheduled_job_id(integration_id, slot_key)))
        existing = pipe.execute()
    fresh = [slot for slot, found in zip(slots, existing, strict=True) if not found]
    for slot in slots:
        if slot not in fresh:
            log.info("scheduled send of integration %s at %s already queued; not queued twice", *slot)
    if fresh:
        if size == 1:
            datas = [_scheduled_send_data(*slot) for slot in fresh]
        else:
            datas = [_scheduled_group_data(fresh[start : start + size]) for start in range(0, len(fresh), size)]
        with queue.connection.pipeline() as pipe:
            for data, start in zip(datas, range(0, len(fresh), size), strict=True):
                for integration_id, slot_key in fresh[start : start + size]:
                    pipe.set(_slot_marker(integration_id, slot_key), data.job_id, ex=SLOT_MARKER_TTL)
            queue.enqueue_many(datas, pipeline=pipe)
            pipe.execute()
    fresh_set = set(fresh)
    return [slot in fresh_set for slot in slots]


def enqueue_scheduled_group(slots: Sequence[tuple[int, str]]) -> Job:
    """Queue the rest of a group that ran out of its budget, at the front of the queue."""
    data = _scheduled_group_data(slots, f"-rest-{time.time_ns() // 1_000_000}", at_front=True)
    return get_queue(SEND_QUEUE).enqueue_many([data])[0]


def enqueue_alert(event_id: int) -> Job | None:
    """Queue the delivery of one alert event (once per event; retried with ALERT_RETRY_INTERVALS)."""
    intervals = [int(s) for s in current_app.config.get("ALERT_RETRY_INTERVALS", DEFAULT_ALERT_RETRY_INTERVALS)]
    return _enqueue_unique(
        get_queue(ALERT_QUEUE),
        DELIVER_ALERT_JOB,
        f"alert-{event_id}",
        event_id,
        job_timeout=300,
        result_ttl=RESULT_TTL,
        failure_ttl=FAILURE_TTL,
        retry=Retry(max=len(intervals), interval=intervals) if intervals else None,
        description=f"deliver alert {event_id}",
    )
