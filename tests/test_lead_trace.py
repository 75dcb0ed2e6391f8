"""Lead trace: find a lead by external id, email or phone within one's enterprise, and see
for every integration of its campaign whether it is pending or in which file it went."""

from __future__ import annotations

import pytest
from sqlalchemy import select, text

from app.extensions import db
from app.models import Lead
from app.services import lead_keys, pipeline, sending
from app.services.intake import ingest_leads
from tests import factories
from tests.admin_support import login


def _ingest(campaign, external_id: str, email: str, phone: str) -> None:
    lead = {"externalId": external_id, "status": "valid", "fields": {"email": email, "phone": phone}}
    ingest_leads(campaign, [lead])


@pytest.fixture
def traced(world):
    """Enterprise A: lead crm-7 in a campaign with two integrations, delivered by one and pending
    in the other. Enterprise B: a lead with the same external id, email and phone."""
    second = factories.integration(world.a.campaign, "A Email feed")
    _ingest(world.a.campaign, "crm-7", "Ada.Lovelace@Example.com", "+44 (20) 7946-0958")
    _ingest(world.b.campaign, "crm-7", "ada.lovelace@example.com", "+44 20 7946 0958")
    [outcome] = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    pipeline.process_batch(outcome.batch_id)
    return {"delivered": world.a.integration, "pending": second, "file_id": outcome.batch_id}


def _get(client, token: str, query: str):
    return client.get(f"/api/v4/leads?{query}", headers={"Authorization": f"Bearer {token}"})


@pytest.mark.parametrize(
    "query",
    ["externalId=crm-7", "email=%20ADA.lovelace%40example.COM", "phone=%2B442079460958", "phone=%2B44-20-7946.0958"],
)
def test_trace_finds_the_lead_pending_in_one_integration_and_delivered_by_the_other(client, world, traced, query):
    response = _get(client, world.a.tokens["viewer"], query)
    assert response.status_code == 200, response.json
    assert response.json["meta"]["total"] == 1
    [lead] = response.json["data"]
    assert (lead["externalId"], lead["campaignId"], lead["status"]) == ("crm-7", world.a.campaign.id, "valid")
    assert lead["advertiserName"] == "Enterprise A Advertiser"
    by_id = {i["integrationId"]: i for i in lead["integrations"]}
    assert set(by_id) == {traced["delivered"].id, traced["pending"].id}
    delivered, pending = by_id[traced["delivered"].id], by_id[traced["pending"].id]
    assert delivered["state"] == "delivered"
    assert delivered["fileId"] == traced["file_id"]
    assert delivered["fileName"].endswith(".csv")
    assert delivered["deliveryMethod"] == "local"
    assert delivered["deliveredAt"].endswith("Z")
    assert pending["state"] == "pending"
    assert (pending["fileId"], pending["fileName"], pending["deliveredAt"], pending["deliveryMethod"]) == (
        None,
        None,
        None,
        None,
    )
    assert pending["queuedAt"].endswith("Z")


@pytest.mark.parametrize("query", ["externalId=crm-7", "email=ada.lovelace%40example.com", "phone=442079460958"])
def test_trace_never_crosses_enterprises(client, world, traced, query):
    """B's token finds B's lead only, although A has one with the same id, email and phone."""
    response = _get(client, world.b.tokens["admin"], query.replace("phone=44", "phone=%2B44"))
    assert response.status_code == 200, response.json
    [lead] = response.json["data"]
    assert lead["campaignId"] == world.b.campaign.id
    [only] = lead["integrations"]
    assert (only["integrationId"], only["state"]) == (world.b.integration.id, "pending")


def test_trace_of_an_unknown_lead_is_an_empty_list(client, world, traced):
    response = _get(client, world.a.tokens["viewer"], "email=nobody%40example.com")
    assert response.status_code == 200
    assert response.json == {"data": [], "meta": {"page": 1, "perPage": 50, "total": 0}}


@pytest.mark.parametrize(
    "query",
    ["", "externalId=crm-7&email=a%40b.c", "externalId=a&email=b&phone=1", "phone=(%20)", "externalId=%20", "page=0"],
)
def test_trace_needs_exactly_one_search_value(client, world, traced, query):
    response = _get(client, world.a.tokens["viewer"], query)
    assert response.status_code == 422, response.data
    assert response.json["error"]["code"] == "validation_error"
    assert response.json["error"]["details"]


def test_trace_needs_a_token(client, traced):
    assert client.get("/api/v4/leads?externalId=crm-7").status_code == 401


def test_trace_is_in_the_openapi_document(client):
    operation = client.get("/api/v4/openapi.json").json["paths"]["/api/v4/leads"]["get"]
    params = {p["name"] for p in operation["parameters"]}
    assert {"externalId", "email", "phone"} <= params
    assert "LeadTracePage" in str(operation["responses"]["200"])


def test_a_lead_not_queued_on_an_integration_added_later_says_so(client, world, traced):
    late = factories.integration(world.a.campaign, "Added later")
    response = _get(client, world.a.tokens["viewer"], "externalId=crm-7")
    by_id = {i["integrationId"]: i for i in response.json["data"][0]["integrations"]}
    assert by_id[late.id]["state"] == "not_queued"


@pytest.mark.parametrize(
    ("fields", "email", "phone"),
    [
        (
            {"email": "  Mixed.Case@Example.COM ", "phone": "+1 (555) 010-0199"},
            "mixed.case@example.com",
            "+15550100199",
        ),
        ({"email": "émile@exemple.fr", "phone": 442079460958}, "émile@exemple.fr", "442079460958"),
        ({"email": True, "phone": 1.5}, None, None),
        ({"email": "x" * 400, "phone": "()"}, None, None),
        ({}, None, None),
    ],
)
def test_the_data_migration_fills_the_keys_as_intake_does(app, world, fields, email, phone):
    """The SQL of revision 20261130_50 and the Python of intake normalise alike."""
    assert lead_keys.keys_of(fields) == (email, phone)
    ingest_leads(world.a.campaign, [{"externalId": "m-1", "status": "valid", "fields": fields}])
    db.session.execute(text("UPDATE leads SET email_key = 'stale', phone_key = 'stale'"))
    db.session.execute(text(lead_keys.backfill_sql(db.engine.dialect.name)))
    db.session.commit()
    lead = db.session.scalar(select(Lead).where(Lead.external_id == "m-1"))
    assert (lead.email_key, lead.phone_key) == (email, phone)


def test_admin_lead_trace_page_for_every_role_links_the_file(app, world, traced):
    client = app.test_client()
    login(client, world.a.users["viewer"])
    menu = client.get("/admin/lead-trace/")
    assert menu.status_code == 200
    assert b'href="/admin/lead-trace/"' in menu.data
    page = client.get("/admin/lead-trace/?by=email&q=ADA.LOVELACE%40example.com").get_data(as_text=True)
    assert "1 lead found" in page
    assert f'href="/v2/system/campaign-lead-batch/sent-batches/view/{traced["file_id"]}"' in page
    assert f'data-integration-id="{traced["pending"].id}" data-state="pending"' in page
    assert f'data-integration-id="{traced["delivered"].id}" data-state="delivered"' in page
    assert "Enterprise B" not in page


def test_admin_lead_trace_says_so_when_nothing_matches_or_the_value_is_bad(app, world, traced):
    client = app.test_client()
    login(client, world.b.users["viewer"])
    page = client.get("/admin/lead-trace/?by=externalId&q=crm-8").get_data(as_text=True)
    assert 'id="bm-trace-none"' in page
    bad = client.get("/admin/lead-trace/?by=phone&q=()")
    assert bad.status_code == 200
    assert 'id="bm-trace-error"' in bad.get_data(as_text=True)
    assert client.get("/admin/lead-trace/?by=nonsense&q=x").status_code == 200


def test_a_shared_email_finds_every_lead_of_the_enterprise_page_by_page(client, world, traced):
    other = factories.campaign(world.a.advertiser, "Another campaign")
    _ingest(other, "web-1", "ada.lovelace@example.com", "")
    token = world.a.tokens["viewer"]
    pages = [_get(client, token, f"email=ada.lovelace%40example.com&perPage=1&page={n}").json for n in (1, 2, 3)]
    assert [p["meta"]["total"] for p in pages] == [2, 2, 2]
    assert [[lead["externalId"] for lead in p["data"]] for p in pages] == [["crm-7"], ["web-1"], []]
    both = _get(client, token, "email=ada.lovelace%40example.com").json
    assert both["meta"]["total"] == 2 and {lead["campaignId"] for lead in both["data"]} == {
        world.a.campaign.id,
        other.id,
    }
