"""leads: email_key and phone_key, indexed with external_id, for the lead trace

Lead field values are one JSON document per lead; finding a lead by email or phone among
2,000,000 would read every document. Intake now stores the normalised email and phone
beside the document (app/services/lead_keys.py); this revision adds the columns and
fills them for the leads already stored, with one UPDATE spelling the same rules in SQL.

Revision ID: 20261130_50_lead_trace
Revises: 20261130_11_jobs_index
Create Date: 2026-11-30 23:00:00
"""

import sqlalchemy as sa
from alembic import op

from app.services.lead_keys import backfill_sql

revision = "20261130_50_lead_trace"
down_revision = "20261130_11_jobs_index"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("leads") as batch_op:
        batch_op.add_column(sa.Column("email_key", sa.String(length=320), nullable=True))
        batch_op.add_column(sa.Column("phone_key", sa.String(length=64), nullable=True))
    # Filled before indexing: one pass over the table, then each index built once.
    op.execute(backfill_sql(op.get_bind().dialect.name))
    op.create_index("ix_leads_external_id", "leads", ["external_id"])
    op.create_index("ix_leads_email_key", "leads", ["email_key"])
    op.create_index("ix_leads_phone_key", "leads", ["phone_key"])


def downgrade():
    op.drop_index("ix_leads_phone_key", table_name="leads")
    op.drop_index("ix_leads_email_key", table_name="leads")
    op.drop_index("ix_leads_external_id", table_name="leads")
    with op.batch_alter_table("leads") as batch_op:
        batch_op.drop_column("phone_key")
        batch_op.drop_column("email_key")
