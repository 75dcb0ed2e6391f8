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
