"""queue_entries: one index fewer for every claimed and every queued entry

A claim rewrites each claimed queue entry (sent_batch_id is set), and PostgreSQL then
writes a new entry in every index of the table. Measured on the full-scale data (one
UPDATE of 1,000,000 pending entries in a rolled-back transaction, README "Performance"),
each index cost 1.6-3.2 s of a 10.7 s claim. Two of them indexed the same pair:

- uq_queue_integration_lead (integration_id, lead_id) kept one entry per lead and
  integration, and ix_queue_entries_lead_id (lead_id) found a lead's entries. One unique
  index on (lead_id, integration_id) does both: the uniqueness is the same pair, and a
  lead's entries are its leading column. The only reader of "every entry of an
  integration" (app.services.cumulative) now goes through the pending index and the
  file index instead.
- ix_queue_sent_batch (sent_batch_id, id) also held every pending entry under NULL; it
  now leaves them out (queries always ask for one file's id), so intake writes nothing to it.

Revision ID: 20261202_10_queue_lead_first
Revises: 20261201_40_sent_names_covering
Create Date: 2026-12-02 05:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261202_10_queue_lead_first"
down_revision = "20261201_40_sent_names_covering"
branch_labels = None
depends_on = None

CLAIMED = sa.text("sent_batch_id IS NOT NULL")


def upgrade():
    op.create_index("uq_queue_lead_integration", "queue_entries", ["lead_id", "integration_id"], unique=True)
    op.drop_index("uq_queue_integration_lead", table_name="queue_entries")
    op.drop_index("ix_queue_entries_lead_id", table_name="queue_entries")
    op.drop_index("ix_queue_sent_batch", table_name="queue_entries")
    op.create_index(
        "ix_queue_sent_batch",
        "queue_entries",
        ["sent_batch_id", "id"],
        postgresql_where=CLAIMED,
        sqlite_where=CLAIMED,
    )


def downgrade():
    op.drop_index("ix_queue_sent_batch", table_name="queue_entries")
    op.create_index("ix_queue_sent_batch", "queue_entries", ["sent_batch_id", "id"])
    op.create_index("ix_queue_entries_lead_id", "queue_entries", ["lead_id"])
    op.create_index("uq_queue_integration_lead", "queue_entries", ["integration_id", "lead_id"], unique=True)
    op.drop_index("uq_queue_lead_integration", table_name="queue_entries")
