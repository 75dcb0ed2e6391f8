"""Rows a real installation holds, written in plain SQL at the revision that first has their tables.

The upgrade test (tests/test_migrations.py) builds a database at each revision of the chain,
inserts the rows of every revision up to it (each set at its own revision, so a revision's rows
never have to be rewritten later), upgrades to head and reads every row back through the models.

A new revision adds an entry to SEEDS only when it needs new data: a new table (the test insists
that every table holds rows), or a column whose migration must be seen carrying real values.
Values are what the app writes (see the models and services); At/Json/Day mark the columns whose
SQL spelling differs from the value the models give back.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from argon2 import PasswordHasher
from cryptography.fernet import Fernet

# The raw bearer token whose sha256 the seeded api_tokens row holds.
API_TOKEN = "bm_upgrade-test-9f1c2e7a4b5d6e8f0a1b2c3d4e5f6a7b"
# The Fernet key the seeded credential is encrypted with (the test app is given it).
CREDENTIAL_KEY = Fernet.generate_key().decode()
PASSWORD = "demo-password"
SFTP_PASSWORD = "partner-sftp-pass"


@dataclass(frozen=True)
class At:
    """A UTC timestamp, written as SQL text the way each backend stores UtcDateTime."""

    text: str

    def sql(self, dialect: str) -> str:
        return self.text if dialect == "sqlite" else self.text + "+00:00"

    def value(self) -> datetime:
        return datetime.fromisoformat(self.text).replace(tzinfo=UTC)


@dataclass(frozen=True)
class Json:
    doc: Any

    def sql(self, dialect: str) -> str:
        return json.dumps(self.doc)

    def value(self) -> Any:
        return self.doc


@dataclass(frozen=True)
class Day:
    text: str

    def sql(self, dialect: str) -> str:
        return self.text

    def value(self) -> date:
        return date.fromisoformat(self.text)


def _ciphertext(secret: Any) -> bytes:
    # The layout app.services.credentials writes: Fernet over {"v": secret}.
    return Fernet(CREDENTIAL_KEY).encrypt(json.dumps({"v": secret}).encode())


# An argon2 hash as app.services.accounts writes it (at minimum cost: only the format matters).
PASSWORD_HASH = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)

FIELDS = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "email", "header": "Email"},
    {"source": "first_name", "header": "First Name"},
]
SNAPSHOT = {
    "format": "csv",
    "delimiter": ";",
    "header": True,
    "quoting": "minimal",
    "line_ending": "crlf",
    "encoding": "utf-8",
    "name_template": "{label}_{batch_id}_{sent_at:%Y%m%d_%H%M%S}",
    "compression": "gzip",
}
SFTP = {
    "host": "127.0.0.1",
    "port": 2222,
    "username": "leads",
    "remoteDir": "/in",
    "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
}
SHA = hashlib.sha256(b"Lead ID;Email;First Name\r\n").hexdigest()

# The first release's tables, parents first.
SEED_0001: dict[str, list[dict[str, Any]]] = {
    "enterprises": [
        {"id": 1, "name": "Acme Lead Co", "created_at": At("2026-01-05 09:30:00")},
        {"id": 2, "name": "Globex Media", "created_at": At("2026-01-06 10:00:00")},
    ],
    "users": [
        {
            "id": 1,
            "enterprise_id": 1,
            "email": "admin@acme.example",
            "password_hash": PASSWORD_HASH,
            "role": "admin",
            "active": True,
            "created_at": At("2026-01-05 09:31:00"),
            "last_login_at": At("2026-02-01 08:15:42.123456"),
        },
        {
            "id": 2,
            "enterprise_id": 2,
            "email": "viewer@globex.example",
            "password_hash": PASSWORD_HASH,
            "role": "viewer",
            "active": False,
            "created_at": At("2026-01-06 10:01:00"),
            "last_login_at": None,
        },
    ],
    "api_tokens": [
        {
            "id": 1,
            "user_id": 1,
            "name": "crm sync",
            "token_hash": hashlib.sha256(API_TOKEN.encode()).hexdigest(),
            "prefix": API_TOKEN[:10],
            "created_at": At("2026-01-07 12:00:00"),
            "last_used_at": None,
            "revoked_at": None,
        }
    ],
    "audit_events": [
        {
            "id": 1,
            "enterprise_id": 1,
            "user_id": 1,
            "actor": "admin@acme.example",
            "action": "integration.create",
            "target_type": "integration",
            "target_id": "1",
            "severity": "high",
            "details": Json({"label": "Partner SFTP", "changed": ["delivery", "schedule"]}),
            "created_at": At("2026-01-08 14:02:03"),
        }
    ],
    "advertisers": [
        {"id": 1, "enterprise_id": 1, "name": "Solar Direct", "created_at": At("2026-01-08 13:00:00")},
        {"id": 2, "enterprise_id": 2, "name": "Umbrella Insurance", "created_at": At("2026-01-08 13:05:00")},
    ],
    "campaigns": [
        {
            "id": 1,
            "enterprise_id": 1,
            "advertiser_id": 1,
            "name": "Solar Leads UK",
            "status": "active",
            "start_date": Day("2026-01-10"),
            "end_date": Day("2026-12-31"),
            "final_batch_at": None,
            "created_at": At("2026-01-08 13:10:00"),
        },
        {
            "id": 2,
            "enterprise_id": 2,
            "advertiser_id": 2,
            "name": "Home Insurance Q1",
            "status": "ended",
            "start_date": Day("2026-01-01"),
            "end_date": Day("2026-03-31"),
            "final_batch_at": At("2026-04-01 06:00:00"),
            "created_at": At("2026-01-08 13:15:00"),
        },
    ],
    "credentials": [
        {
            "id": 1,
            "enterprise_id": 1,
            "name": "partner-sftp",
            "kind": "password",
            "ciphertext": _ciphertext(SFTP_PASSWORD),
            "created_at": At("2026-01-08 13:20:00"),
            "updated_at": At("2026-01-08 13:20:00"),
        }
    ],
    "table_preferences": [
        {
            "id": 1,
            "user_id": 1,
            "table_name": "sent",
            "columns": Json(["id", "label", "status", "leadCount", "sentAt"]),
            "updated_at": At("2026-01-09 09:00:00"),
        }
    ],
    "batch_integrations": [
        {
            "id": 1,
            "enterprise_id": 1,
            "campaign_id": 1,
            "label": "Partner SFTP",
            "enabled": True,
            "schedule_cron": "0 7 * * 1-5",
            "timezone": "Europe/London",
            "next_run_at": At("2026-02-02 07:00:00"),
            "last_sent_at": At("2026-01-30 07:00:05"),
            "file_format": "csv",
            "delimiter": ";",
            "header": True,
            "quoting": "minimal",
            "line_ending": "crlf",
            "encoding": "utf-8",
            "name_template": "{label}_{batch_id}_{sent_at:%Y%m%d_%H%M%S}",
            "compression": "gzip",
            "max_leads_per_file": 5000,
            "send_empty": False,
            "fields": Json(FIELDS),
            "delivery_method": "sftp",
            "delivery": Json(SFTP),
            "credential_id": 1,
            "pending_count": 1,
            "created_at": At("2026-01-08 13:30:00"),
            "updated_at": At("2026-01-30 07:00:05"),
        },
        {
            "id": 2,
            "enterprise_id": 2,
            "campaign_id": 2,
            "label": "Umbrella outbox",
            "enabled": False,
            "schedule_cron": "0 6 * * *",
            "timezone": "UTC",
            "next_run_at": None,
            "last_sent_at": None,
            "file_format": "tsv",
            "delimiter": "\t",
            "header": False,
            "quoting": "all",
            "line_ending": "lf",
            "encoding": "utf-8-sig",
            "name_template": "umbrella_{batch_id}",
            "compression": "none",
            "max_leads_per_file": None,
            "send_empty": True,
            "fields": Json(FIELDS[:2]),
            "delivery_method": "local",
            "delivery": Json({"path": "umbrella"}),
            "credential_id": None,
            "pending_count": 0,
            "created_at": At("2026-01-08 13:35:00"),
            "updated_at": At("2026-01-08 13:35:00"),
        },
    ],
    "leads": [
        {
            "id": 1,
            "campaign_id": 1,
            "external_id": "crm-41",
            "status": "valid",
            "fields": Json({"email": "Ada@Example.com", "first_name": "Ada", "phone": "+44 (20) 7946-0958"}),
            "created_at": At("2026-01-29 16:45:00"),
        },
        {
            "id": 2,
            "campaign_id": 1,
            "external_id": "crm-42",
            "status": "valid",
            "fields": Json({"email": "chloe@example.com", "first_name": "Chloé", "score": 7}),
            "created_at": At("2026-01-31 11:20:00.5"),
        },
    ],
    "sent_batches": [
        {
            "id": 1,
            "enterprise_id": 1,
            "integration_id": 1,
            "advertiser_id": 1,
            "advertiser_name": "Solar Direct",
            "campaign_id": 1,
            "campaign_name": "Solar Leads UK",
            "label": "Partner SFTP",
            "field_mapping": Json(FIELDS),
            "file_settings": Json(SNAPSHOT),
            "delivery_method": "sftp",
            "lead_count": 1,
            "row_count": 1,
            "trigger": "schedule",
            "triggered_by_id": None,
            "triggered_by": "scheduler",
            "resend_of_id": None,
            "status": "delivered",
            "attempts": 1,
            "last_error": None,
            "file_name": "Partner SFTP_1_20260130_070000.csv.gz",
            "storage_key": "1/1/Partner SFTP_1_20260130_070000.csv.gz",
            "size_bytes": 312,
            "sha256": SHA,
            "created_at": At("2026-01-30 07:00:00"),
            "updated_at": At("2026-01-30 07:00:05"),
            "stored_at": At("2026-01-30 07:00:01"),
            "sent_at": At("2026-01-30 07:00:05"),
        },
        {
            "id": 2,
            "enterprise_id": 1,
            "integration_id": 1,
            "advertiser_id": 1,
            "advertiser_name": "Solar Direct",
            "campaign_id": 1,
            "campaign_name": "Solar Leads UK",
            "label": "Partner SFTP",
            "field_mapping": Json(FIELDS),
            "file_settings": Json(SNAPSHOT),
            "delivery_method": "sftp",
            "lead_count": 1,
            "row_count": 1,
            "trigger": "resend",
            "triggered_by_id": 1,
            "triggered_by": "admin@acme.example",
            "resend_of_id": 1,
            "status": "failed",
            "attempts": 3,
            "last_error": "SFTP: connection refused by 127.0.0.1:2222",
            "file_name": "Partner SFTP_1_20260130_070000.csv.gz",
            "storage_key": "1/1/Partner SFTP_1_20260130_070000.csv.gz",
            "size_bytes": 312,
            "sha256": SHA,
            "created_at": At("2026-01-31 09:00:00"),
            "updated_at": At("2026-01-31 09:05:00"),
            "stored_at": None,
            "sent_at": None,
        },
    ],
    "queue_entries": [
        {"id": 1, "integration_id": 1, "lead_id": 1, "queued_at": At("2026-01-29 16:45:00"), "sent_batch_id": 1},
        {"id": 2, "integration_id": 1, "lead_id": 2, "queued_at": At("2026-01-31 11:20:00.5"), "sent_batch_id": None},
    ],
}

WEBHOOK_SECRET = "upgrade-webhook-secret-0123456789"

# Alerts (20261130_40_alerts): an enterprise's settings, one event, its two attempts.
SEED_ALERTS: dict[str, list[dict[str, Any]]] = {
    "alert_settings": [
        {
            "enterprise_id": 1,
            "email_recipients": Json(["ops@acme.example"]),
            "webhook_urls": Json(["https://hooks.acme.example/batch-manager"]),
            "webhook_secret": _ciphertext(WEBHOOK_SECRET),
            "optional_events": Json(["file_empty"]),
            "stale_days": 3,
            "updated_at": At("2026-02-01 08:00:00"),
        }
    ],
    "alert_events": [
        {
            "id": 1,
            "key": "file_failed-2-3",
            "enterprise_id": 1,
            "kind": "file_failed",
            "integration_id": 1,
            "batch_id": 2,
            "payload": Json({"id": "file_failed-2-3", "type": "file_failed", "message": "File #2 failed"}),
            "created_at": At("2026-02-01 08:00:01"),
        }
    ],
    "alert_attempts": [
        {
            "id": 1,
            "event_id": 1,
            "channel": "email",
            "target": "ops@acme.example",
            "ok": True,
            "status_code": None,
            "error": None,
            "created_at": At("2026-02-01 08:00:02"),
        },
        {
            "id": 2,
            "event_id": 1,
            "channel": "webhook",
            "target": "https://hooks.acme.example/batch-manager",
            "ok": False,
            "status_code": 503,
            "error": "webhook answered HTTP 503",
            "created_at": At("2026-02-01 08:00:03"),
        },
    ],
}

# Revision id -> the rows it introduces, written right after the database reaches it.
SEEDS: dict[str, dict[str, list[dict[str, Any]]]] = {
    "0001": SEED_0001,
    "20261130_40_alerts": SEED_ALERTS,
    # A row as app.services.lead_status writes it when a waiting lead is rejected.
    "20261130_80_cumulative": {
        "lead_drops": [
            {"id": 1, "integration_id": 1, "lead_id": 2, "status": "rejected", "dropped_at": At("2026-02-01 09:00:00")}
        ],
    },
    # The recorded lead list of a file, as a cumulative send writes it.
    "20261130_81_cumulative": {"batch_leads": [{"id": 1, "batch_id": 1, "lead_id": 1}]},
}


def sql_value(value: Any, dialect: str) -> Any:
    return value.sql(dialect) if isinstance(value, At | Json | Day) else value


def model_value(value: Any) -> Any:
    return value.value() if isinstance(value, At | Json | Day) else value
