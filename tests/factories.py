"""Factories for test data; every object is real and committed."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from datetime import date, timedelta

from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, Campaign, Enterprise, User
from app.services import accounts
from app.services.intake import ingest_leads

PASSWORD = "correct-horse-battery"
_seq = itertools.count(1)

DEFAULT_FIELDS = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "lead.externalId", "header": "External ID"},
    {"source": "email", "header": "Email"},
    {"source": "first_name", "header": "First Name"},
]


def user(enterprise_name: str, role: str = "admin", email: str | None = None) -> User:
    return accounts.create_user(email or f"user{next(_seq)}@example.com", role, enterprise_name, PASSWORD)


def operator(email: str = "operator@platform.example.com") -> User:
    """A platform operator: admin of an enterprise of its own, flagged by the CLI's service call."""
    return accounts.create_user(email, "admin", "Platform", PASSWORD, platform_operator=True)


def token(u: User, name: str = "test") -> str:
    return accounts.create_token(u, name)[1]


def advertiser(enterprise: Enterprise, name: str | None = None) -> Advertiser:
    obj = Advertiser(enterprise_id=enterprise.id, name=name or f"Advertiser {next(_seq)}")
    db.session.add(obj)
    db.session.commit()
    return obj


def campaign(adv: Advertiser, name: str | None = None, **kw) -> Campaign:
    obj = Campaign(
        enterprise_id=adv.enterprise_id,
        advertiser_id=adv.id,
        name=name or f"Campaign {next(_seq)}",
        status=kw.pop("status", "active"),
        start_date=kw.pop("start_date", date.today() - timedelta(days=10)),
        end_date=kw.pop("end_date", date.today() + timedelta(days=30)),
        **kw,
    )
    db.session.add(obj)
    db.session.commit()
    return obj


def integration(camp: Campaign, label: str | None = None, **kw) -> BatchCsvIntegration:
    n = next(_seq)
    defaults = {
        "label": label or f"Feed {n}",
        "schedule_cron": "0 6 * * *",
        "timezone": "UTC",
        "fields": DEFAULT_FIELDS,
        "delivery_method": "local",
        "delivery": {"directory": f"integration-{n}"},
    }
    defaults.update(kw)
    obj = BatchCsvIntegration(enterprise_id=camp.enterprise_id, campaign_id=camp.id, **defaults)
    db.session.add(obj)
    db.session.commit()
    return obj


def leads(camp: Campaign, count: int, status: str = "valid", prefix: str = "ext") -> dict:
    payload = [
        {
            "externalId": f"{prefix}-{i}",
            "status": status,
            "fields": {"email": f"person{i}@example.com", "first_name": f"Person {i}"},
        }
        for i in range(count)
    ]
    result = {"accepted": 0, "duplicates": 0, "queued": 0, "updated": 0}
    for start in range(0, count, 10_000):
        for k, v in ingest_leads(camp, payload[start : start + 10_000]).to_dict().items():
            result[k] += v
    return result


@dataclass
class Tenant:
    enterprise: Enterprise
    users: dict[str, User]
    tokens: dict[str, str]
    advertiser: Advertiser
    campaign: Campaign
    integration: BatchCsvIntegration


@dataclass
class World:
    """Enterprise A and enterprise B, each with one user and token per role."""

    a: Tenant
    b: Tenant
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls) -> World:
        return cls(a=_tenant("Enterprise A"), b=_tenant("Enterprise B"))


def _tenant(name: str) -> Tenant:
    users = {
        role: user(name, role, email=f"{role}@{name.split()[-1].lower()}.example.com")
        for role in ("admin", "manager", "viewer")
    }
    enterprise = users["admin"].enterprise
    adv = advertiser(enterprise, f"{name} Advertiser")
    camp = campaign(adv, f"{name} Campaign")
    integ = integration(camp, f"{name} Feed")
    return Tenant(
        enterprise=enterprise,
        users=users,
        tokens={role: token(u) for role, u in users.items()},
        advertiser=adv,
        campaign=camp,
        integration=integ,
    )
