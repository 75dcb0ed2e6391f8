"""Advertisers, campaigns and credentials; lead intake through the API."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Campaign, Credential, Lead
from app.services import credentials


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def test_advertisers_and_campaigns_create_and_list(client, world):
    admin, viewer = bearer(world.a.tokens["admin"]), bearer(world.a.tokens["viewer"])
    adv = client.post("/api/v4/advertisers", json={"name": "  Borealis Energy "}, headers=admin)
    assert adv.status_code == 201 and adv.json["data"]["name"] == "Borealis Energy"
    adv_id = adv.json["data"]["id"]
    names = [a["name"] for a in client.get("/api/v4/advertisers?sort=-name", headers=viewer).json["data"]]
    assert names == ["Enterprise A Advertiser", "Borealis Energy"]
    assert [a["id"] for a in client.get("/api/v4/advertisers?name=boreal", headers=viewer).json["data"]] == [adv_id]

    body = {"advertiserId": adv_id, "name": "Winter", "startDate": "2027-01-01", "endDate": "2027-02-01"}
    camp = client.post("/api/v4/campaigns", json=body, headers=admin)
    assert camp.status_code == 201, camp.json
    assert camp.json["data"] | {"id": 0, "createdAt": ""} == {
        "id": 0,
        "createdAt": "",
        "advertiserId": adv_id,
        "name": "Winter",
        "status": "active",
        "startDate": "2027-01-01",
        "endDate": "2027-02-01",
    }
    listed = client.get(f"/api/v4/campaigns?advertiserId={adv_id}", headers=viewer).json
    assert [c["name"] for c in listed["data"]] == ["Winter"] and listed["meta"]["total"] == 1
    assert (
        db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.action == "campaign.create"))
        == 1
    )


def test_campaign_validation(client, world):
    admin = bearer(world.a.tokens["admin"])
    cases = (
        ({"advertiserId": world.b.advertiser.id, "name": "X"}, "advertiserId"),
        (
            {"advertiserId": world.a.advertiser.id, "name": "X", "startDate": "2027-02-01", "endDate": "2027-01-01"},
            "endDate",
        ),
        ({"advertiserId": world.a.advertiser.id, "name": "X", "endDate": "31/01/2027"}, "endDate"),
        ({"advertiserId": world.a.advertiser.id, "name": "X", "status": "paused-ish"}, "status"),
        ({"advertiserId": world.a.advertiser.id}, "name"),
    )
    for body, field in cases:
        response = client.post("/api/v4/campaigns", json=body, headers=admin)
        assert response.status_code == 422 and field in response.json["error"]["details"], (body, response.json)
    assert db.session.scalar(select(func.count()).select_from(Campaign)) == 2


def test_credentials_are_write_only(client, world):
    admin = bearer(world.a.tokens["admin"])
    response = client.post(
        "/api/v4/credentials",
        json={"name": "crm-sftp", "kind": "password", "secret": "hunter2-but-longer"},
        headers=admin,
    )
    assert response.status_code == 201
    assert set(response.json["data"]) == {"id", "name", "kind", "createdAt", "updatedAt"}
    listed = client.get("/api/v4/credentials", headers=bearer(world.a.tokens["viewer"]))
    assert [c["name"] for c in listed.json["data"]] == ["crm-sftp"]
    assert "hunter2" not in listed.get_data(as_text=True) and "hunter2" not in response.get_data(as_text=True)
    stored = db.session.scalar(select(Credential))
    assert b"hunter2" not in stored.ciphertext and credentials.reveal(stored).value == "hunter2-but-longer"

    bad = client.post("/api/v4/credentials", json={"name": "k", "kind": "s3_keys", "secret": "nope"}, headers=admin)
    assert bad.status_code == 422
    dup = client.post(
        "/api/v4/credentials", json={"name": "crm-sftp", "kind": "password", "secret": "x"}, headers=admin
    )
    assert dup.status_code == 422 and "hunter2" not in dup.get_data(as_text=True)


def test_lead_intake_counts_and_is_idempotent(client, world):
    url = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    manager = bearer(world.a.tokens["manager"])
    leads = [{"externalId": f"L{i}", "status": "valid", "fields": {"email": f"p{i}@x.test"}} for i in range(3)]
    leads.append({"externalId": "R1", "status": "rejected", "fields": {}})
    first = client.post(url, json={"leads": leads}, headers=manager)
    assert first.status_code == 201
    assert first.json == {"data": {"accepted": 4, "duplicates": 0, "queued": 3, "updated": 0}}
    again = client.post(url, json={"leads": leads[:2]}, headers=manager)
    assert again.json == {"data": {"accepted": 0, "duplicates": 2, "queued": 0, "updated": 0}}
    pending = client.get("/api/v4/batch-manager", headers=manager).json["data"]
    assert [(r["integrationId"], r["leadCount"]) for r in pending] == [(world.a.integration.id, 3)]


def test_lead_intake_refuses_bad_bodies_and_writes_nothing(client, world):
    url = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    manager = bearer(world.a.tokens["manager"])
    too_many = [{"externalId": f"x{i}", "status": "valid"} for i in range(10_001)]
    cases = (
        {"leads": too_many},
        {"leads": []},
        {"leads": [{"externalId": "", "status": "valid"}]},
        {"leads": [{"externalId": "ok", "status": "valid", "fields": {"a": {"nested": 1}}}]},
        {"leads": [{"externalId": "nul\u0000", "status": "valid"}]},
        {"lead": []},
        [1, 2],
    )
    for body in cases:
        response = client.post(url, json=body, headers=manager)
        assert response.status_code == 422, str(body)[:80]
        assert response.json["error"]["code"] == "validation_error" and response.json["error"]["details"]
    garbage = client.post(url, data=b"\xff{not json", content_type="application/json", headers=manager)
    assert garbage.status_code == 422
    assert db.session.scalar(select(func.count()).select_from(Lead)) == 0
