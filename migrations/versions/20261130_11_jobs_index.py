"""sent_batches (enterprise_id, status, updated_at): the Jobs view's index

Without it the Jobs view read every file of the enterprise to find the few in flight,
failed or just delivered: the page took 277 ms p50 on SQLite and 68 ms on PostgreSQL at
200,000 files, 14 and 18 ms with it (and the id-subquery scope in admin_views/jobs.py).

Revision ID: 20261130_11_jobs_index
Revises: 20261130_30_send_lease
Create Date: 2026-11-30 22:40:00
"""

from alembic import op

revision = "20261130_11_jobs_index"
down_revision = "20261130_30_send_lease"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sent_batches", schema=None) as batch_op:
        batch_op.create_index(
            "ix_sent_enterprise_status_updated", ["enterprise_id", "status", "updated_at"], unique=False
        )


def downgrade():
    with op.batch_alter_table("sent_batches", schema=None) as batch_op:
        batch_op.drop_index("ix_sent_enterprise_status_updated")
