"""batch_integrations: protection (zip-aes | xlsx-password | pgp), its credential, pgp_armor

Protected files (README "Protected files"): the integration says how its files are locked
and which Credential Manager entry holds the password or the advertiser's public key.
Existing integrations keep sending plain files ("none").

Revision ID: 20261130_70_protected_files
Revises: 20261130_98_deliver_after_end
Create Date: 2026-11-30 23:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261130_70_protected_files"
down_revision = "20261130_98_deliver_after_end"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.add_column(sa.Column("protection", sa.String(length=16), server_default="none", nullable=False))
        batch_op.add_column(sa.Column("protection_credential_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("pgp_armor", sa.Boolean(), server_default=sa.true(), nullable=False))
        batch_op.create_foreign_key(
            "fk_batch_integrations_protection_credential_id_credentials",
            "credentials",
            ["protection_credential_id"],
            ["id"],
        )


def downgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_constraint("fk_batch_integrations_protection_credential_id_credentials", type_="foreignkey")
        batch_op.drop_column("pgp_armor")
        batch_op.drop_column("protection_credential_id")
        batch_op.drop_column("protection")
