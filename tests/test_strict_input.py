"""Numbers JSON cannot carry (NaN, Infinity, 1e400) and lone UTF-16 surrogates: 422 naming
the field, in the API, the admin and `flask leads import`; nothing is written."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import BatchCsvIntegration, Credential, Lead, QueueEntry
from tests.admin_support import login

LEAD = '{{"externalId": {ext}, "status": "valid", "fields": {{"email": "a@x.test", "age": {age}}}}}'

# (raw JSON of externalId, raw JSON of the "age" field, the field the 422 must name)
BAD_LEADS = {
    "NaN": ('"L1"', "NaN", "leads.0.fields.age"),
    "Infinity": ('"L1"', "Infinity", "leads.0.fields.age"),
    "-Infinity": ('"L1"', "-Infinity", "leads.0.fields.age"),
    "1e400": ('"L1"', "1e400", "leads.0.fields.age"),
    "-1e400": ('"L1"', "-1e400", "leads.0.fields.age"),
    "400-digit integer": ('"L1"', "1" + "0" * 400, "leads.0.fields.age"),
    "surrogate in a value": ('"L1"', '"\\ud800"', "leads.0.fields.age"),
    "low surrogate in a value": ('"L1"', '"abc\\uDFFF"', "leads.0.fields.age"),
    "surrogate in externalId": ('"\\ud800"', "30", "leads.0.externalId"),
}


def _counts() -> tuple[int, int, int]:
    db.session.expire_all()
    return (
        db.session.scalar(select(func.count()).select_from(Lead)),
        db.session.scalar(select(func.count()).select_from(QueueEntry)),
        db.session.scalar(select(func.sum(BatchCsvIntegration.pending_count))),
    )


def _post(client, path: str, raw: str, token: str):
    return client.post(path, data=raw, headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})


@pytest.mark.parametrize("case", BAD_LEADS, ids=list(BAD_LEADS))
def test_intake_refuses_the_value_with_422_naming_the_field(client, world, case):
    ext, age, field = BAD_LEADS[case]
    good = LEAD.format(ext='"L0"', age="30")
    raw = '{"leads": [' + LEAD.format(ext=ext, age=age) + ", " + good + "]}"
    before = _counts()
    response = _post(client, f"/api/v4/campaigns/{world.a.campaign.id}/leads", raw, world.a.tokens["manager"])
    assert response.status_code == 422, response.get_data(as_text=True)
    assert response.json["error"]["code"] == "validation_error"
    assert list(response.json["error"]["details"]) == [field]
    assert _counts() == before


def test_a_surrogate_in_a_field_name_is_refused_with_a_readable_path(client, world):
    raw = '{"leads": [{"externalId": "L1", "status": "valid", "fields": {"bad\\udc00key": "x"}}]}'
    response = _post(client, f"/api/v4/campaigns/{world.a.campaign.id}/leads", raw, world.a.tokens["manager"])
    assert response.status_code == 422
    assert list(response.json["error"]["details"]) == ["leads.0.fields.bad\ufffdkey"]
    assert _counts()[0] == 0


def test_proper_pairs_and_large_finite_numbers_are_accepted(client, world):
    raw = '{"leads": [' + LEAD.format(ext='"\\ud83d\\ude00"', age="1e308") + "]}"
    response = _post(client, f"/api/v4/campaigns/{world.a.campaign.id}/leads", raw, world.a.tokens["manager"])
    assert response.status_code == 201, response.json
    lead = db.session.scalar(select(Lead))
    # PostgreSQL keeps JSON numbers as numeric: 1e308 comes back as the 309-digit integer.
    assert lead.external_id == "\U0001f600" and float(lead.fields["age"]) == 1e308


def test_text_that_only_looks_like_a_refused_number_is_stored_as_text(client, world):
    fields = {"note": "NaN 1e400 Infinity", "ref": "intake-1733000000", "code": "9" * 400}
    raw = json.dumps({"leads": [{"externalId": "L1", "status": "valid", "fields": fields}]})
    response = _post(client, f"/api/v4/campaigns/{world.a.campaign.id}/leads", raw, world.a.tokens["manager"])
    assert response.status_code == 201, response.json
    assert db.session.scalar(select(Lead)).fields == fields


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ('{"integrationIds": [NaN]}', "integrationIds.0"),
        ('{"integrationIds": [1e400]}', "integrationIds.0"),
        ('{"integrationIds": [Infinity]}', "integrationIds.0"),
    ],
)
def test_batch_now_refuses_non_finite_ids(client, world, raw, field):
    response = _post(client, "/api/v4/batch-manager-batch-now", raw, world.a.tokens["manager"])
    assert response.status_code == 422
    assert list(response.json["error"]["details"]) == [field]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ('"maxLeadsPerFile": Infinity', "file.maxLeadsPerFile"),
        ('"maxLeadsPerFile": 1e400', "file.maxLeadsPerFile"),
        ('"maxLeadsPerFile": NaN', "file.maxLeadsPerFile"),
        ('"delimiter": "\\ud800"', "file.delimiter"),
    ],
)
def test_integration_create_refuses_bad_numbers_and_surrogates(client, world, change, field):
    body = {
        "campaignId": world.a.campaign.id,
        "label": "Nightly",
        "schedule": {"cron": "30 2 * * *", "timezone": "UTC"},
        "file": {"format": "csv", "REPLACE": 1},
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": {"method": "local", "directory": "crm"},
    }
    raw = json.dumps(body).replace('"REPLACE": 1', change)
    before = db.session.scalar(select(func.count()).select_from(BatchCsvIntegration))
    response = _post(client, "/api/v4/batch-integrations", raw, world.a.tokens["admin"])
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.json["error"]["details"]) == [field]
    assert db.session.scalar(select(func.count()).select_from(BatchCsvIntegration)) == before


@pytest.mark.parametrize(
    ("mapping", "message"),
    [
        ('[{"source": "email", "header": "\\ud800"}]', "Row 1 header: must not contain a lone UTF-16 surrogate"),
        ('[{"source": "email", "header": NaN}]', "Row 1 header: must be a finite number"),
    ],
)
def test_admin_mapping_with_a_surrogate_or_nan_is_a_form_error(app, client, world, mapping, message):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    response = client.post("/admin/integrations/new/", data=_admin_form(world, mapping))
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Strict feed")) is None


def _admin_form(world, mapping: str) -> MultiDict:
    return MultiDict(
        {
            "campaign_id": str(world.a.campaign.id),
            "label": "Strict feed",
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
            "fields_json": mapping,
            "delivery_method": "local",
            "directory": "strict",
            "credential_id": "0",
        }
    )


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("max_leads_per_file", "9" * 400, "must be at most 2,147,483,647"),
        ("port", "9" * 400, "must be at most 2,147,483,647"),
        ("campaign_id", "9" * 400, "Invalid Choice"),
        ("credential_id", "9" * 30, "Invalid Choice"),
    ],
)
def test_admin_numbers_beyond_any_column_are_form_errors(app, client, world, field, value, message):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    form = _admin_form(world, "[]")
    form[field] = value
    if field == "port":
        form.update({"delivery_method": "sftp", "host": "sftp.example.com", "username": "u"})
    response = client.post("/admin/integrations/new/", data=form)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Strict feed")) is None


def test_cli_import_of_bytes_that_are_not_utf8_imports_nothing(runner, world, tmp_path):
    path = tmp_path / "leads.csv"
    good = "".join(f"A{i},valid,a{i}@x.test\n" for i in range(1500))
    # ED A0 80 is a UTF-16 surrogate encoded as UTF-8: not valid UTF-8, on line 1,502.
    path.write_bytes(b"external_id,status,email\n" + good.encode() + b"B1,valid,\xed\xa0\x80@x.test\n")
    result = runner.invoke(args=["leads", "import", str(path), "--campaign", str(world.a.campaign.id)])
    assert result.exit_code != 0
    assert "line 1502 is not valid UTF-8" in result.output and "nothing was imported" in result.output
    assert "Traceback" not in result.output
    assert _counts()[0] == 0


def test_s3_keys_sent_as_json_text_with_a_lone_surrogate_are_refused(client, world):
    # The secret is a JSON string holding JSON text: the outer parse keeps "\ud800" as six
    # characters, the credential service's inner parse would make it a lone surrogate.
    secret = '{"accessKeyId": "AKIA\\ud800", "secretAccessKey": "x"}'
    raw = json.dumps({"name": "bucket", "kind": "s3_keys", "secret": secret})
    response = _post(client, "/api/v4/credentials", raw, world.a.tokens["admin"])
    assert response.status_code == 422, response.get_data(as_text=True)
    assert list(response.json["error"]["details"]) == ["secret.accessKeyId"]
    assert db.session.scalar(select(func.count()).select_from(Credential)) == 0


def test_a_patch_body_that_is_not_utf8_is_refused_not_taken_as_empty(client, world):
    response = client.patch(
        f"/api/v4/batch-integrations/{world.a.integration.id}",
        data=b"\xb6z\x0b\xcf\xb6F\x14\xff\xfepu",
        content_type="application/json",
        headers={"Authorization": f"Bearer {world.a.tokens['admin']}"},
    )
    assert 400 <= response.status_code < 500 and response.json["error"]
