"""Personal data: retention settings per enterprise, purged/rewritten files, redacted leads

enterprises.retention_file_days / retention_lead_days: NULL means the platform default
(RETENTION_FILE_DAYS / RETENTION_LEAD_DAYS, unset = keep forever), so an upgrade changes
nothing for existing installations. sent_batches.purged_at / purge_reason / rewritten_at and
leads.redacted_at record what the retention job and erasures did. New nullable columns
only: no data migration.

Revision ID: 20261130_90_retention
Revises: 20261130_60_local_folders
Create Date: 2026-11-30 23:20:00
"""

import sqlalchemy as sa
from alembic import op

import app.models.types

revision = "20261130_90_retention"
down_revision = "20261130_60_local_folders"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("enterprises") as batch_op:
        batch_op.add_column(sa.Column("retention_file_days", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("retention_lead_days", sa.Integer(), nullable=True))
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.add_column(sa.Column("purged_at", app.models.types.UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("purge_reason", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("rewritten_at", app.models.types.UtcDateTime(timezone=True), nullable=True))
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(sa.Column("redacted_at", app.models.types.UtcDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_column("redacted_at")
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.drop_column("rewritten_at")
        batch_op.drop_column("purge_reason")
        batch_op.drop_column("purged_at")
    with op.batch_alter_table("enterprises") as batch_op:
        batch_op.drop_column("retention_lead_days")
        batch_op.drop_column("retention_file_days")
