"""Shared set-up for the admin tests: each tenant gets leads, a delivered file, a credential."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import ApiToken, SentBatch
from app.services import credentials, sending
from jobs.worker import run_burst
from tests import factories

PENDING = "/v2/system/campaign-lead-batch/pending-batch"
SENT = "/v2/system/campaign-lead-batch/sent-batches"


@dataclass
class Objects:
    integration: int
    batch: int
    credential: int
    token: int
    user: int
    label: str


def deliver_all() -> None:
    """Run every queued job in this process (the real pipeline, local delivery)."""
    db.session.commit()
    run_burst(current_app._get_current_object())
    db.session.expire_all()


def populate(world) -> dict[str, Objects]:
    """Each tenant: a delivered file, more leads waiting, a credential; returns ids per tenant."""
    out = {}
    for key, tenant in (("a", world.a), ("b", world.b)):
        factories.leads(tenant.campaign, 3, prefix=f"{key}-first")
        sending.batch_now([tenant.integration.id], tenant.users["manager"])
        deliver_all()
        factories.leads(tenant.campaign, 4, prefix=f"{key}-second")
        batch = db.session.scalar(select(SentBatch).where(SentBatch.integration_id == tenant.integration.id))
        credential = credentials.create_credential(
            tenant.enterprise.id, f"{key} sftp password", "password", "s3cret-pass", tenant.users["admin"]
        )
        token = db.session.scalar(select(ApiToken).where(ApiToken.user_id == tenant.users["viewer"].id))
        out[key] = Objects(
            integration=tenant.integration.id,
            batch=batch.id,
            credential=credential.id,
            token=token.id,
            user=tenant.users["viewer"].id,
            label=tenant.integration.label,
        )
    return out


def login(client, user, password: str = factories.PASSWORD):
    """Log in through the real form (CSRF token read from the page when CSRF is on)."""
    data = {"email": user.email, "password": password}
    if current_app.config.get("WTF_CSRF_ENABLED"):
        data["csrf_token"] = csrf_token(client, "/login")
    response = client.post("/login", data=data)
    assert response.status_code == 302, response.data[:500]
    return response


def csrf_token(client, path: str) -> str:
    import re

    page = client.get(path).get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    assert match, f"no csrf token on {path}"
    return match.group(1)
