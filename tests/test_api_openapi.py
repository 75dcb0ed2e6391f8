"""The OpenAPI document and the docs page: public, complete, and in our error shape."""

from __future__ import annotations

CONTRACT = {
    ("get", "/api/v4/batch-manager"),
    ("get", "/api/v4/campaign-lead-batches"),
    ("post", "/api/v4/batch-manager-batch-now"),
    ("get", "/api/v4/campaign-lead-batches/{batch_id}/download"),
    ("get", "/api/v4/batch-manager/{integration_id}/leads"),
    ("get", "/api/v4/campaign-lead-batches/{batch_id}"),
    ("get", "/api/v4/campaign-lead-batches/{batch_id}/leads"),
    ("post", "/api/v4/campaign-lead-batches/{batch_id}/resend"),
    ("get", "/api/v4/advertisers"),
    ("post", "/api/v4/advertisers"),
    ("get", "/api/v4/campaigns"),
    ("post", "/api/v4/campaigns"),
    ("get", "/api/v4/batch-integrations"),
    ("post", "/api/v4/batch-integrations"),
    ("patch", "/api/v4/batch-integrations/{integration_id}"),
    ("get", "/api/v4/credentials"),
    ("post", "/api/v4/credentials"),
    ("post", "/api/v4/campaigns/{campaign_id}/leads"),
    ("post", "/api/v4/batch-integrations/{integration_id}/test-connection"),
}


def test_document_covers_the_contract_with_bearer_auth(client):
    doc = client.get("/api/v4/openapi.json").json
    assert doc["openapi"].startswith("3.")
    operations = {(method, path) for path, item in doc["paths"].items() for method in item if method != "parameters"}
    assert operations >= CONTRACT, CONTRACT - operations
    assert doc["components"]["securitySchemes"]["bearerAuth"] == {"type": "http", "scheme": "bearer"}
    assert doc["security"] == [{"bearerAuth": []}]
    # Errors are documented in the shape the API sends.
    assert set(doc["components"]["schemas"]["Error"]["properties"]) == {"error"}
    pending = doc["paths"]["/api/v4/batch-manager"]["get"]
    params = {p["name"] for p in pending["parameters"]}
    assert {
        "advertiserId",
        "advertiserName",
        "campaignId",
        "campaignName",
        "label",
        "page",
        "perPage",
        "sort",
    } <= params
    assert "requestBody" in doc["paths"]["/api/v4/campaigns/{campaign_id}/leads"]["post"]


def test_docs_page_is_served(client):
    page = client.get("/api/v4/docs")
    assert page.status_code == 200
    assert b"swagger-ui" in page.data and b"openapi.json" in page.data


def _schemas(client) -> dict:
    return client.get("/api/v4/openapi.json").json["components"]["schemas"]


def _bearer(world) -> dict:
    return {"Authorization": f"Bearer {world.a.tokens['admin']}"}


def test_delivery_and_credentials_are_one_schema_per_method_and_kind(client):
    schemas = _schemas(client)
    delivery = schemas["IntegrationBody"]["properties"]["delivery"]
    assert delivery["discriminator"]["propertyName"] == "method"
    assert set(delivery["discriminator"]["mapping"]) == {"sftp", "email", "ftp", "s3", "local"}
    assert len(delivery["oneOf"]) == 5
    s3 = schemas["S3Delivery"]
    assert {"method", "bucket", "credentialId"} <= set(s3["required"]) and s3["additionalProperties"] is False
    assert "host" not in s3["properties"]
    doc = client.get("/api/v4/openapi.json").json
    body = doc["paths"]["/api/v4/credentials"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body["discriminator"]["propertyName"] == "kind"
    assert set(body["discriminator"]["mapping"]) == {
        "password",
        "ssh_private_key",
        "s3_keys",
        "file_password",
        "pgp_public_key",
    }
    assert {"$ref": "#/components/schemas/S3Keys"} in schemas["S3KeysCredential"]["properties"]["secret"]["oneOf"]
    # Responses use the same per-method schemas.
    assert schemas["IntegrationOut"]["properties"]["delivery"]["discriminator"] == delivery["discriminator"]


def test_strings_state_their_limits(client):
    schemas = _schemas(client)
    name = schemas["AdvertiserBody"]["properties"]["name"]
    assert name["maxLength"] == 200 and "\\u0000" in name["pattern"]
    value = schemas["Lead"]["properties"]["fields"]["additionalProperties"]
    assert {branch.get("type") for branch in value["oneOf"]} == {"string", "number", "boolean"}
    assert any(branch.get("nullable") for branch in value["oneOf"])


def test_what_the_document_refuses_the_server_refuses(client, world):
    """Requests the document calls invalid: each is a 422 naming the field."""
    admin = _bearer(world)
    cases = [
        ("/api/v4/advertisers", {"name": "nul\x00name"}, "name"),
        ("/api/v4/advertisers", {"name": "   "}, "name"),
        ("/api/v4/credentials", {"name": "k", "kind": "s3_keys", "secret": ["not an object"]}, "secret"),
        ("/api/v4/credentials", {"name": "k", "kind": "password", "secret": {"p": 1}}, "secret"),
        ("/api/v4/credentials", {"name": "k", "kind": "magic", "secret": "x"}, "kind"),
    ]
    local = {"method": "local", "directory": "out"}
    integration = {
        "campaignId": world.a.campaign.id,
        "label": "L",
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": local,
    }
    for change, field in (
        ({"delivery": {"method": "s3", "credentialId": 1}}, "delivery.bucket"),
        ({"delivery": {"method": "ftp", "host": "h", "port": "21", "credentialId": 1}}, "delivery.port"),
        ({"delivery": {**local, "host": "h"}}, "delivery.host"),
        ({"enabled": "yes"}, "enabled"),
        ({"campaignId": str(world.a.campaign.id)}, "campaignId"),
    ):
        cases.append(("/api/v4/batch-integrations", {**integration, **change}, field))
    for url, body, field in cases:
        response = client.post(url, json=body, headers=admin)
        assert response.status_code == 422, (body, response.json)
        details = response.json["error"]["details"]
        assert any(key.startswith(field) for key in details), (body, response.json)
    leads = {"leads": [{"externalId": "e1", "status": "valid", "fields": {"nested": {"no": 1}}}]}
    response = client.post(f"/api/v4/campaigns/{world.a.campaign.id}/leads", json=leads, headers=admin)
    assert response.status_code == 422


def test_a_patch_needs_a_body(client, world):
    url = f"/api/v4/batch-integrations/{world.a.integration.id}"
    admin = _bearer(world)
    response = client.patch(url, headers=admin)
    assert response.status_code == 422 and response.json["error"]["code"] == "validation_error"
    response = client.patch(url, headers={**admin, "Content-Type": "application/json"}, data="")
    assert response.status_code == 422
    # An empty object is a body with no change: the document allows it, so does the server.
    assert client.patch(url, json={}, headers=admin).status_code == 200
