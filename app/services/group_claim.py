"""The claim of a group of plain scheduled sends, set-based, in ONE transaction.

At 06:00 a job holds SEND_GROUP_SIZE slots of small files. Claimed one by one, each file
paid a row lock, an INSERT, the claim, an audit INSERT and a commit of its own. Here the
group's integrations are locked together (in id order, as intake locks them, so the two
cannot deadlock), their pending entries claimed and counted in one statement under file
ids taken from the sequence, their files inserted in one statement with those counts, id
ranges and the leases of all the files in the same rows, their audit rows in one statement,
then one commit. Invariant 1 holds as in app.services.claim: the integration row locks keep
every other sender and every intake of these integrations out, and each file takes the
range of its integration's pending ids, moving claimed_through past it
(app.services.queue_files).

Only plain slots come here (`_plain`); anything unusual (a split, a cap, cumulative, a
protected file, e-mail, nothing pending) is left to the per-slot claim of
app.services.claim, which handles it exactly as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, text
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import ValidationError
from app.extensions import db
from app.models import BatchCsvIntegration, Campaign, SentBatch, Trigger
from app.models.types import utcnow
from app.services import audit, delivery_caps
from app.services.actors import SYSTEM
from app.services.claim import batch_row
from app.services.lease import LeaseOffer

# Transports whose re-delivery replaces the file (a temporary name, then a rename or an
# overwrite): a group marks its files delivered together after delivering them all, so a
# worker killed mid-group re-delivers the files it had already sent. E-mail would send a
# second message; it keeps the per-slot path, which marks each file as it goes.
REPLACING_METHODS = frozenset({"local", "sftp", "ftp", "s3"})

# The group's file ids, taken from the table's own sequence before the rows exist: each file
# is then inserted once with its lead count and range (an INSERT and a later UPDATE were two versions of
# a row with 17 indexes, three of them trigram GIN, for every file).
_NEW_IDS = text("SELECT nextval(pg_get_serial_sequence('sent_batches', 'id')) FROM generate_series(1, :n)")

# Every integration's pending entries counted (ix_queue_integration, ids above claimed_through)
# into the range of its file (ids from _NEW_IDS), and claimed_through and pending_count moved
# past them, in one statement. The files' rows are inserted afterwards with their ranges.
_CLAIM = text(
    """
    WITH files AS (
        SELECT * FROM unnest(CAST(:batch_ids AS integer[]), CAST(:integration_ids AS integer[]))
            AS f(batch_id, integration_id)
    ), tally AS (
        SELECT f.batch_id, f.integration_id, i.claimed_through AS after, max(q.id) AS through, count(*) AS n
        FROM files f
        JOIN batch_integrations i ON i.id = f.integration_id
        JOIN queue_entries q ON q.integration_id = f.integration_id AND q.id > i.claimed_through
        GROUP BY f.batch_id, f.integration_id, i.claimed_through
    ), moved AS (
        UPDATE batch_integrations i
        SET pending_count = i.pending_count - t.n, claimed_through = t.through, updated_at = :now
        FROM tally t
        WHERE i.id = t.integration_id
    )
    SELECT batch_id, n, after, through FROM tally
    """
)


@dataclass
class GroupFile:
    """One file of a group's claim: its slot, the batch as inserted and its integration as locked."""

    slot_key: str
    batch: SentBatch
    integration: BatchCsvIntegration


def claim_group(slots: list[tuple[int, str]], offer: LeaseOffer) -> tuple[list[GroupFile], list[tuple[int, str]]]:
    """Claim the plain slots of `slots` in the caller's transaction (not committed), leased with `offer`.

    Returns the files claimed and the slots left to the per-slot path (in their order).
    """
    first: dict[int, str] = {}
    for integration_id, slot_key in slots:
        first.setdefault(integration_id, slot_key)
    integrations = db.session.scalars(
        select(BatchCsvIntegration)
        .options(
            joinedload(BatchCsvIntegration.campaign, innerjoin=True).joinedload(Campaign.advertiser, innerjoin=True)
        )
        .where(BatchCsvIntegration.id.in_(first))
        .order_by(BatchCsvIntegration.id)
        .with_for_update(of=BatchCsvIntegration)
        .execution_options(populate_existing=True)
    ).all()
    files: list[GroupFile] = []
    for integration in integrations:
        at = delivery_caps.slot_time(first[integration.id], integration.timezone)
        if not _plain(integration, at):
            continue
        try:
            batch = batch_row(integration, Trigger.SCHEDULE.value, SYSTEM, at, offer)
        except ValidationError:  # settings that cannot build a file: the per-slot send raises as before
            continue
        files.append(GroupFile(first[integration.id], batch, integration))
    if files:
        files = _insert_and_claim(files)
    taken = {(f.integration.id, f.slot_key) for f in files}
    return files, [slot for slot in slots if slot not in taken]


def _plain(integration: BatchCsvIntegration, at: datetime) -> bool:
    """Whether the slot's send is one file of everything pending, built and sent the common way.

    Read under the row lock. pending_count only picks the path: a count that is off leaves
    a file with nothing claimed, which _insert_and_claim hands back.
    """
    return (
        integration.pending_count > 0
        and integration.lead_mode != "cumulative"
        and not (integration.max_leads_per_file or 0) > 0
        and (integration.protection or "none") == "none"
        and integration.delivery_method in REPLACING_METHODS
        and delivery_caps.remaining(integration, at) is None
    )


def _insert_and_claim(files: list[GroupFile]) -> list[GroupFile]:
    """Claim the files' entries under new ids, then insert the files that claimed any, and audit them.

    A file that claimed nothing is never inserted (its slot goes to the per-slot send).
    """
    ids = list(db.session.scalars(_NEW_IDS, {"n": len(files)}))
    now = utcnow()
    ranges = {
        row.batch_id: row
        for row in db.session.execute(
            _CLAIM,
            {"batch_ids": ids, "integration_ids": [f.integration.id for f in files], "now": now},
        )
    }
    kept = []
    for batch_id, f in zip(ids, files, strict=True):
        taken = ranges.get(batch_id)
        if taken is None:
            # Nothing was pending after all: the per-slot send decides (an empty file or run).
            continue
        f.batch.id = batch_id
        f.batch.lead_count = taken.n
        f.batch.entries_after, f.batch.entries_through = taken.after, taken.through
        # The loaded row says what the statement wrote, so nothing is read back for it.
        set_committed_value(f.integration, "pending_count", f.integration.pending_count - taken.n)
        set_committed_value(f.integration, "claimed_through", taken.through)
        set_committed_value(f.integration, "updated_at", now)
        kept.append(f)
    db.session.add_all([f.batch for f in kept])
    db.session.flush()
    for f in kept:
        audit.record(
            f"send.{Trigger.SCHEDULE.value}",
            "integration",
            f.integration.id,
            user=SYSTEM,
            details={"batchId": f.batch.id, "leadCount": f.batch.lead_count, "trigger": Trigger.SCHEDULE.value},
        )
    db.session.flush()
    return kept
