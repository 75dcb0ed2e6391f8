"""users.session_version: server-side revocation of login sessions

Every session cookie carries the user's session version; logout, password, role
and access changes bump it, which ends the sessions issued before.

Revision ID: 20261130_20_session_version
Revises: 0001
Create Date: 2026-11-30 22:10:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_20_session_version"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade():
    # server_default fills the existing rows; their old cookies (id only) stop working,
    # which signs everybody out once after the upgrade.
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("session_version", sa.Integer(), server_default="1", nullable=False))


def downgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_version")
