"""Platform operators (users.is_platform_operator) and the next automatic retry of a file.

Revision ID: 20261130_10_platform_operator
Revises: 20261130_20_session_version
Create Date: 2026-11-30 22:10:00

Every existing user starts as a tenant user (false): operators are named afterwards with
`flask users set-operator EMAIL --on`. next_attempt_at starts empty: files in flight get
it at their next transient failure.
"""

import sqlalchemy as sa
from alembic import op

import app.models.types

revision = "20261130_10_platform_operator"
down_revision = "20261130_20_session_version"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.add_column(sa.Column("is_platform_operator", sa.Boolean(), server_default=sa.false(), nullable=False))
    with op.batch_alter_table("sent_batches", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", app.models.types.UtcDateTime(timezone=True), nullable=True))


def downgrade():
    with op.batch_alter_table("sent_batches", schema=None) as batch_op:
        batch_op.drop_column("next_attempt_at")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("is_platform_operator")
