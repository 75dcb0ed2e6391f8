"""Tenant isolation through every API endpoint: enterprise A's admin token on enterprise B's
objects gets 404 (never a hint that they exist) and lists never show B's rows."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services import credentials, pipeline, sending
from tests import factories

# Bodies that would be accepted for one's own object, so only ownership can refuse them.
BODIES = {
    ("PATCH", "/api/v4/batch-integrations/<int:integration_id>"): {"label": "taken over"},
    ("POST", "/api/v4/campaigns/<int:campaign_id>/leads"): {"leads": [{"externalId": "x", "status": "valid"}]},
}


@pytest.fixture
def b_objects(world):
    """Enterprise B with a delivered file, a failed one and a credential."""
    factories.leads(world.b.campaign, 3)
    [outcome] = sending.batch_now([world.b.integration.id], world.b.users["manager"])
    pipeline.process_batch(outcome.batch_id)
    failed = SentBatch(
        **{
            c: getattr(db.session.get(SentBatch, outcome.batch_id), c)
            for c in (
                "enterprise_id",
                "integration_id",
                "advertiser_id",
                "advertiser_name",
                "campaign_id",
                "campaign_name",
                "label",
                "delivery_method",
                "trigger",
            )
        },
        status="failed",
        last_error="refused",
    )
    db.session.add(failed)
    db.session.commit()
    credentials.create_credential(world.b.enterprise.id, "b-secret", "password", "b-password")
    return {
        "integration_id": world.b.integration.id,
        "campaign_id": world.b.campaign.id,
        "batch_id": outcome.batch_id,
        "failed_id": failed.id,
    }


def _api_rules(app):
    for rule in app.url_map.iter_rules():
        # The docs page's Swagger UI files (api_docs.asset) hold no enterprise's data.
        if rule.rule.startswith("/api/v4/") and rule.arguments and not rule.endpoint.startswith("api_docs."):
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield method, rule


def test_every_endpoint_with_an_id_is_404_for_another_enterprise(app, client, world, b_objects):
    headers = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    checked = []
    for method, rule in _api_rules(app):
        ids = {name: b_objects[name] for name in rule.arguments}
        if rule.endpoint.endswith(("retry", "requeue")):
            ids["batch_id"] = b_objects["failed_id"]
        url = rule.rule
        for name, value in ids.items():
            url = url.replace(f"<int:{name}>", str(value))
        response = client.open(url, method=method, json=BODIES.get((method, rule.rule)), headers=headers)
        assert response.status_code == 404, (method, url, response.status_code, response.get_data(as_text=True)[:200])
        assert response.json["error"]["code"] == "not_found"
        assert "Enterprise B" not in response.get_data(as_text=True)
        checked.append(f"{method} {rule.rule}")
    # Every id-taking route of the API was tried (a new route is picked up automatically).
    # 13 on main + PATCH /campaigns/{id}/leads and GET /batch-manager/{id}/dropped-leads.
    assert len(checked) == 15, checked

    # Nothing was changed or sent on B's side by those requests.
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, world.b.integration.id).label == "Enterprise B Feed"
    assert (
        db.session.scalar(select(func.count()).select_from(SentBatch).where(SentBatch.resend_of_id.is_not(None))) == 0
    )
    assert db.session.get(SentBatch, b_objects["failed_id"]).status == "failed"


def test_batch_now_with_another_enterprises_id_names_it_and_sends_nothing(client, world, b_objects):
    factories.leads(world.b.campaign, 2, prefix="more")
    response = client.post(
        "/api/v4/batch-manager-batch-now",
        json={"integrationIds": [world.b.integration.id]},
        headers={"Authorization": f"Bearer {world.a.tokens['manager']}"},
    )
    assert response.status_code == 422
    assert response.json["error"]["details"] == {"integrationIds": [world.b.integration.id]}
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, world.b.integration.id).pending_count == 2


def test_lists_never_show_another_enterprises_rows(client, world, b_objects):
    headers = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    factories.leads(world.a.campaign, 1)
    b = world.b
    lists = [
        ("/api/v4/batch-manager?includeEmpty=true", "integrationId", b.integration.id),
        (f"/api/v4/batch-manager?advertiserId={b.advertiser.id}", "integrationId", b.integration.id),
        (f"/api/v4/batch-manager?campaignId={b.campaign.id}", "integrationId", b.integration.id),
        ("/api/v4/batch-manager?advertiserName=Enterprise", "integrationId", b.integration.id),
        ("/api/v4/campaign-lead-batches", "integrationId", b.integration.id),
        (f"/api/v4/campaign-lead-batches?integrationId={b.integration.id}", "integrationId", b.integration.id),
        ("/api/v4/campaign-lead-batches?label=Feed", "integrationId", b.integration.id),
        ("/api/v4/advertisers", "id", b.advertiser.id),
        ("/api/v4/campaigns", "id", b.campaign.id),
        (f"/api/v4/campaigns?advertiserId={b.advertiser.id}", "id", b.campaign.id),
        ("/api/v4/batch-integrations", "id", b.integration.id),
        (f"/api/v4/batch-integrations?campaignId={b.campaign.id}", "id", b.integration.id),
        ("/api/v4/credentials", "name", "b-secret"),
    ]
    for url, key, b_value in lists:
        response = client.get(url, headers=headers)
        assert response.status_code == 200, url
        assert b_value not in [row[key] for row in response.json["data"]], url
        assert "Enterprise B" not in response.get_data(as_text=True), url
    # A's own rows are there, so the lists are not simply empty.
    assert client.get("/api/v4/batch-manager", headers=headers).json["meta"]["total"] == 1
