"""sent_batches: trigram (pg_trgm GIN) indexes for the advertiser / campaign / label name filters

The Sent table's name filters are case-insensitive contains (`name ILIKE '%solar%'`): a
B-tree cannot find those rows, so PostgreSQL read every name of the enterprise (128,000 index
entries discarded to count 1,001 for "Solar" at 200,000 files) and a rare name read the whole
table. The trigram indexes find the candidate rows directly; pg_trgm is a trusted extension, so
a database owner without superuser can create it. SQLite has no trigrams: the same index names
are plain indexes there, so that the schema matches the models on both.

Revision ID: 20261201_20_sent_name_trigrams
Revises: 20261201_10_claim_without_fk
Create Date: 2026-12-01 01:30:00
"""

from alembic import op

revision = "20261201_20_sent_name_trigrams"
down_revision = "20261201_10_claim_without_fk"
branch_labels = None
depends_on = None

COLUMNS = ("advertiser_name", "campaign_name", "label")


def upgrade():
    if op.get_bind().dialect.name != "postgresql":
        with op.batch_alter_table("sent_batches", schema=None) as batch_op:
            for col in COLUMNS:
                batch_op.create_index(f"ix_sent_{col}_trgm", [col], unique=False)
        return
    op.execute("CREATE EXTENSION IF NOT EXISTS pg_trgm")
    # The operator class by its schema: the extension may already live in another schema of
    # the database than the one on this connection's search_path.
    schema = (
        op.get_bind()
        .exec_driver_sql(
            "SELECT n.nspname FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace"
            " WHERE e.extname = 'pg_trgm'"
        )
        .scalar_one()
    )
    for col in COLUMNS:
        op.execute(f'CREATE INDEX ix_sent_{col}_trgm ON sent_batches USING gin ({col} "{schema}".gin_trgm_ops)')


def downgrade():
    with op.batch_alter_table("sent_batches", schema=None) as batch_op:
        for col in COLUMNS:
            batch_op.drop_index(f"ix_sent_{col}_trgm")
