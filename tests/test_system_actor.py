"""Authorisation fails closed on a missing user; scheduler and CLI work passes SYSTEM explicitly."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Forbidden
from app.extensions import db
from app.models import Advertiser, BatchCsvIntegration, SentBatch
from app.services import catalog, integrations, sending
from app.services.actors import SYSTEM
from tests.factories import leads

DELIVERY = {"method": "local", "directory": "system-actor"}


def _payload(world) -> dict:
    return {
        "campaignId": world.a.campaign.id,
        "label": "Made by nobody",
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": DELIVERY,
    }


def test_a_missing_user_is_refused_by_every_integration_check(world):
    integration = world.a.integration
    with pytest.raises(Forbidden):
        integrations.create_integration(world.a.enterprise.id, _payload(world), None)
    with pytest.raises(Forbidden):
        integrations.update_integration(integration, {"label": "renamed by nobody"}, None)
    with pytest.raises(Forbidden):
        integrations.check_integration_connection(integration, None)
    with pytest.raises(Forbidden):
        integrations.check_delivery_connection(world.a.enterprise.id, DELIVERY, None)
    with pytest.raises(Forbidden):
        catalog.create_advertiser(world.a.enterprise.id, "Nobody's advertiser", None)
    with pytest.raises(Forbidden):
        sending.send_integration(integration.id, "schedule", None)

    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integration.id).label != "renamed by nobody"
    assert db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Made by nobody")) is None
    assert db.session.scalar(select(Advertiser).where(Advertiser.name == "Nobody's advertiser")) is None
    assert db.session.scalar(select(SentBatch.id)) is None


def test_the_system_actor_passes_and_is_recorded_as_the_system(world):
    created = integrations.create_integration(world.a.enterprise.id, _payload(world), SYSTEM)
    assert created.id is not None
    assert integrations.check_integration_connection(created, SYSTEM).ok is True

    leads(world.a.campaign, 3, prefix="sys")
    outcomes = sending.send_integration(created.id, "schedule", SYSTEM)
    batch = db.session.get(SentBatch, outcomes[0].batch_id)
    assert (batch.triggered_by, batch.triggered_by_id) == ("scheduler", None)


def test_a_person_of_another_enterprise_still_gets_not_found(world):
    from app.errors import NotFound

    with pytest.raises(NotFound):
        integrations.check_integration_connection(world.a.integration, world.b.users["admin"])
