"""All models, importable from one place (and so all known to Alembic)."""

from app.models.alerts import AlertAttempt, AlertEvent, AlertSettings
from app.models.audit import AuditEvent, TablePreference
from app.models.batches import (
    IN_FLIGHT,
    NOT_EMPTY_RUN,
    BatchLead,
    BatchStatus,
    LeadDrop,
    QueueEntry,
    SentBatch,
    Trigger,
)
from app.models.campaigns import VALID_LEAD_STATUSES, Advertiser, Campaign, Lead
from app.models.integrations import BatchCsvIntegration, Credential
from app.models.tenancy import ApiToken, Enterprise, Role, User

__all__ = [
    "IN_FLIGHT",
    "NOT_EMPTY_RUN",
    "VALID_LEAD_STATUSES",
    "Advertiser",
    "AlertAttempt",
    "AlertEvent",
    "AlertSettings",
    "ApiToken",
    "AuditEvent",
    "BatchCsvIntegration",
    "BatchLead",
    "BatchStatus",
    "Campaign",
    "Credential",
    "Enterprise",
    "Lead",
    "LeadDrop",
    "QueueEntry",
    "Role",
    "SentBatch",
    "TablePreference",
    "Trigger",
    "User",
]
