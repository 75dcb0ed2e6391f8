"""FTP deliveries are FTPS unless plain FTP is chosen on purpose (API and Configure form)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import credentials
from tests.admin_support import login


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _create(client, world, server, label: str, **delivery) -> dict:
    cred = credentials.create_credential(world.a.enterprise.id, f"ftp-{label}", "password", server.password)
    settings = {k: v for k, v in server.settings().items() if k != "tls"}
    body = {
        "campaignId": world.a.campaign.id,
        "label": label,
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": {"method": "ftp", **settings, **delivery, "credentialId": cred.id},
    }
    response = client.post("/api/v4/batch-integrations", json=body, headers=bearer(world.a.tokens["admin"]))
    assert response.status_code == 201, response.json
    return response.json["data"]


def _test(client, world, integration_id: int) -> dict:
    url = f"/api/v4/batch-integrations/{integration_id}/test-connection"
    return client.post(url, headers=bearer(world.a.tokens["admin"])).json


def test_an_ftp_request_without_tls_gets_ftps(client, world, ftps_server, trust_test_ca):
    data = _create(client, world, ftps_server, "Secure by default")
    assert data["delivery"]["tls"] is True
    result = _test(client, world, data["id"])
    assert result["ok"] is True and "(FTPS)" in result["message"], result


def test_a_plain_ftp_server_is_not_used_unencrypted_unless_asked(client, world, ftp_server):
    data = _create(client, world, ftp_server, "Omitted tls")
    result = _test(client, world, data["id"])
    assert result["ok"] is False and "does not support TLS" in result["message"], result

    plain = _create(client, world, ftp_server, "Plain on purpose", tls=False)
    assert plain["delivery"]["tls"] is False
    result = _test(client, world, plain["id"])
    assert result["ok"] is True and "(FTP)" in result["message"], result


def test_the_openapi_document_says_what_the_default_is(client):
    spec = client.get("/api/v4/openapi.json").json
    tls = json.dumps(spec["components"]["schemas"]["FtpDelivery"]["properties"]["tls"])
    assert "default" in tls and "plain FTP, unencrypted" in tls


@pytest.fixture
def admin_client(client, world, app):
    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    return client


def _form(world, **changes) -> MultiDict:
    data = {
        "campaign_id": str(world.a.campaign.id),
        "label": "Form FTP",
        "enabled": "y",
        "schedule_cron": "0 6 * * *",
        "timezone": "UTC",
        "file_format": "csv",
        "delimiter": ",",
        "quoting": "minimal",
        "line_ending": "crlf",
        "encoding": "utf-8",
        "name_template": "{label}_{batch_id}",
        "compression": "none",
        "fields_json": json.dumps([{"source": "lead.id", "header": "ID"}]),
        "delivery_method": "ftp",
        "host": "127.0.0.1",
        "port": "21",
        "username": "bm",
        "remote_dir": "/upload",
    }
    data.update(changes)
    return MultiDict(data)


def test_the_configure_form_offers_plain_ftp_as_a_labelled_choice(admin_client, world):
    cred = str(credentials.create_credential(world.a.enterprise.id, "ftp-form", "password", "pw-for-ftp").id)
    page = admin_client.get("/admin/integrations/new/").get_data(as_text=True)
    assert "Plain FTP (unencrypted)" in page
    assert '<option selected value="true">FTPS' in page or '<option value="true" selected>FTPS' in page

    # A form that leaves the choice alone saves FTPS; choosing plain FTP saves plain FTP.
    assert admin_client.post("/admin/integrations/new/", data=_form(world, credential_id=cred)).status_code == 302
    assert (
        admin_client.post(
            "/admin/integrations/new/", data=_form(world, label="Plain", tls="false", credential_id=cred)
        ).status_code
        == 302
    )
    saved = dict(db.session.execute(select(BatchCsvIntegration.label, BatchCsvIntegration.delivery)).all())
    assert saved["Form FTP"]["tls"] is True and saved["Plain"]["tls"] is False

    plain_id = db.session.scalar(select(BatchCsvIntegration.id).where(BatchCsvIntegration.label == "Plain"))
    edit = admin_client.get(f"/admin/integrations/edit/?id={plain_id}").get_data(as_text=True)
    assert '<option selected value="false">Plain FTP (unencrypted)' in edit
