"""Erasure of one person: gone from every pending file, stored file, API answer and admin page of
their enterprise; every other row and file byte unchanged; audited; safe to repeat."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration, Lead, QueueEntry, SentBatch
from app.services import pipeline, sending
from app.services.intake import ingest_leads
from app.services.storage import get_store
from tests import factories
from tests.admin_support import PENDING, SENT, login
from tests.engine_support import files_holding, pending_count

EMAIL, PHONE = "Ada.Lovelace@Example.com", "+44 20 7946 0958"
VALUES = (b"ada.lovelace@example.com", b"+44 20 7946 0958", b"ada-", b"Lovelace")


def _person(external_id: str) -> dict:
    return {
        "externalId": external_id,
        "status": "valid",
        "fields": {"email": EMAIL, "phone": PHONE, "first_name": "Ada Lovelace"},
    }


def _others(prefix: str, n: int) -> list[dict]:
    return [
        {
            "externalId": f"{prefix}-{i}",
            "status": "valid",
            "fields": {"email": f"{prefix}{i}@example.com", "first_name": f"P {i}"},
        }
        for i in range(n)
    ]


def _send(tenant, integration_id: int) -> SentBatch:
    [outcome] = sending.batch_now([integration_id], tenant.users["manager"])
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    return db.session.get(SentBatch, outcome.batch_id)


@pytest.fixture
def scene(world):
    """Ada in 3 sent files and 2 pending files of enterprise A; a lead of B with her email."""
    a = world.a
    feeds = [a.integration, factories.integration(a.campaign, "Feed 2"), factories.integration(a.campaign, "Feed 3")]
    ingest_leads(a.campaign, [_person("ada-1"), *_others("s", 3)])
    sent = [_send(a, feed.id) for feed in feeds]
    resend = sending.resend_batch(sent[0].id, a.users["manager"])
    assert pipeline.process_batch(resend.id) == "delivered"
    feeds[2].enabled = False
    db.session.commit()
    ingest_leads(a.campaign, [*_others("w", 2), _person("ada-2"), *_others("x", 2)])
    ingest_leads(world.b.campaign, [_person("ada-b"), *_others("b", 2)])
    b_sent = _send(world.b, world.b.integration.id)
    db.session.expire_all()
    return {"feeds": [f.id for f in feeds], "sent": [b.id for b in sent], "resend": resend.id, "b_sent": b_sent.id}


def _rows(*exclude: int) -> dict:
    """Every lead and queue entry and every file's stored bytes, to compare byte for byte."""
    db.session.expire_all()
    store = get_store()
    return {
        "leads": {
            lead.id: (
                lead.external_id,
                lead.status,
                lead.fields,
                lead.email_key,
                lead.phone_key,
                lead.created_at,
                lead.redacted_at,
            )
            for lead in db.session.scalars(select(Lead))
            if lead.id not in exclude
        },
        "entries": {
            (e.integration_id, e.lead_id, e.queued_at, tuple(files_holding(e.integration_id)[e.id]))
            for e in db.session.scalars(select(QueueEntry))
            if e.lead_id not in exclude
        },
    } | {
        "b_file": [
            store.open(b.storage_key).read()
            for b in db.session.scalars(select(SentBatch).where(SentBatch.enterprise_id == 2))
        ]
    }


def _api(client, tenant, method: str, path: str, **kw):
    return client.open(path, method=method, headers={"Authorization": f"Bearer {tenant.tokens['admin']}"}, **kw)


def test_erasure_removes_the_person_everywhere_in_their_enterprise_and_nothing_else(app, client, world, scene):
    a = world.a
    ada_ids = list(
        db.session.scalars(select(Lead.id).where(Lead.external_id.in_(["ada-1", "ada-2"])).order_by(Lead.id))
    )
    stored_before = {b.id: get_store().open(b.storage_key).read() for b in db.session.scalars(select(SentBatch))}
    before = _rows(*ada_ids)
    pending_before = {i.id: i.pending_count for i in db.session.scalars(select(BatchCsvIntegration))}

    shown = _api(
        client, a, "POST", "/api/v4/erasures/preview", json={"by": "email", "value": "ada.lovelace@EXAMPLE.com"}
    )
    assert shown.status_code == 200, shown.json
    data = shown.json["data"]
    assert [lead["leadId"] for lead in data["leads"]] == ada_ids
    assert [(p["integrationId"], p["entries"]) for p in data["pending"]] == [
        (scene["feeds"][0], 1),
        (scene["feeds"][1], 1),
    ]
    assert [(f["fileId"], f["action"]) for f in data["files"]] == [(i, "rewrite") for i in scene["sent"]]
    assert data["files"][0]["resendIds"] == [scene["resend"]]
    assert _rows(*ada_ids) == before  # the preview changes nothing

    refused = _api(client, a, "POST", "/api/v4/erasures", json={"by": "email", "value": EMAIL})
    assert refused.status_code == 422 and "confirm" in refused.json["error"]["details"]
    done = _api(
        client, a, "POST", "/api/v4/erasures", json={"by": "phone", "value": "+44 (20) 7946-0958", "confirm": True}
    )
    assert done.status_code == 200, done.json
    assert len(done.json["data"]["leads"]) == 2

    # Every other person's rows and entries unchanged, B's file byte for byte; pending counts moved by one.
    assert _rows(*ada_ids) == before
    db.session.expire_all()
    for lead in db.session.scalars(select(Lead).where(Lead.id.in_(ada_ids))):
        assert (lead.fields, lead.email_key, lead.phone_key, lead.external_id) == ({}, None, None, f"erased-{lead.id}")
    pending_after = {i.id: i.pending_count for i in db.session.scalars(select(BatchCsvIntegration))}
    for feed in scene["feeds"][:2]:
        assert pending_after[feed] == pending_before[feed] - 1
        assert pending_count(feed) > 0
    assert pending_after[world.b.integration.id] == pending_before[world.b.integration.id]

    # Every stored file of A, read through the storage service: no value of hers; the same
    # lines as before minus hers; recorded sha256 and size match; B's still holds B's lead.
    store = get_store()
    for batch in db.session.scalars(select(SentBatch).order_by(SentBatch.id)):
        now = store.open(batch.storage_key).read()
        if batch.enterprise_id == world.b.enterprise.id:
            assert now == stored_before[batch.id] and b"ada-b" in now
            continue
        assert not any(value.lower() in now.lower() for value in VALUES), batch.id
        old_lines = stored_before[batch.id].splitlines()
        assert now.splitlines() == [line for line in old_lines if b"ada-" not in line]
        assert (batch.sha256, batch.size_bytes) == (store.sha256(batch.storage_key), len(now))
        assert batch.rewritten_at is not None and batch.row_count == 3
        download = _api(client, a, "GET", f"/api/v4/campaign-lead-batches/{batch.id}/download")
        assert download.status_code == 200 and download.data == now

    # No API answer or admin page shows her.
    for path in [
        "/api/v4/leads?email=ada.lovelace%40example.com",
        "/api/v4/leads?externalId=ada-1",
        *[f"/api/v4/batch-manager/{f}/leads" for f in scene["feeds"]],
        *[f"/api/v4/campaign-lead-batches/{b}/leads" for b in scene["sent"]],
    ]:
        answer = _api(client, a, "GET", path)
        assert answer.status_code == 200, path
        assert not any(value.lower() in answer.data.lower() for value in VALUES), path
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, a.users["admin"])
    # The trace page echoes the searched email in its search box; it finds no lead.
    trace = client.get("/admin/lead-trace/?by=email&q=ada.lovelace%40example.com").data
    assert b'id="bm-trace-none"' in trace and b"Lovelace" not in trace and PHONE.encode() not in trace
    for page in [f"{SENT}/view/{b}" for b in scene["sent"]] + [f"{PENDING}/view/{f}" for f in scene["feeds"][:2]]:
        html = client.get(page, follow_redirects=True)
        assert html.status_code == 200, page
        assert not any(value.lower() in html.data.lower() for value in VALUES), page
        assert b"P 1" in html.data, page  # the page does list the others

    # The audit: who, when, what; each file's original sha256 kept.
    [event] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "erasure")).all()
    assert (event.actor, event.severity, event.details["leadIds"], event.details["by"]) == (
        a.users["admin"].email,
        "high",
        ada_ids,
        "phone",
    )
    assert event.created_at is not None and b"ada" not in str(event.details).lower().encode()
    files = db.session.scalars(
        select(AuditEvent).where(AuditEvent.action == "erasure.file").order_by(AuditEvent.id)
    ).all()
    assert [(int(e.target_id), e.severity, e.details["action"]) for e in files] == [
        (i, "high", "rewrite") for i in scene["sent"]
    ]
    import hashlib

    assert [e.details["before"]["sha256"] for e in files] == [
        hashlib.sha256(stored_before[i]).hexdigest() for i in scene["sent"]
    ]

    # Again: nothing left to find, nothing changes.
    snapshot = (_rows(), [(b.id, b.sha256) for b in db.session.scalars(select(SentBatch).order_by(SentBatch.id))])
    again = _api(client, a, "POST", "/api/v4/erasures", json={"by": "email", "value": EMAIL, "confirm": True})
    assert again.status_code == 200 and again.json["data"] == {"leads": [], "pending": [], "files": []}
    assert (
        _rows(),
        [(b.id, b.sha256) for b in db.session.scalars(select(SentBatch).order_by(SentBatch.id))],
    ) == snapshot


def test_erasure_is_for_admins_and_refuses_bad_input(world, client):
    manager = {"Authorization": f"Bearer {world.a.tokens['manager']}"}
    body = {"by": "email", "value": EMAIL, "confirm": True}
    assert client.post("/api/v4/erasures", json=body, headers=manager).status_code == 403
    admin = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    for bad in (
        {"by": "name", "value": "x"},
        {"by": "email"},
        {"by": "email", "value": ""},
        {"by": "email", "value": "a\x00b"},
    ):
        answer = client.post("/api/v4/erasures/preview", json=bad, headers=admin)
        assert 400 <= answer.status_code < 500 and "error" in answer.json, bad


def test_the_admin_page_previews_then_erases(app, client, world, scene):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["admin"])
    page = client.post("/admin/erasure/", data={"by": "email", "value": EMAIL}).get_data(as_text=True)
    assert "2 lead(s)" in page and "bm-erasure-confirm" in page
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.action == "erasure")) is None
    done = client.post("/admin/erasure/", data={"by": "email", "value": EMAIL, "confirm": "yes"}, follow_redirects=True)
    assert "Erased: 2 lead(s) redacted, 2 pending entr(ies) removed, 3 stored file(s)" in done.get_data(as_text=True)
    assert db.session.scalar(select(Lead.id).where(Lead.email_key == "ada.lovelace@example.com")) is not None  # B's
    assert (
        db.session.scalar(select(AuditEvent.actor).where(AuditEvent.action == "erasure"))
        == world.a.users["admin"].email
    )
