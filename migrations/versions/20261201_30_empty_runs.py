"""Empty runs: a partial index so the Sent lists can leave them out and still page by index alone

sent_batches.status gains the value 'empty' (a scheduled run with nothing to send; no schema
change for that). The Sent table and API hide those rows by default (status <> 'empty'); with
this index on (enterprise_id, id, status) for every other row, the default page, its deep pages
and its count stay index-only scans, as they were before the filter existed (status is in the
index because SQLite checks the query's own status term against it; PostgreSQL would not need it).

Revision ID: 20261201_30_empty_runs
Revises: 20261201_20_sent_name_trigrams
Create Date: 2026-12-01 01:40:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261201_30_empty_runs"
down_revision = "20261201_20_sent_name_trigrams"
branch_labels = None
depends_on = None

FILES = sa.text("status <> 'empty'")


def upgrade():
    op.create_index(
        "ix_sent_enterprise_files",
        "sent_batches",
        ["enterprise_id", "id", "status"],
        postgresql_where=FILES,
        sqlite_where=FILES,
    )


def downgrade():
    op.drop_index("ix_sent_enterprise_files", table_name="sent_batches")
