"""Demo data: one enterprise with advertisers, campaigns, integrations and leads."""

from __future__ import annotations

import random
from collections.abc import Callable
from datetime import date, timedelta

from sqlalchemy import select

from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, Campaign, Role, User
from app.models.types import utcnow
from app.services import accounts, scheduling
from app.services.intake import ingest_leads

DEMO_ENTERPRISE = "Demo Co"
DEMO_PASSWORD = "demo-password"  # noqa: S105 - the documented demo login
DEMO_USERS = {
    "admin@demo.local": Role.ADMIN,
    "manager@demo.local": Role.MANAGER,
    "viewer@demo.local": Role.VIEWER,
}
# The platform operator of the demo: the only login that opens the RQ dashboard (every
# tenant's jobs), in an enterprise of its own so it is no tenant's admin.
DEMO_OPERATOR = "operator@demo.local"
OPERATOR_ENTERPRISE = "Platform"
ADVERTISERS = ["Acme Insurance", "Borealis Energy", "Cobalt Broadband", "Delta Motors", "Evergreen Finance"]
SCHEDULES = [
    ("0 6 * * *", "Europe/London"),
    ("30 9 * * 1-5", "America/New_York"),
    ("0 * * * *", "UTC"),
    ("0 8 * * 1", "Europe/Berlin"),
    ("15 17 * * 1-5", "Asia/Singapore"),
    ("0 */4 * * *", "Australia/Sydney"),
]
FIRST = ["Ada", "Grace", "Alan", "Linus", "Margaret", "Ken", "Barbara", "Dennis", "Frances", "Guido"]
LAST = ["Lovelace", "Hopper", "Turing", "Torvalds", "Hamilton", "Thompson", "Liskov", "Ritchie", "Allen"]
FIELDS = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "first_name", "header": "First Name"},
    {"source": "last_name", "header": "Last Name"},
    {"source": "email", "header": "Email"},
    {"source": "phone", "header": "Phone"},
    {"source": "lead.createdAt", "header": "Captured At"},
    {"source": "campaign.name", "header": "Campaign"},
]


def is_empty() -> bool:
    return db.session.scalar(select(User.id).limit(1)) is None


def seed(leads: int = 20_000, progress: Callable[[int], None] | None = None) -> dict:
    """Create the demo data; running it again adds nothing that is already there."""
    rng = random.Random(42)
    for email, role in DEMO_USERS.items():
        if db.session.scalar(select(User.id).where(User.email == email)) is None:
            accounts.create_user(email, role.value, DEMO_ENTERPRISE, DEMO_PASSWORD)
    if db.session.scalar(select(User.id).where(User.email == DEMO_OPERATOR)) is None:
        accounts.create_user(
            DEMO_OPERATOR, Role.ADMIN.value, OPERATOR_ENTERPRISE, DEMO_PASSWORD, platform_operator=True
        )
    enterprise = accounts.get_or_create_enterprise(DEMO_ENTERPRISE)

    campaigns: list[Campaign] = []
    integration_no = 0
    today = date.today()
    for a_index, adv_name in enumerate(ADVERTISERS):
        advertiser = _get_or_add(Advertiser, enterprise_id=enterprise.id, name=adv_name)
        for c_index in range(4):
            campaign = _get_or_add(
                Campaign,
                enterprise_id=enterprise.id,
                advertiser_id=advertiser.id,
                name=f"{adv_name.split()[0]} {['Spring', 'Summer', 'Autumn', 'Winter'][c_index]} Leads",
                defaults={
                    "status": "active",
                    "start_date": today - timedelta(days=30 + 7 * c_index),
                    "end_date": today + timedelta(days=14 + 21 * c_index + a_index),
                },
            )
            campaigns.append(campaign)
            for i_index in range(1 + (c_index + a_index) % 2):
                cron, tz = SCHEDULES[integration_no % len(SCHEDULES)]
                label = f"{adv_name.split()[0]} {['Daily', 'CRM', 'Partner'][i_index]} feed {c_index + 1}"
                _get_or_add(
                    BatchCsvIntegration,
                    enterprise_id=enterprise.id,
                    campaign_id=campaign.id,
                    label=label,
                    defaults={
                        "schedule_cron": cron,
                        "timezone": tz,
                        "next_run_at": scheduling.next_run(cron, tz, utcnow()),
                        "fields": FIELDS,
                        "delivery_method": "local",
                        # Inside the enterprise's folder: <LOCAL_DELIVERY_ROOT>/<enterprise id>/integration-N
                        "delivery": {"directory": f"integration-{integration_no + 1}"},
                    },
                )
                integration_no += 1
    db.session.commit()

    per_campaign = max(1, leads // len(campaigns))
    created = 0
    for campaign in campaigns:
        batch = []
        for n in range(per_campaign):
            first, last = rng.choice(FIRST), rng.choice(LAST)
            batch.append(
                {
                    "externalId": f"demo-{campaign.id}-{n}",
                    "status": "valid" if rng.random() > 0.05 else "rejected",
                    "fields": {
                        "first_name": first,
                        "last_name": last,
                        "email": f"{first}.{last}{n}@example.com".lower(),
                        "phone": f"07700 {rng.randint(100000, 999999)}",
                    },
                }
            )
            if len(batch) == 1000 or n == per_campaign - 1:
                created += ingest_leads(campaign, batch).accepted
                if progress:
                    progress(len(batch))
                batch = []
    return {
        "enterprise": enterprise.name,
        "campaigns": len(campaigns),
        "integrations": integration_no,
        "leads": created,
    }


def _get_or_add(model, defaults: dict | None = None, **keys):
    obj = db.session.scalar(select(model).filter_by(**keys))
    if obj is None:
        obj = model(**keys, **(defaults or {}))
        db.session.add(obj)
        db.session.flush()
    return obj
