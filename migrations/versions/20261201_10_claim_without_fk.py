"""queue_entries.sent_batch_id without its foreign key: the claim of a large file skips a trigger per row

A claim sets sent_batch_id on every claimed queue entry in one UPDATE; the foreign key
ran its check (a SELECT ... FOR KEY SHARE on sent_batches) once per row: 1,000,000 checks
of the same batch id for a 1,000,000-lead file, about 38% of the claim's time measured
on PostgreSQL (EXPLAIN ANALYZE, README "Performance"). The reference stays sound through
the code paths that write it (app.services.claim._claim_entries):

- the only statement that sets a non-NULL sent_batch_id is the claim, and it sets the id
  of the batch it inserted in the same transaction, under the integration's lock;
- the only deletion of a sent batch is the claim's own batch that claimed no entries;
- requeue sets sent_batch_id back to NULL.

Revision ID: 20261201_10_claim_without_fk
Revises: 20261130_81_cumulative
Create Date: 2026-12-01 01:50:00
"""

from alembic import op

revision = "20261201_10_claim_without_fk"
down_revision = "20261130_81_cumulative"
branch_labels = None
depends_on = None

FK = "fk_queue_entries_sent_batch_id_sent_batches"


def upgrade():
    with op.batch_alter_table("queue_entries") as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")


def downgrade():
    with op.batch_alter_table("queue_entries") as batch_op:
        batch_op.create_foreign_key(FK, "sent_batches", ["sent_batch_id"], ["id"])
