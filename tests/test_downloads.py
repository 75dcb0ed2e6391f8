"""One download service behind the API, the admin and the e-mailed link: the same bytes,
headers and audit event everywhere; 404 unknown or foreign, 410 when the stored file is gone."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, SentBatch
from app.services import download_links, pipeline, sending
from app.services.storage import get_store
from tests import factories
from tests.admin_support import SENT, login

SAME_HEADERS = ("Content-Disposition", "ETag", "Content-Type", "Content-Length", "Accept-Ranges", "Cache-Control")


@pytest.fixture
def delivered(world) -> SentBatch:
    factories.leads(world.a.campaign, 5)
    [outcome] = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    db.session.expire_all()
    return db.session.get(SentBatch, outcome.batch_id)


@pytest.fixture
def doors(app, client, world):
    """GET the download of a batch id through each door: API, admin (logged in) and link."""
    app.config["WTF_CSRF_ENABLED"] = False
    admin = app.test_client()
    login(admin, world.a.users["manager"])
    api_headers = {"Authorization": f"Bearer {world.a.tokens['manager']}"}

    def get(door: str, batch_id: int, **headers):
        if door == "api":
            return client.get(f"/api/v4/campaign-lead-batches/{batch_id}/download", headers={**api_headers, **headers})
        if door == "admin":
            return admin.get(f"{SENT}/download/{batch_id}", headers=headers)
        return client.get(f"/files/{download_links.make_token(batch_id)}", headers=headers)

    return get


DOORS = ("api", "admin", "email_link")


def test_every_door_serves_the_same_bytes_headers_and_audit_event(delivered, doors):
    stored = get_store().open(delivered.storage_key).read()
    responses = {door: doors(door, delivered.id) for door in DOORS}
    for door, response in responses.items():
        assert response.status_code == 200, (door, response.data[:300])
        assert response.data == stored
    first = responses["api"]
    assert first.headers["ETag"] == f'"{delivered.sha256}"'
    assert first.headers["Content-Disposition"].startswith(f'attachment; filename="{delivered.file_name}"')
    for door in DOORS:
        assert {h: responses[door].headers.get(h) for h in SAME_HEADERS} == {
            h: first.headers.get(h) for h in SAME_HEADERS
        }, door
        part = doors(door, delivered.id, Range="bytes=2-5")
        assert (part.status_code, part.data) == (206, stored[2:6]), door
        assert doors(door, delivered.id, **{"If-None-Match": first.headers["ETag"]}).status_code == 304, door

    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "download").order_by(AuditEvent.id)).all()
    rows = [(e.details["via"], e.details["range"], e.severity, e.target_id) for e in events]
    target = str(delivered.id)
    # One event per 200 and 206 (none for the 304s), each door named, the same shape everywhere.
    assert rows == [
        ("api", None, "high", target),
        ("admin", None, "high", target),
        ("email_link", None, "high", target),
        ("api", "bytes=2-5", "high", target),
        ("admin", "bytes=2-5", "high", target),
        ("email_link", "bytes=2-5", "high", target),
    ]
    assert {frozenset(e.details) for e in events} == {frozenset({"via", "fileName", "sha256", "range", "remoteAddr"})}


def test_a_deleted_stored_file_is_410_at_every_door_and_nothing_is_audited(delivered, doors):
    get_store().delete(delivered.storage_key)
    api = doors("api", delivered.id)
    assert api.status_code == 410
    assert api.json["error"]["code"] == "file_gone"
    assert "no longer in the file store" in api.json["error"]["message"]

    admin = doors("admin", delivered.id)
    assert admin.status_code == 410
    page = admin.get_data(as_text=True)
    assert f"File #{delivered.id} can no longer be downloaded" in page and "no longer in the file store" in page

    link = doors("email_link", delivered.id)
    assert link.status_code == 410 and link.json["error"]["code"] == "file_gone"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "download")) is None


def test_a_damaged_stored_file_is_410_rather_than_other_bytes_under_the_recorded_sha256(delivered, doors):
    path = get_store().path(delivered.storage_key)
    with open(path, "r+b") as fh:
        fh.truncate(3)
    for door in DOORS:
        response = doors(door, delivered.id)
        assert response.status_code == 410, door
        assert "no longer matches what was sent (3 bytes)" in response.get_data(as_text=True)


def test_unknown_and_foreign_batches_are_404_at_every_door(world, delivered, doors):
    factories.leads(world.b.campaign, 2)
    [theirs] = sending.batch_now([world.b.integration.id], world.b.users["manager"])
    assert pipeline.process_batch(theirs.batch_id) == "delivered"
    for door in ("api", "admin"):
        assert doors(door, theirs.batch_id).status_code == 404, door
        assert doors(door, 999_999).status_code == 404, door
    # A link names its batch itself (signed); one for a batch that does not exist is 404.
    assert doors("email_link", 999_999).status_code == 404
