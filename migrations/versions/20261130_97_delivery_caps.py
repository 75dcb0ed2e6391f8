"""Delivery caps: at most N leads per day / week / month per integration

batch_integrations.cap_leads / cap_period: both NULL (no cap) for existing rows, so an
upgrade changes nothing. sent_batches.counted_at: the instant whose window a file's leads
count against; NULL for existing files (they predate caps and count for nothing), with an
index for the per-window sum the claim reads. New nullable columns only: no data migration.

Revision ID: 20261130_97_delivery_caps
Revises: 20261130_40_alerts
Create Date: 2026-11-30 23:45:00
"""

import sqlalchemy as sa
from alembic import op

import app.models.types

revision = "20261130_97_delivery_caps"
down_revision = "20261130_40_alerts"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.add_column(sa.Column("cap_leads", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("cap_period", sa.String(length=5), nullable=True))
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.add_column(sa.Column("counted_at", app.models.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_sent_integration_counted", ["integration_id", "counted_at"], unique=False)


def downgrade():
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.drop_index("ix_sent_integration_counted")
        batch_op.drop_column("counted_at")
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_column("cap_period")
        batch_op.drop_column("cap_leads")
