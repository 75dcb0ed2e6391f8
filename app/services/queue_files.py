"""Which file holds a queue entry: each file owns a range of its integration's queue ids.

A claim writes no row per lead. It moves the integration's `claimed_through` to the last id
it takes and gives its file the range (entries_after, entries_through]:

- an entry whose id is at or below its integration's `claimed_through` is in exactly one
  file, the one whose range holds the id;
- an entry above it is pending.

This holds because ids only grow (one sequence) and nothing can commit an entry at or below
`claimed_through` once a claim has moved it. Intake, status changes and requeues take the
integration's row lock before they draw ids, and the claim reads and moves `claimed_through`
under the same lock (FOR UPDATE on PostgreSQL, which also waits for the KEY SHARE lock that the
foreign key of every inserted entry takes on the row; SQLite writes one transaction at a
time). So while a claim runs, no other transaction holds an id of that integration that it
has not committed yet (tests/test_invariants.py, an intake paused between its ids and its commit).

The claim of a 1,000,000-lead file used to rewrite 1,000,000 queue rows (4-11 s, README
"Performance"). Now it counts them through ix_queue_integration and writes two rows.

Every reader of "pending", "in this file" and "in which file" goes through this module.
"""

from __future__ import annotations

from sqlalchemy import ColumnElement, ScalarSelect, and_, false, func, select, text, update

from app.extensions import db
from app.models import BatchCsvIntegration, QueueEntry, SentBatch


def claimed_through(integration_id) -> ScalarSelect:
    """The integration's claimed_through, read in the statement that uses it (one snapshot)."""
    # Its own batch_integrations always: an enclosing query that reads integrations too must not
    # swallow it (auto-correlation would).
    return (
        select(BatchCsvIntegration.claimed_through)
        .where(BatchCsvIntegration.id == integration_id)
        .correlate_except(BatchCsvIntegration)
        .scalar_subquery()
    )


def pending(integration_id: int) -> ColumnElement[bool]:
    """The integration's pending entries (a range of ix_queue_integration)."""
    return and_(QueueEntry.integration_id == integration_id, QueueEntry.id > claimed_through(integration_id))


def entry_is_pending() -> ColumnElement[bool]:
    """Whether the QueueEntry row of the enclosing query is pending in its integration."""
    return QueueEntry.id > claimed_through(QueueEntry.integration_id)


def in_file(batch: SentBatch) -> ColumnElement[bool]:
    """The entries of a file that claimed from the queue (none for one without a range)."""
    if batch.entries_through is None or batch.entries_after is None:
        return false()
    return and_(
        QueueEntry.integration_id == batch.integration_id,
        QueueEntry.id > batch.entries_after,
        QueueEntry.id <= batch.entries_through,
    )


def claimed(integration_id: int) -> ColumnElement[bool]:
    """The integration's entries that are in some file (every claim so far, one just made included)."""
    return and_(QueueEntry.integration_id == integration_id, QueueEntry.id <= claimed_through(integration_id))


def file_of_entry(column=SentBatch.id) -> ScalarSelect:
    """A column (the id) of the file holding the QueueEntry row of the enclosing query (NULL while it is pending).

    The first range of its integration that ends at or after the entry's id (ix_sent_entries);
    ranges of one integration never overlap.
    """
    return (
        select(column)
        .where(
            SentBatch.integration_id == QueueEntry.integration_id,
            SentBatch.entries_through >= QueueEntry.id,
            SentBatch.entries_after < QueueEntry.id,
        )
        .order_by(SentBatch.entries_through)
        .limit(1)
        .correlate(QueueEntry)
        .scalar_subquery()
    )


def requeue(batch: SentBatch) -> int:
    """Return a file's entries to pending, in their order, after every entry pending now; returns how many.

    Under the integration's row lock (the caller's). The entries take new ids above
    everything (their old ones lie inside claimed ranges), drawn in queue order, and the file
    gives up its range. Its lead count stays what it sent.
    """
    if batch.entries_through is None:
        return 0
    span = in_file(batch)
    if db.session.get_bind().dialect.name == "postgresql":
        # Ids from the table's sequence, drawn in queue order: intake draws from it too.
        moved = db.session.execute(
            text(
                """
                UPDATE queue_entries q SET id = m.new_id
                FROM (
                    SELECT id, nextval(pg_get_serial_sequence('queue_entries', 'id')) AS new_id
                    FROM (SELECT id FROM queue_entries WHERE integration_id = :i AND id > :a AND id <= :t ORDER BY id OFFSET 0) s
                ) m
                WHERE q.id = m.id
                """
            ),
            {"i": batch.integration_id, "a": batch.entries_after, "t": batch.entries_through},
        ).rowcount
    else:
        # SQLite writes one transaction at a time (this one holds the lock): a shift past the
        # largest id keeps their order and meets no other id.
        top = db.session.scalar(select(func.max(QueueEntry.id))) or 0
        moved = db.session.execute(
            update(QueueEntry)
            .where(span)
            .values(id=QueueEntry.id + (top - batch.entries_after))
            .execution_options(synchronize_session=False)
        ).rowcount
    db.session.execute(
        update(SentBatch)
        .where(SentBatch.id == batch.id)
        .values(entries_after=None, entries_through=None)
        .execution_options(synchronize_session=False)
    )
    return moved
