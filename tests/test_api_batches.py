"""Batch now (all-or-nothing, in flight, empty), the lead views, resend/retry/requeue and download."""

from __future__ import annotations

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration, SentBatch
from app.services import pipeline
from app.services.storage import get_store
from tests import factories
from tests.engine_support import local_dir


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def batch_now(client, token, ids):
    return client.post("/api/v4/batch-manager-batch-now", json={"integrationIds": ids}, headers=bearer(token))


def test_batch_now_queues_a_file_then_reports_it_in_flight(client, world):
    factories.leads(world.a.campaign, 3)
    first = batch_now(client, world.a.tokens["manager"], [world.a.integration.id])
    assert first.status_code == 202
    [outcome] = first.json["data"]
    assert outcome["status"] == "queued" and outcome["leadCount"] == 3
    assert outcome["integrationId"] == world.a.integration.id
    # More leads arrive while that send runs: batch now returns the running send, never a second one.
    factories.leads(world.a.campaign, 2, prefix="later")
    again = batch_now(client, world.a.tokens["admin"], [world.a.integration.id])
    assert again.status_code == 202
    assert again.json["data"] == [
        {"integrationId": world.a.integration.id, "batchId": outcome["batchId"], "status": "in_flight", "leadCount": 3}
    ]
    assert db.session.scalar(select(func.count()).select_from(SentBatch)) == 1
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "batch_now")).all()
    assert audit and all(e.severity == "high" for e in audit)


def test_batch_now_with_nothing_pending_is_empty(client, world):
    response = batch_now(client, world.a.tokens["manager"], [world.a.integration.id])
    assert response.status_code == 202
    assert response.json["data"] == [
        {"integrationId": world.a.integration.id, "batchId": None, "status": "empty", "leadCount": 0}
    ]


def test_batch_now_is_all_or_nothing(client, world):
    factories.leads(world.a.campaign, 4)
    ids = [world.a.integration.id, world.b.integration.id, 2_000_000]
    response = batch_now(client, world.a.tokens["manager"], ids)
    assert response.status_code == 422
    assert sorted(response.json["error"]["details"]["integrationIds"]) == sorted(ids[1:])
    assert db.session.scalar(select(func.count()).select_from(SentBatch)) == 0
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, world.a.integration.id).pending_count == 4


def test_batch_now_body_is_validated(client, world):
    token = world.a.tokens["manager"]
    for body in (
        {},
        {"integrationIds": []},
        {"integrationIds": list(range(1, 502))},
        {"integrationIds": ["x"]},
        {"integrationIds": [0]},
        {"integrationIds": [1], "extra": True},
    ):
        response = client.post("/api/v4/batch-manager-batch-now", json=body, headers=bearer(token))
        assert response.status_code == 422, body
        assert response.json["error"]["details"], body


def test_pending_and_sent_lead_views_show_the_file_columns(client, world):
    factories.leads(world.a.campaign, 3)
    url = f"/api/v4/batch-manager/{world.a.integration.id}/leads"
    body = client.get(url, query_string={"perPage": 2}, headers=bearer(world.a.tokens["viewer"])).json
    assert body["meta"] == {
        "page": 1,
        "perPage": 2,
        "total": 3,
        "headers": ["Lead ID", "External ID", "Email", "First Name"],
    }
    first = body["data"][0]
    assert first["fields"]["External ID"] == "ext-0" and first["fields"]["Email"] == "person0@example.com"
    assert first["queuedAt"].endswith("Z") and isinstance(first["leadId"], int)
    page2 = client.get(url, query_string={"perPage": 2, "page": 2}, headers=bearer(world.a.tokens["viewer"])).json
    assert [r["fields"]["External ID"] for r in page2["data"]] == ["ext-2"]

    batch_id = batch_now(client, world.a.tokens["manager"], [world.a.integration.id]).json["data"][0]["batchId"]
    sent = client.get(f"/api/v4/campaign-lead-batches/{batch_id}/leads", headers=bearer(world.a.tokens["viewer"])).json
    assert sent["meta"]["total"] == 3
    assert [r["fields"]["External ID"] for r in sent["data"]] == ["ext-0", "ext-1", "ext-2"]
    after = client.get(url, headers=bearer(world.a.tokens["viewer"])).json
    assert after["data"] == [] and after["meta"]["total"] == 0


def _delivered_batch(client, world) -> SentBatch:
    factories.leads(world.a.campaign, 5)
    batch_id = batch_now(client, world.a.tokens["manager"], [world.a.integration.id]).json["data"][0]["batchId"]
    assert pipeline.process_batch(batch_id) == "delivered"
    db.session.expire_all()
    return db.session.get(SentBatch, batch_id)


def test_download_is_the_delivered_file_with_etag_range_and_disposition(client, world):
    batch = _delivered_batch(client, world)
    stored = get_store().open(batch.storage_key).read()
    delivered = (
        local_dir(world.a.enterprise.id, world.a.integration.delivery["directory"]) / batch.file_name
    ).read_bytes()
    assert stored == delivered

    url = f"/api/v4/campaign-lead-batches/{batch.id}/download"
    headers = bearer(world.a.tokens["manager"])
    response = client.get(url, headers=headers)
    assert response.status_code == 200
    assert response.data == stored
    assert response.headers["ETag"] == f'"{batch.sha256}"'
    disposition = response.headers["Content-Disposition"]
    assert disposition.startswith("attachment;")
    assert f'filename="{batch.file_name}"' in disposition and "filename*=UTF-8''" in disposition
    assert response.headers["Accept-Ranges"] == "bytes"

    not_modified = client.get(url, headers={**headers, "If-None-Match": f'"{batch.sha256}"'})
    assert not_modified.status_code == 304 and not_modified.data == b""
    part = client.get(url, headers={**headers, "Range": "bytes=0-9"})
    assert part.status_code == 206 and part.data == stored[:10]
    assert part.headers["Content-Range"] == f"bytes 0-9/{len(stored)}"
    unsatisfiable = client.get(url, headers={**headers, "Range": f"bytes={len(stored) + 10}-"})
    assert unsatisfiable.status_code == 416

    downloads = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "download")).all()
    assert len(downloads) == 2 and {e.severity for e in downloads} == {"high"}  # the 200 and the 206


def test_download_of_a_batch_without_a_stored_file_is_409(client, world):
    factories.leads(world.a.campaign, 1)
    batch_id = batch_now(client, world.a.tokens["manager"], [world.a.integration.id]).json["data"][0]["batchId"]
    response = client.get(f"/api/v4/campaign-lead-batches/{batch_id}/download", headers=bearer(world.a.tokens["admin"]))
    assert response.status_code == 409 and response.json["error"]["code"] == "conflict"


def test_content_disposition_is_rfc6266_safe_for_any_name():
    from app.downloads import content_disposition

    header = content_disposition('Früh"jahr; leads\\x.csv')
    assert header.startswith('attachment; filename="Fr_h_jahr_ leads_x.csv"; ')
    assert header.endswith("filename*=UTF-8''Fr%C3%BCh%22jahr%3B%20leads%5Cx.csv")


def test_resend_creates_a_new_batch_of_the_same_file(client, world):
    batch = _delivered_batch(client, world)
    response = client.post(
        f"/api/v4/campaign-lead-batches/{batch.id}/resend", headers=bearer(world.a.tokens["manager"])
    )
    assert response.status_code == 202
    data = response.json["data"]
    assert data["trigger"] == "resend" and data["resendOfId"] == batch.id and data["id"] != batch.id
    assert data["sha256"] == batch.sha256 and data["triggeredBy"] == world.a.users["manager"].email
    assert db.session.scalar(select(AuditEvent.severity).where(AuditEvent.action == "resend")) == "high"


def test_retry_and_requeue_only_apply_to_failed_batches(client, world):
    batch = _delivered_batch(client, world)
    for action in ("retry", "requeue"):
        response = client.post(
            f"/api/v4/campaign-lead-batches/{batch.id}/{action}", headers=bearer(world.a.tokens["manager"])
        )
        assert response.status_code == 409, action

    batch.status, batch.last_error = "failed", "connection refused"
    db.session.commit()
    response = client.post(
        f"/api/v4/campaign-lead-batches/{batch.id}/requeue", headers=bearer(world.a.tokens["manager"])
    )
    assert response.status_code == 200 and response.json["data"] == {"requeued": 5}
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, world.a.integration.id).pending_count == 5
