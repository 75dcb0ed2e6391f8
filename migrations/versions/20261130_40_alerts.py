"""alerts and integration health: alert_settings, alert_events, alert_attempts; batch_integrations
gains pause_after_failures, consecutive_failures, paused_at, last_file_status, last_file_at

Existing integrations get the default auto-pause threshold (5), no failure streak (counting
starts with the first file that ends after the upgrade) and, as a data migration, their last
file's status and time from their newest delivered or failed file, so the Pending table's
health column is right from the first page after the upgrade.

Revision ID: 20261130_40_alerts
Revises: 20261130_60_user_timezone
Create Date: 2026-11-30 22:30:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

import app.models.types

revision = "20261130_40_alerts"
down_revision = "20261130_60_user_timezone"
branch_labels = None
depends_on = None

UtcDateTime = app.models.types.UtcDateTime
JsonDoc = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade():
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.add_column(sa.Column("pause_after_failures", sa.Integer(), server_default="5", nullable=False))
        batch_op.add_column(sa.Column("consecutive_failures", sa.Integer(), server_default="0", nullable=False))
        batch_op.add_column(sa.Column("paused_at", UtcDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_file_status", sa.String(length=12), nullable=True))
        batch_op.add_column(sa.Column("last_file_at", UtcDateTime(timezone=True), nullable=True))

    op.create_table(
        "alert_settings",
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("email_recipients", JsonDoc, nullable=False),
        sa.Column("webhook_urls", JsonDoc, nullable=False),
        sa.Column("webhook_secret", sa.LargeBinary(), nullable=True),
        sa.Column("optional_events", JsonDoc, nullable=False),
        sa.Column("stale_days", sa.Integer(), server_default="3", nullable=False),
        sa.Column("updated_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"]),
        sa.PrimaryKeyConstraint("enterprise_id"),
    )
    op.create_table(
        "alert_events",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=120), nullable=False),
        sa.Column("enterprise_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("integration_id", sa.Integer(), nullable=True),
        sa.Column("batch_id", sa.Integer(), nullable=True),
        sa.Column("payload", JsonDoc, nullable=False),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["batch_id"], ["sent_batches.id"]),
        sa.ForeignKeyConstraint(["enterprise_id"], ["enterprises.id"]),
        sa.ForeignKeyConstraint(["integration_id"], ["batch_integrations.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key"),
    )
    op.create_index("ix_alert_events_enterprise_id", "alert_events", ["enterprise_id", "id"])
    op.create_table(
        "alert_attempts",
        sa.Column("id", BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", BigId, nullable=False),
        sa.Column("channel", sa.String(length=10), nullable=False),
        sa.Column("target", sa.String(length=600), nullable=False),
        sa.Column("ok", sa.Boolean(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("created_at", UtcDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["event_id"], ["alert_events.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_alert_attempts_event", "alert_attempts", ["event_id", "target"])

    # Data: each integration's newest finished file (delivered or failed) becomes its last file.
    op.execute(
        """
        UPDATE batch_integrations SET
            last_file_status = (
                SELECT s.status FROM sent_batches s
                WHERE s.integration_id = batch_integrations.id AND s.status IN ('delivered', 'failed')
                ORDER BY s.id DESC LIMIT 1),
            last_file_at = (
                SELECT COALESCE(s.sent_at, s.updated_at) FROM sent_batches s
                WHERE s.integration_id = batch_integrations.id AND s.status IN ('delivered', 'failed')
                ORDER BY s.id DESC LIMIT 1)
        """
    )


def downgrade():
    op.drop_index("ix_alert_attempts_event", table_name="alert_attempts")
    op.drop_table("alert_attempts")
    op.drop_index("ix_alert_events_enterprise_id", table_name="alert_events")
    op.drop_table("alert_events")
    op.drop_table("alert_settings")
    with op.batch_alter_table("batch_integrations") as batch_op:
        batch_op.drop_column("last_file_at")
        batch_op.drop_column("last_file_status")
        batch_op.drop_column("paused_at")
        batch_op.drop_column("consecutive_failures")
        batch_op.drop_column("pause_after_failures")
