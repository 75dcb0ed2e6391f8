"""Sent name filters: ix_sent_enterprise_files carries the three snapshot names (PostgreSQL INCLUDE)

The Sent lists count a name filter ("contains") in key order, newest first, up to 1,001 matches
(CappedCount / the API's capped total). For a common word that walk visits tens of thousands of
rows: at bench scale "acme" (5% of files) discarded 22,748 rows, each a heap fetch, 24-30 ms of
PostgreSQL time a page. With the names in the partial index the walk is an index-only scan:
10 ms for "acme", 5 ms for "north" (EXPLAIN ANALYZE, warm). SQLite has no INCLUDE and keeps the
index as it was.

Revision ID: 20261201_40_sent_names_covering
Revises: 20261201_30_empty_runs
Create Date: 2026-12-01 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "20261201_40_sent_names_covering"
down_revision = "20261201_30_empty_runs"
branch_labels = None
depends_on = None

FILES = sa.text("status <> 'empty'")
NAMES = ["advertiser_name", "campaign_name", "label"]


def _recreate(include: list[str]) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    op.drop_index("ix_sent_enterprise_files", table_name="sent_batches")
    op.create_index(
        "ix_sent_enterprise_files",
        "sent_batches",
        ["enterprise_id", "id", "status"],
        postgresql_where=FILES,
        postgresql_include=include,
    )


def upgrade():
    _recreate(NAMES)


def downgrade():
    _recreate([])
