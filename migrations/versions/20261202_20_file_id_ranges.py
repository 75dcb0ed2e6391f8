"""A file owns a range of its integration's queue ids; a claim no longer rewrites each entry

Until now a claim set queue_entries.sent_batch_id on every entry it took: a 1,000,000-lead
file rewrote 1,000,000 rows and their index entries (4.0 s with no secondary index at all,
10.7 s with the five there were; README "Performance"). Now:

- batch_integrations.claimed_through: every entry of the integration with an id up to it is
  in a file, every entry above it is pending;
- sent_batches.entries_after / entries_through: the file's entries are its integration's
  entries with ids in (entries_after, entries_through];
- queue_entries.sent_batch_id and its two partial indexes go; one index on
  (integration_id, id) serves "pending", "in this file" and "the whole history".

Existing entries are made contiguous first. Where an integration's entries, in id order,
are not already "file by file, then pending" (an entry queued while an earlier claim ran, or
leads requeued from a failed file), that integration's entries take new ids past every id
in that order. Their order inside each file and in the pending queue does not change. Nothing
refers to a queue entry's id.

Revision ID: 20261202_20_file_id_ranges
Revises: 20261202_10_queue_lead_first
Create Date: 2026-12-02 09:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_20_file_id_ranges"
down_revision = "20261202_10_queue_lead_first"
branch_labels = None
depends_on = None

# Pending entries sort after every file: a key above any file id.
_FILE_KEY = "COALESCE(sent_batch_id, 2147483647)"

_RENUMBER = f"""
    WITH keyed AS (
        SELECT integration_id, {_FILE_KEY} AS k,
            lag({_FILE_KEY}) OVER (PARTITION BY integration_id ORDER BY id) AS before
        FROM queue_entries
    ), disordered AS (
        SELECT DISTINCT integration_id FROM keyed WHERE before > k
    ), renumbered AS (
        SELECT q.id, (SELECT max(id) FROM queue_entries)
            + row_number() OVER (ORDER BY q.integration_id, {_FILE_KEY.replace("sent_batch_id", "q.sent_batch_id")}, q.id)
            AS new_id
        FROM queue_entries q JOIN disordered d ON d.integration_id = q.integration_id
    )
    UPDATE queue_entries SET id = renumbered.new_id FROM renumbered WHERE queue_entries.id = renumbered.id
"""

_RANGES = """
    UPDATE sent_batches SET entries_after = r.first_id - 1, entries_through = r.last_id
    FROM (
        SELECT sent_batch_id, min(id) AS first_id, max(id) AS last_id
        FROM queue_entries WHERE sent_batch_id IS NOT NULL GROUP BY sent_batch_id
    ) r
    WHERE sent_batches.id = r.sent_batch_id
"""

_CLAIMED_THROUGH = """
    UPDATE batch_integrations SET claimed_through = COALESCE(
        (SELECT max(id) FROM queue_entries q WHERE q.integration_id = batch_integrations.id
            AND q.sent_batch_id IS NOT NULL),
        0)
"""

_SENT_BATCH_IDS = """
    UPDATE queue_entries SET sent_batch_id = (
        SELECT b.id FROM sent_batches b
        WHERE b.integration_id = queue_entries.integration_id
            AND b.entries_after < queue_entries.id AND b.entries_through >= queue_entries.id
    )
"""

PENDING = sa.text("sent_batch_id IS NULL")
CLAIMED = sa.text("sent_batch_id IS NOT NULL")
RANGED = sa.text("entries_through IS NOT NULL")


def upgrade():
    op.add_column(
        "batch_integrations", sa.Column("claimed_through", sa.BigInteger(), nullable=False, server_default="0")
    )
    op.add_column("sent_batches", sa.Column("entries_after", sa.BigInteger(), nullable=True))
    op.add_column("sent_batches", sa.Column("entries_through", sa.BigInteger(), nullable=True))
    op.execute(_RENUMBER)
    if op.get_bind().dialect.name == "postgresql":
        op.execute("SELECT setval(pg_get_serial_sequence('queue_entries', 'id'), max(id)) FROM queue_entries")
    op.execute(_RANGES)
    op.execute(_CLAIMED_THROUGH)
    op.create_index("ix_queue_integration", "queue_entries", ["integration_id", "id"])
    op.drop_index("ix_queue_pending", table_name="queue_entries")
    op.drop_index("ix_queue_sent_batch", table_name="queue_entries")
    with op.batch_alter_table("queue_entries") as batch_op:
        batch_op.drop_column("sent_batch_id")
    op.create_index(
        "ix_sent_entries",
        "sent_batches",
        ["integration_id", "entries_through"],
        postgresql_where=RANGED,
        sqlite_where=RANGED,
    )


def downgrade():
    with op.batch_alter_table("queue_entries") as batch_op:
        batch_op.add_column(sa.Column("sent_batch_id", sa.Integer(), nullable=True))
    op.execute(_SENT_BATCH_IDS)
    op.create_index(
        "ix_queue_pending", "queue_entries", ["integration_id", "id"], postgresql_where=PENDING, sqlite_where=PENDING
    )
    op.create_index(
        "ix_queue_sent_batch", "queue_entries", ["sent_batch_id", "id"], postgresql_where=CLAIMED, sqlite_where=CLAIMED
    )
    op.drop_index("ix_queue_integration", table_name="queue_entries")
    op.drop_index("ix_sent_entries", table_name="sent_batches")
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.drop_column("entries_through")
        batch_op.drop_column("entries_after")
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_column("claimed_through")
