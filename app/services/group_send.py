"""A group of plain scheduled sends as a set-based pipeline: one claim, then build, store and deliver.

The per-slot send (app.services.scheduled_send._send) spends three commits and a dozen
statements on each small file. Here a group's plain slots are claimed in one transaction
(app.services.group_claim), every file is built and stored, ONE statement moves them all
to stored (their delivery attempt counted with it, as pipeline._build_and_store does) and
commits, every file is delivered, and ONE statement marks them delivered with their
integrations' last send and health, then commits: two commits per group besides the
claim's, one COPY per file.

Each file keeps the state machine of app.services.pipeline and its own lease; the
group's leases share one token and one heartbeat (lease.LeaseGroup). A file that fails
to build or deliver is settled on its own as process_leased would (a retry noted and
queued, or failed), and the others go on. A worker killed mid-group stops the heartbeat:
every file of the group then expires and the reconciler hands each to a process job,
which takes it on from its row's status (claimed: build again under the same key;
stored: check the stored file and deliver it again, replacing it).
"""

from __future__ import annotations

import logging
import time

from flask import current_app
from sqlalchemy import text
from sqlalchemy.orm.attributes import set_committed_value

from app.extensions import db
from app.models.types import utcnow
from app.services import alerts, file_sync, integration_health, pipeline, queueing
from app.services.claim import BatchNowOutcome
from app.services.group_claim import GroupFile, claim_group
from app.services.lease import LeaseGroup, LeaseLost, LeaseOffer, commit_keeping_rows

log = logging.getLogger(__name__)

_STORED = text(
    """
    UPDATE sent_batches s SET status = 'stored', file_name = v.file_name, storage_key = v.storage_key,
        size_bytes = v.size_bytes, sha256 = v.sha256, row_count = v.row_count, stored_at = v.stored_at,
        delivery_method = v.delivery_method, attempts = s.attempts + 1, updated_at = :now
    FROM unnest(CAST(:ids AS integer[]), CAST(:file_names AS text[]), CAST(:storage_keys AS text[]),
                CAST(:sizes AS bigint[]), CAST(:shas AS text[]), CAST(:row_counts AS integer[]),
                CAST(:stored_ats AS timestamptz[]), CAST(:methods AS text[]))
        AS v(id, file_name, storage_key, size_bytes, sha256, row_count, stored_at, delivery_method)
    WHERE s.id = v.id AND s.lease_owner = :token AND s.status = 'claimed'
    RETURNING s.id, s.attempts
    """
)

# Delivered, lease freed, and the integration's last send (file_delivered's UPDATE) in one
# statement; it returns each integration's failure streak for integration_health.
_DELIVERED = text(
    """
    WITH v AS (
        SELECT * FROM unnest(CAST(:ids AS integer[]), CAST(:ats AS timestamptz[])) AS v(id, at)
    ), files AS (
        UPDATE sent_batches s SET status = 'delivered', sent_at = v.at, last_error = NULL,
            next_attempt_at = NULL, lease_owner = NULL, lease_until = NULL, updated_at = :now
        FROM v WHERE s.id = v.id AND s.lease_owner = :token AND s.status = 'stored'
        RETURNING s.id, s.integration_id, v.at
    )
    UPDATE batch_integrations i SET last_sent_at = f.at, last_file_status = 'delivered', last_file_at = f.at,
        updated_at = :now
    FROM files f WHERE i.id = f.integration_id
    RETURNING f.id, i.consecutive_failures
    """
)


def send_group(slots: list[tuple[int, str]]) -> tuple[list[dict], list[tuple[int, str]]]:
    """Send the plain slots of a group set-based; returns their outcomes and the slots left to the per-slot path.

    PostgreSQL only (the statements use arrays and UPDATE in WITH). A claim that fails
    has claimed nothing: all its slots go back to the per-slot path.
    """
    if db.session.get_bind().dialect.name != "postgresql" or len(slots) < 2:
        return [], slots
    offer = LeaseOffer()
    try:
        files, rest = claim_group(slots, offer)
        commit_keeping_rows()
    except Exception:
        db.session.rollback()
        log.exception("the group claim of %s scheduled sends failed; they are sent one by one", len(slots))
        return [], slots
    outcomes = [BatchNowOutcome(f.integration.id, f.batch.id, "queued", f.batch.lead_count).to_dict() for f in files]
    if files:
        _process(files, offer)
    return outcomes, rest


def _process(files: list[GroupFile], offer: LeaseOffer) -> None:
    """Build, store and deliver the group's files; past SEND_GROUP_BUDGET the rest go to process jobs."""
    group = LeaseGroup(offer, [f.batch.id for f in files])
    leases = group.leases
    budget = float(current_app.config["SEND_GROUP_BUDGET"])
    started = time.monotonic()
    settled: set[int] = set()  # files failed, or noted and queued for a retry, on their own
    left: list[GroupFile] = []
    group.start()
    try:
        # The group's local files are synced together, each phase before the commit that records it.
        with file_sync.together() as synced:
            built = []
            for index, f in enumerate(files):
                # The first file always goes (as in send_slots), however slow the claim was.
                if index and time.monotonic() - started > budget:
                    left = files[index:]
                    break
                try:
                    built.append((f, pipeline.stored_values(f.batch, leases[f.batch.id])))
                except Exception as exc:
                    _settle(f, leases, exc)
                    settled.add(f.batch.id)
            stored = _mark_stored(built, offer.token, synced)
            delivered = []
            for index, f in enumerate(stored):
                if index and time.monotonic() - started > budget:
                    left = stored[index:] + left
                    break
                lease = leases[f.batch.id]
                try:
                    pipeline.delivery(f.batch, lease, f.integration)()
                    delivered.append((f, utcnow()))
                except Exception as exc:
                    _settle(f, leases, exc)
                    settled.add(f.batch.id)
            _mark_delivered(delivered, leases, offer.token, synced)
    except Exception:
        # Unexpected (the database away, a file that would not sync): as a scheduled send's own file
        # (scheduled_send._process_first), every file not settled goes on in a process job at once,
        # which takes it on from its row's status (a delivered one is simply not in flight any more).
        db.session.rollback()
        log.exception("a scheduled group stopped; its files go on in process jobs")
        left = [f for f in files if f.batch.id not in settled]
    finally:
        db.session.rollback()
        db.session.expire_all()  # no read of this group outlives it (as process_leased ends)
        group.release()
    _hand_over(left)


def _settle(f: GroupFile, leases: dict, exc: Exception) -> None:
    """One file failed: note its retry and queue it, or fail it, as a scheduled send's own file would."""
    lease = leases[f.batch.id]
    intervals = queueing.retry_intervals()
    batch_id = f.batch.id
    try:
        pipeline.settle_failure(lease, exc, final_attempt=not intervals, retry_in=intervals[0] if intervals else None)
    except pipeline.RetryLater as retry:
        log.info("batch %s: %s; retried in %s s", batch_id, retry, intervals[0])
        lease.release()
        lease.mark_freed()
        _queue(batch_id, lambda: queueing.enqueue_process_later(batch_id, intervals[0], intervals[1:]))
        return
    except LeaseLost as lost:
        log.warning("batch %s: %s; leaving it to the next job", batch_id, lost)
        return
    except Exception:
        db.session.rollback()
        log.exception("batch %s: could not record its failure; left to its lease and the reconciler", batch_id)
        return
    lease.release()
    lease.mark_freed()  # so the group's release does not free it again


def _mark_stored(built: list[tuple[GroupFile, dict]], token: str, synced: file_sync.SyncGroup) -> list[GroupFile]:
    """Sync the built files, move them to stored, attempt counted, in one statement and commit; returns those moved."""
    if not built:
        return []
    synced.flush()
    values = [v for _, v in built]
    now = utcnow()
    rows = db.session.execute(
        _STORED,
        {
            "ids": [f.batch.id for f, _ in built],
            "file_names": [v["file_name"] for v in values],
            "storage_keys": [v["storage_key"] for v in values],
            "sizes": [v["size_bytes"] for v in values],
            "shas": [v["sha256"] for v in values],
            "row_counts": [v["row_count"] for v in values],
            "stored_ats": [v["stored_at"] for v in values],
            # stored_values leaves the method out only for a deleted integration; ours is locked in.
            "methods": [v.get("delivery_method", f.integration.delivery_method) for f, v in built],
            "now": now,
            "token": token,
        },
    ).all()
    attempts = dict(rows)
    moved = []
    for f, v in built:
        if f.batch.id not in attempts:  # someone else moved it: leave it to them (as _transition does)
            continue
        for key, value in {**v, "attempts": attempts[f.batch.id], "updated_at": now}.items():
            set_committed_value(f.batch, key, value)
        moved.append(f)
    commit_keeping_rows()
    return moved


def _mark_delivered(
    delivered: list[tuple[GroupFile, object]], leases: dict, token: str, synced: file_sync.SyncGroup
) -> None:
    """Sync and name the delivered files, mark them and their integrations' last send in one statement and commit."""
    synced.flush()
    if not delivered:
        return
    rows = db.session.execute(
        _DELIVERED,
        {
            "ids": [f.batch.id for f, _ in delivered],
            "ats": [at for _, at in delivered],
            "now": utcnow(),
            "token": token,
        },
    ).all()
    failures = dict(rows)
    events = []
    for f, _ in delivered:
        if f.batch.id in failures:
            events += integration_health.delivered_events(f.batch, failures[f.batch.id] or 0)
    db.session.commit()
    for batch_id in failures:
        leases[batch_id].mark_freed()
    alerts.dispatch(events)


def _hand_over(left: list[GroupFile]) -> None:
    """Queue the files this job leaves (their leases already released) as process jobs at the front."""
    for f in reversed(left):
        batch_id = f.batch.id
        _queue(batch_id, lambda batch_id=batch_id: queueing.enqueue_process(batch_id, "claim"))
    if left:
        log.info("%s files of a scheduled group handed to process jobs", len(left))


def _queue(batch_id: int, enqueue) -> None:
    try:
        enqueue()
    except Exception:  # Redis away: the lease expires and the reconciler re-enqueues the batch
        log.exception("could not queue batch %s; the reconciler will pick it up", batch_id)
