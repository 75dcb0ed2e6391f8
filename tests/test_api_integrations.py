"""Integrations through the API and app.services.integrations: create, partial update, every
validation keyed by field path, credentials of the right kind and enterprise, test connection."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.errors import Forbidden, ValidationError
from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration
from app.services import credentials, integrations

HOST_KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def payload(world, **overrides) -> dict:
    body = {
        "campaignId": world.a.campaign.id,
        "label": "Nightly CRM",
        "schedule": {"cron": "30 2 * * *", "timezone": "Europe/London"},
        "file": {
            "format": "csv",
            "delimiter": ";",
            "encoding": "utf-8-sig",
            "compression": "gzip",
            "maxLeadsPerFile": 1000,
        },
        "fields": [{"source": "lead.id", "header": "ID"}, {"source": "email", "header": "Email"}],
        "delivery": {"method": "local", "directory": "crm"},
    }
    body.update(overrides)
    return body


def test_create_through_the_api(client, world):
    response = client.post("/api/v4/batch-integrations", json=payload(world), headers=bearer(world.a.tokens["admin"]))
    assert response.status_code == 201, response.json
    data = response.json["data"]
    assert data["label"] == "Nightly CRM" and data["campaignId"] == world.a.campaign.id
    assert data["schedule"]["cron"] == "30 2 * * *" and "Europe/London" in data["schedule"]["description"]
    assert data["file"]["delimiter"] == ";" and data["file"]["compression"] == "gzip"
    assert data["file"]["header"] is True and data["file"]["lineEnding"] == "crlf"  # defaults
    assert data["delivery"] == {"method": "local", "directory": "crm", "credentialId": None}
    assert data["nextRunAt"].endswith(":30:00Z") or data["nextRunAt"].endswith("Z")
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "integration.create"))
    assert event.severity == "high" and event.target_id == str(data["id"])

    listed = client.get(
        "/api/v4/batch-integrations", query_string={"label": "nightly"}, headers=bearer(world.a.tokens["viewer"])
    )
    assert [i["id"] for i in listed.json["data"]] == [data["id"]]
    one = client.get(f"/api/v4/batch-integrations/{data['id']}", headers=bearer(world.a.tokens["viewer"]))
    assert one.json["data"] == data


INVALID = (
    ({"label": "  "}, "label"),
    ({"schedule": {"cron": "61 * * * *", "timezone": "UTC"}}, "schedule.cron"),
    ({"schedule": {"cron": "0 6 * * *", "timezone": "Mars/Olympus"}}, "schedule.timezone"),
    ({"file": {"delimiter": ";;"}}, "file.delimiter"),
    ({"file": {"encoding": "rot13"}}, "file.encoding"),
    ({"file": {"encoding": "no-such-codec"}}, "file.encoding"),
    ({"file": {"format": "json"}}, "file.format"),
    ({"file": {"nameTemplate": "{label}_{nope}"}}, "file.nameTemplate"),
    ({"file": {"maxLeadsPerFile": 0}}, "file.maxLeadsPerFile"),
    ({"fields": [{"source": "email", "header": "E"}, {"source": "phone", "header": "e"}]}, "fields.1.header"),
    ({"fields": [{"source": "lead.unknown", "header": "X"}]}, "fields.0.source"),
    ({"fields": []}, "fields"),
    ({"delivery": {"method": "carrier-pigeon"}}, "delivery.method"),
    ({"delivery": {"method": "local", "directory": "../../etc"}}, "delivery.directory"),
    (
        {"delivery": {"method": "sftp", "host": "127.0.0.1", "username": "u", "remoteDir": "/in"}},
        "delivery.hostKey",
    ),
    ({"label": "bad\x00label"}, "label"),
)


def test_invalid_settings_are_422_keyed_by_field(client, world):
    for change, field in INVALID:
        response = client.post(
            "/api/v4/batch-integrations", json=payload(world, **change), headers=bearer(world.a.tokens["admin"])
        )
        assert response.status_code == 422, (change, response.json)
        assert field in response.json["error"]["details"], (change, response.json)
    assert db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Nightly CRM")) is None


def test_service_collects_every_error_at_once(world):
    bad = payload(world, label="", schedule={"cron": "x", "timezone": "y"}, fields=[], delivery={"method": "local"})
    with pytest.raises(ValidationError) as caught:
        integrations.create_integration(world.a.enterprise.id, bad, world.a.users["admin"])
    assert {"label", "schedule.cron", "schedule.timezone", "fields", "delivery.directory"} <= set(caught.value.details)


def test_service_refuses_non_admins(world):
    with pytest.raises(Forbidden):
        integrations.create_integration(world.a.enterprise.id, payload(world), world.a.users["manager"])
    with pytest.raises(Forbidden):
        integrations.update_integration(world.a.integration, {"label": "x"}, world.a.users["viewer"])


def test_campaign_and_credential_must_be_the_callers(client, world):
    theirs = credentials.create_credential(world.b.enterprise.id, "b-sftp", "password", "secret-pw")
    ours_wrong_kind = credentials.create_credential(
        world.a.enterprise.id, "a-s3", "s3_keys", {"accessKeyId": "AKIA", "secretAccessKey": "s3cr3t"}
    )
    sftp = {
        "method": "sftp",
        "host": "127.0.0.1",
        "port": 2222,
        "username": "u",
        "remoteDir": "/in",
        "hostKey": HOST_KEY,
    }
    admin = bearer(world.a.tokens["admin"])
    for change, field in (
        ({"campaignId": world.b.campaign.id}, "campaignId"),
        ({"delivery": {**sftp, "credentialId": theirs.id}}, "delivery.credentialId"),
        ({"delivery": {**sftp, "credentialId": ours_wrong_kind.id}}, "delivery.credentialId"),
        (
            {"delivery": {"method": "local", "directory": "x", "credentialId": ours_wrong_kind.id}},
            "delivery.credentialId",
        ),
    ):
        response = client.post("/api/v4/batch-integrations", json=payload(world, **change), headers=admin)
        assert response.status_code == 422 and field in response.json["error"]["details"], (change, response.json)

    ours = credentials.create_credential(world.a.enterprise.id, "a-sftp", "password", "correct-horse-secret")
    response = client.post(
        "/api/v4/batch-integrations", json=payload(world, delivery={**sftp, "credentialId": ours.id}), headers=admin
    )
    assert response.status_code == 201, response.json
    assert response.json["data"]["delivery"]["credentialId"] == ours.id
    assert "correct-horse-secret" not in response.get_data(as_text=True)


def test_patch_changes_only_given_keys(client, world):
    integration = world.a.integration
    before = integrations.settings_payload(integration)
    url = f"/api/v4/batch-integrations/{integration.id}"
    admin = bearer(world.a.tokens["admin"])
    response = client.patch(
        url, json={"schedule": {"cron": "15 7 * * 1-5"}, "file": {"sendEmpty": True}}, headers=admin
    )
    assert response.status_code == 200, response.json
    data = response.json["data"]
    assert data["schedule"]["cron"] == "15 7 * * 1-5" and data["schedule"]["timezone"] == before["schedule"]["timezone"]
    assert data["file"]["sendEmpty"] is True and data["file"]["format"] == before["file"]["format"]
    assert data["fields"] == before["fields"] and data["label"] == before["label"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "integration.update"))
    assert event.details["changed"] == ["schedule_cron", "send_empty"]

    for change, field in (
        ({"campaignId": world.b.campaign.id}, "campaignId"),
        ({"file": {"delimiter": ""}}, "file.delimiter"),
    ):
        refused = client.patch(url, json=change, headers=admin)
        assert refused.status_code == 422 and field in refused.json["error"]["details"]
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, integration.id).schedule_cron == "15 7 * * 1-5"


def test_patch_to_another_method_replaces_the_delivery_settings(client, world):
    url = f"/api/v4/batch-integrations/{world.a.integration.id}"
    body = {"delivery": {"method": "email", "recipients": ["ops@example.com"], "subject": "Leads {label}"}}
    response = client.patch(url, json=body, headers=bearer(world.a.tokens["admin"]))
    assert response.status_code == 200, response.json
    delivery = response.json["data"]["delivery"]
    assert delivery["method"] == "email" and "directory" not in delivery


def test_test_connection_reports_ok_and_failure(client, world, tmp_path):
    url = f"/api/v4/batch-integrations/{world.a.integration.id}/test-connection"
    ok = client.post(url, headers=bearer(world.a.tokens["admin"]))
    assert ok.status_code == 200 and ok.json["ok"] is True and ok.json["message"]

    sftp = {"method": "sftp", "host": "127.0.0.1", "port": 1, "username": "u", "remoteDir": "/in", "hostKey": HOST_KEY}
    cred = credentials.create_credential(world.a.enterprise.id, "pw", "password", "pw")
    integration = integrations.create_integration(
        world.a.enterprise.id, payload(world, delivery={**sftp, "credentialId": cred.id}), world.a.users["admin"]
    )
    down = client.post(
        f"/api/v4/batch-integrations/{integration.id}/test-connection", headers=bearer(world.a.tokens["admin"])
    )
    assert down.status_code == 200 and down.json["ok"] is False and "127.0.0.1" in down.json["message"]
