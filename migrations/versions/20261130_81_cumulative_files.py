"""Cumulative files: integrations choose "new leads only" or "cumulative" (with a window)

batch_integrations gains lead_mode ("new", today's behaviour, for every existing row)
and cumulative_window ("all"); sent_batches gains cumulative (false for every file sent
so far); batch_leads records the leads of each cumulative file in file order, so the
Sent View and the file builder show exactly what that file held.

Revision ID: 20261130_81_cumulative
Revises: 20261130_80_cumulative
Create Date: 2026-11-30 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_81_cumulative"
down_revision = "20261130_80_cumulative"
branch_labels = None
depends_on = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.add_column(sa.Column("lead_mode", sa.String(length=12), server_default="new", nullable=False))
        batch_op.add_column(sa.Column("cumulative_window", sa.String(length=12), server_default="all", nullable=False))
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.add_column(sa.Column("cumulative", sa.Boolean(), server_default=sa.false(), nullable=False))
    op.create_table(
        "batch_leads",
        sa.Column("id", _ID, nullable=False),
        sa.Column("batch_id", sa.Integer(), nullable=False),
        sa.Column("lead_id", _ID, nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["sent_batches.id"], name="fk_batch_leads_batch_id_sent_batches"),
        sa.ForeignKeyConstraint(["lead_id"], ["leads.id"], name="fk_batch_leads_lead_id_leads"),
        sa.PrimaryKeyConstraint("id", name="pk_batch_leads"),
    )
    op.create_index("ix_batch_leads_batch", "batch_leads", ["batch_id", "id"])


def downgrade():
    op.drop_index("ix_batch_leads_batch", table_name="batch_leads")
    op.drop_table("batch_leads")
    with op.batch_alter_table("sent_batches") as batch_op:
        batch_op.drop_column("cumulative")
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_column("cumulative_window")
        batch_op.drop_column("lead_mode")
