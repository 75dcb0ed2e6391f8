"""Configure form, Credential Manager, users, API tokens and the audit log (test client)."""

from __future__ import annotations

import json
import re

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import ApiToken, AuditEvent, BatchCsvIntegration, Credential, User
from app.services import accounts, credentials
from tests.admin_support import login

MAPPING = [{"source": "email", "header": "Email"}, {"source": "lead.id", "header": "Lead ID"}]


@pytest.fixture(autouse=True)
def _no_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF


def _form(world, **changes) -> MultiDict:
    data = {
        "campaign_id": str(world.a.campaign.id),
        "label": "Partner SFTP feed",
        "enabled": "y",
        "schedule_cron": "30 9 * * 1-5",
        "timezone": "Europe/London",
        "file_format": "csv",
        "delimiter": ";",
        "header": "y",
        "quoting": "all",
        "line_ending": "lf",
        "encoding": "utf-8-sig",
        "name_template": "{label}_{batch_id}",
        "compression": "gzip",
        "max_leads_per_file": "500",
        "fields_json": json.dumps(MAPPING),
        "delivery_method": "local",
        "directory": "partner",
        "credential_id": "0",
    }
    data.update(changes)
    return MultiDict({k: v for k, v in data.items() if v is not None})


def test_create_integration_with_every_setting(client, world):
    login(client, world.a.users["admin"])
    response = client.post("/admin/integrations/new/", data=_form(world))
    assert response.status_code == 302, response.get_data(as_text=True)[:2000]
    integ = db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Partner SFTP feed"))
    assert (integ.schedule_cron, integ.timezone, integ.delimiter, integ.quoting) == (
        "30 9 * * 1-5",
        "Europe/London",
        ";",
        "all",
    )
    assert (integ.line_ending, integ.encoding, integ.compression, integ.max_leads_per_file) == (
        "lf",
        "utf-8-sig",
        "gzip",
        500,
    )
    assert integ.fields == MAPPING and integ.delivery_method == "local" and integ.next_run_at is not None
    assert db.session.scalar(select(AuditEvent.severity).where(AuditEvent.action == "integration.create")) == "high"


def test_errors_from_the_service_show_on_the_fields(client, world):
    login(client, world.a.users["admin"])
    bad = _form(
        world,
        schedule_cron="61 * * * *",
        timezone="Mars/Olympus",
        fields_json=json.dumps([{"source": "email", "header": "Email"}, {"source": "lead.id", "header": "email"}]),
        delivery_method="sftp",
        host="127.0.0.1",
        username="u",
        directory=None,
    )
    before = db.session.scalar(select(db.func.count()).select_from(BatchCsvIntegration))
    response = client.post("/admin/integrations/new/", data=bad)
    page = response.get_data(as_text=True)
    assert response.status_code == 200 and "Not saved." in page
    assert "not a valid five-field cron expression" in page
    assert "not a known IANA time zone" in page
    assert "Row 2" in page  # the duplicate header, named by its row
    assert page.count("is-invalid") >= 3
    assert db.session.scalar(select(db.func.count()).select_from(BatchCsvIntegration)) == before


def test_edit_keeps_values_and_saves_changes(client, world):
    login(client, world.a.users["admin"])
    url = f"/admin/integrations/edit/?id={world.a.integration.id}"
    page = client.get(url).get_data(as_text=True)
    assert world.a.integration.label in page and "Lead ID" in page  # mapping JSON prefilled
    response = client.post(url, data=_form(world, label="Renamed feed", schedule_cron="0 7 * * *", timezone="UTC"))
    assert response.status_code == 302
    db.session.expire_all()
    integ = db.session.get(BatchCsvIntegration, world.a.integration.id)
    assert (integ.label, integ.schedule_cron) == ("Renamed feed", "0 7 * * *")


def test_schedule_preview_and_test_connection(client, world):
    login(client, world.a.users["admin"])
    ok = client.get("/admin/integrations/schedule-preview?cron=0+6+*+*+1&timezone=Europe/Berlin").get_json()
    assert ok["ok"] and len(ok["runs"]) == 5 and "Monday" in ok["description"]
    assert all("Mon" in run["local"] for run in ok["runs"])
    bad = client.get("/admin/integrations/schedule-preview?cron=nope&timezone=UTC").get_json()
    assert bad == {"ok": False, "errors": {"cron": ["not a valid five-field cron expression"]}}
    result = client.post("/admin/integrations/test-connection", data=_form(world)).get_json()
    assert result["ok"] is True and result["message"]
    refused = client.post("/admin/integrations/test-connection", data=_form(world, directory="/etc")).get_json()
    assert refused["ok"] is False and "directory" in refused["message"]


def test_credentials_are_write_only(client, world):
    login(client, world.a.users["admin"])
    secret = "correct-horse-staple-9"
    response = client.post(
        "/admin/credentials/new/", data={"name": "Partner SFTP", "kind": "password", "password": secret}
    )
    assert response.status_code == 302
    credential = db.session.scalar(select(Credential).where(Credential.name == "Partner SFTP"))
    assert secret.encode() not in credential.ciphertext
    for path in ("/admin/credentials/", f"/admin/credentials/edit/?id={credential.id}"):
        page = client.get(path).get_data(as_text=True)
        assert "Partner SFTP" in page and secret not in page
    client.post(f"/admin/credentials/edit/?id={credential.id}", data={"password": "brand-new-secret-1"})
    db.session.expire_all()
    assert credentials.reveal(db.session.get(Credential, credential.id)).value == "brand-new-secret-1"
    # A refused secret is not echoed back either.
    page = client.post(
        "/admin/credentials/new/", data={"name": "Key", "kind": "ssh_private_key", "private_key": "not a key"}
    ).get_data(as_text=True)
    assert "not a key" not in page


def test_tokens_show_the_raw_token_once_and_revoke(client, world):
    login(client, world.a.users["admin"])
    viewer = world.a.users["viewer"]
    page = client.post("/admin/api-tokens/new/", data={"user_id": str(viewer.id), "name": "CRM sync"}).get_data(
        as_text=True
    )
    raw = page.split('id="bm-raw-token">')[1].split("<")[0]
    assert accounts.user_for_token(raw).id == viewer.id
    assert raw not in client.get("/admin/api-tokens/").get_data(as_text=True)
    token = db.session.scalar(select(ApiToken).where(ApiToken.name == "CRM sync"))
    client.post(f"/admin/api-tokens/revoke/{token.id}")
    assert accounts.user_for_token(raw) is None
    actions = set(db.session.scalars(select(AuditEvent.action)))
    assert {"token.create", "token.revoke"} <= actions
    # A token can only be made for a user of one's own enterprise.
    page = client.post("/admin/api-tokens/new/", data={"user_id": str(world.b.users["viewer"].id), "name": "x"})
    assert "Choose a user of your enterprise." in page.get_data(as_text=True)


def test_users_create_and_no_self_demotion(client, world):
    admin = world.a.users["admin"]
    login(client, admin)
    client.post(
        "/admin/users/new/", data={"email": "Newbie@Example.com", "role": "manager", "password": "long-enough-pw"}
    )
    user = db.session.scalar(select(User).where(User.email == "newbie@example.com"))
    assert (user.role, user.enterprise_id) == ("manager", admin.enterprise_id)
    client.post(f"/admin/users/edit/?id={admin.id}", data={"role": "viewer", "active": "y"})
    db.session.expire_all()
    assert db.session.get(User, admin.id).role == "admin"


def test_audit_log_filters(client, world):
    from app.services import audit

    audit.record("download", "sent_batch", 7, user=world.a.users["manager"], commit=True)
    audit.record("columns.save", "table", "pending", user=world.a.users["viewer"], commit=True)
    audit.record("download", "sent_batch", 8, user=world.b.users["manager"], commit=True)
    login(client, world.a.users["admin"])
    page = client.get("/admin/audit/?flt0_severity_equals=high").get_data(as_text=True)
    assert world.a.users["manager"].email in page and "columns.save" not in page
    assert world.b.users["manager"].email not in page
    page = client.get(f"/admin/audit/?flt0_actor_contains={world.a.users['viewer'].email}").get_data(as_text=True)
    assert "columns.save" in page and "sent_batch" not in page
    page = client.get(
        "/admin/audit/?flt0_action_equals=download&flt1_date_utc_greater_than=2000-01-01+00:00:00"
    ).get_data(as_text=True)
    assert re.search(r'col-target_id">\s*7\s*<', page) and not re.search(r'col-target_id">\s*8\s*<', page)
