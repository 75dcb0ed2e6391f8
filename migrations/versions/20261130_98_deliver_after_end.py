"""Per integration: keep scheduled sends going after the campaign's final batch, or stop them

batch_integrations.deliver_after_end, NOT NULL with server default true: existing
integrations keep sending after their campaign ends, as they did before the setting existed.

Revision ID: 20261130_98_deliver_after_end
Revises: 20261130_97_delivery_caps
Create Date: 2026-11-30 23:50:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_98_deliver_after_end"
down_revision = "20261130_97_delivery_caps"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.add_column(sa.Column("deliver_after_end", sa.Boolean(), server_default=sa.true(), nullable=False))


def downgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_column("deliver_after_end")
