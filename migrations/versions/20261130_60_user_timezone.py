"""users.timezone: the IANA zone a person reads the admin's times in (default UTC)

Revision ID: 20261130_60_user_timezone
Revises: 20261130_90_retention
Create Date: 2026-11-30 23:20:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_60_user_timezone"
down_revision = "20261130_90_retention"
branch_labels = None
depends_on = None


def upgrade():
    # server_default fills the existing rows: everybody reads UTC, as before the upgrade.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("timezone", sa.String(length=64), server_default="UTC", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("timezone")
