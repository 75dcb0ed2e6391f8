"""lead_drops: leads that left a pending queue because their status stopped being valid

A lead's status can change after intake (PATCH /api/v4/campaigns/{id}/leads or a
re-post). An invalid lead leaves every pending queue entry; this table remembers
which queue it left, with the status and time, for the Pending View's "show dropped"
and so that a lead made valid again re-enters the same queues. New table, no data.

Revision ID: 20261130_80_cumulative
Revises: 20261130_70_protected_files
Create Date: 2026-11-30 23:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_80_cumulative"
down_revision = "20261130_70_protected_files"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    op.create_table(
        "lead_drops",
        sa.Column("id", _ID, nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", _ID, nullable=False),
        sa.Column("status", sa.String(length=30), nullable=False),
        sa.Column("dropped_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["integration_id"], ["batch_integrations.id"], name="fk_lead_drops_integration_id_batch_integrations"
        ),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_lead_drops_lead_id_leads"),
        sa.PrimaryKeyConstraint("id", name="pk_lead_drops"),
    )
    op.create_index("uq_lead_drops_integration_lead", "lead_drops", ["integration_id", "lead_id"], unique=True)
    op.create_index("ix_lead_drops_lead", "lead_drops", ["lead_id"])


def downgrade():
    op.drop_index("ix_lead_drops_lead", table_name="lead_drops")
    op.drop_index("uq_lead_drops_integration_lead", table_name="lead_drops")
    op.drop_table("lead_drops")
