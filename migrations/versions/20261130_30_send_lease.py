"""sent_batches: the lease of the job working on a batch (lease_owner, lease_until)

A killed work horse is noticed when its lease expires (about a minute) instead of
after the job timeout; see app/services/lease.py. Both columns are NULL on existing
rows, which means "no job holds this batch", as it should after an upgrade.

Revision ID: 20261130_30_send_lease
Revises: 20261130_10_platform_operator
Create Date: 2026-11-30 22:00:00
"""

import sqlalchemy as sa
from alembic import op

import app.models.types

revision = "20261130_30_send_lease"
down_revision = "20261130_10_platform_operator"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.add_column(sa.Column("lease_owner", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("lease_until", app.models.types.UtcDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.drop_column("lease_until")
        batch_op.drop_column("lease_owner")
