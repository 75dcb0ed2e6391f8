"""Lead status after intake: invalid leads leave pending files (never claimed ones), counts move."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, Campaign, Lead, LeadDrop, QueueEntry, SentBatch
from app.services import sending
from app.services.actors import SYSTEM
from app.services.intake import ingest_leads
from app.services.lead_status import change_statuses
from tests import factories
from tests.engine_support import counter, csv_rows, drain, files_holding, pending_count, run_concurrently, stored_bytes


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _patch(client, world, leads, role="manager"):
    return client.patch(
        f"/api/v4/campaigns/{world.a.campaign.id}/leads", json={"leads": leads}, headers=bearer(world.a.tokens[role])
    )


def _pending_row(client, world) -> int:
    rows = client.get("/api/v4/batch-manager?includeEmpty=true", headers=bearer(world.a.tokens["viewer"])).json["data"]
    return next(r["leadCount"] for r in rows if r["integrationId"] == world.a.integration.id)


def _file_external_ids(batch: SentBatch) -> list[str]:
    rows = csv_rows(stored_bytes(batch))[1:]
    ids = [int(r[0]) for r in rows]
    by_id = dict(db.session.execute(select(Lead.id, Lead.external_id).where(Lead.id.in_(ids))).all())
    return sorted(by_id[i] for i in ids)


def _send_and_deliver(integration_id: int) -> SentBatch:
    [outcome] = sending.send_integration(integration_id, "schedule", SYSTEM)
    drain()
    db.session.expire_all()
    return db.session.get(SentBatch, outcome.batch_id)


def test_leads_made_invalid_before_the_claim_are_absent_from_the_file(client, world):
    factories.leads(world.a.campaign, 10)
    assert _pending_row(client, world) == 10

    answer = _patch(
        client,
        world,
        [
            {"externalId": "ext-1", "status": "rejected"},
            {"externalId": "ext-2", "status": "returned"},
            {"externalId": "ext-3", "status": "valid"},  # unchanged
            {"externalId": "nope", "status": "rejected"},
        ],
    )
    assert answer.status_code == 200
    assert answer.json["data"] == {
        "updated": 2,
        "unchanged": 1,
        "unknown": ["nope"],
        "unknownCount": 1,
        "dropped": 2,
        "requeued": 0,
    }
    assert _pending_row(client, world) == 8
    assert counter(world.a.integration.id) == pending_count(world.a.integration.id) == 8
    preview = client.get(
        f"/api/v4/batch-manager/{world.a.integration.id}/leads", headers=bearer(world.a.tokens["viewer"])
    ).json
    assert preview["meta"]["total"] == 8

    dropped = client.get(
        f"/api/v4/batch-manager/{world.a.integration.id}/dropped-leads", headers=bearer(world.a.tokens["viewer"])
    ).json
    assert dropped["meta"]["total"] == 2
    assert sorted((d["externalId"], d["status"]) for d in dropped["data"]) == [
        ("ext-1", "rejected"),
        ("ext-2", "returned"),
    ]
    assert all(d["droppedAt"].endswith("Z") for d in dropped["data"])

    batch = _send_and_deliver(world.a.integration.id)
    assert batch.status == "delivered" and batch.lead_count == 8
    assert _file_external_ids(batch) == sorted(f"ext-{i}" for i in range(10) if i not in (1, 2))
    assert db.session.get(Lead, db.session.scalar(select(Lead.id).where(Lead.external_id == "ext-1"))).status == (
        "rejected"
    )


def test_a_lead_made_invalid_after_the_claim_stays_in_its_file(client, world):
    factories.leads(world.a.campaign, 5)
    [outcome] = sending.send_integration(world.a.integration.id, "schedule", SYSTEM)
    db.session.commit()  # claimed, not yet built or delivered

    answer = _patch(client, world, [{"externalId": "ext-0", "status": "rejected"}])
    assert answer.json["data"]["updated"] == 1 and answer.json["data"]["dropped"] == 0
    assert counter(world.a.integration.id) == pending_count(world.a.integration.id) == 0

    drain()
    db.session.expire_all()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered" and batch.lead_count == 5
    assert _file_external_ids(batch) == [f"ext-{i}" for i in range(5)]
    sent_view = client.get(
        f"/api/v4/campaign-lead-batches/{batch.id}/leads", headers=bearer(world.a.tokens["viewer"])
    ).json
    assert sent_view["meta"]["total"] == 5


def test_a_lead_valid_again_reenters_the_queues_it_left_but_never_a_file_that_carried_it(client, world):
    second = factories.integration(world.a.campaign, "Second feed")
    factories.leads(world.a.campaign, 3)
    # The second integration sends its three; the first still holds them pending.
    _send_and_deliver(second.id)
    assert _patch(client, world, [{"externalId": "ext-0", "status": "rejected"}]).json["data"]["dropped"] == 1
    assert counter(world.a.integration.id) == 2 and counter(second.id) == 0

    again = _patch(client, world, [{"externalId": "ext-0", "status": "approved"}]).json["data"]
    assert again["requeued"] == 1
    assert counter(world.a.integration.id) == pending_count(world.a.integration.id) == 3
    assert counter(second.id) == pending_count(second.id) == 0
    assert db.session.scalar(select(func.count()).select_from(LeadDrop)) == 0


def test_a_lead_invalid_at_intake_is_queued_once_made_valid(client, world):
    factories.leads(world.a.campaign, 2, status="pending_review")
    assert counter(world.a.integration.id) == 0
    answer = _patch(client, world, [{"externalId": "ext-1", "status": "valid"}]).json["data"]
    assert answer["requeued"] == 1
    assert counter(world.a.integration.id) == pending_count(world.a.integration.id) == 1
    batch = _send_and_deliver(world.a.integration.id)
    assert _file_external_ids(batch) == ["ext-1"]


def test_reposting_a_known_lead_with_a_new_status_updates_it_and_the_same_status_changes_nothing(client, world):
    url = f"/api/v4/campaigns/{world.a.campaign.id}/leads"
    manager = bearer(world.a.tokens["manager"])
    lead = {"externalId": "L1", "status": "valid", "fields": {"email": "a@x.test"}}
    client.post(url, json={"leads": [lead, {**lead, "externalId": "L2"}]}, headers=manager)
    same = client.post(url, json={"leads": [lead]}, headers=manager)
    assert same.json["data"] == {"accepted": 0, "duplicates": 1, "queued": 0, "updated": 0}
    assert counter(world.a.integration.id) == 2
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "leads.status")) == 0

    rejected = client.post(
        url, json={"leads": [{**lead, "status": "rejected", "fields": {"email": "changed@x.test"}}]}, headers=manager
    )
    assert rejected.json["data"] == {"accepted": 0, "duplicates": 1, "queued": 0, "updated": 1}
    assert counter(world.a.integration.id) == pending_count(world.a.integration.id) == 1
    db.session.expire_all()
    stored = db.session.scalars(select(Lead).where(Lead.external_id == "L1")).one()
    assert stored.status == "rejected" and stored.fields == {"email": "a@x.test"}  # fields stay as first taken


def test_status_changes_are_audited_with_who_and_which_leads(client, world):
    factories.leads(world.a.campaign, 2)
    _patch(client, world, [{"externalId": "ext-0", "status": "duplicate"}])
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "leads.status")).one()
    assert event.actor == world.a.users["manager"].email
    assert event.enterprise_id == world.a.enterprise.id
    assert event.target_type == "campaign" and event.target_id == str(world.a.campaign.id)
    assert event.details["dropped"] == 1
    assert event.details["leads"] == [{"externalId": "ext-0", "from": "valid", "to": "duplicate"}]


@pytest.mark.parametrize(
    "body",
    [
        {"leads": []},
        {"leads": [{"externalId": "ext-0"}]},
        {"leads": [{"externalId": "ext-0", "status": ""}]},
        {"leads": [{"externalId": "ext-0", "status": "x" * 31}]},
        {"leads": [{"externalId": "ext-0", "status": "valid", "fields": {}}]},
        {"leads": [{"externalId": "ext-0", "status": "rej\u0000ected"}]},
        {"leads": "ext-0"},
        {"rows": []},
    ],
)
def test_bad_bodies_get_422_and_change_nothing(client, world, body):
    factories.leads(world.a.campaign, 1)
    answer = client.patch(
        f"/api/v4/campaigns/{world.a.campaign.id}/leads", json=body, headers=bearer(world.a.tokens["manager"])
    )
    assert answer.status_code == 422 and answer.json["error"]["code"] == "validation_error"
    db.session.expire_all()
    assert db.session.scalars(select(Lead.status)).all() == ["valid"]
    assert counter(world.a.integration.id) == 1


def test_viewers_are_refused_and_other_enterprises_see_no_campaign(client, world):
    factories.leads(world.a.campaign, 1)
    assert _patch(client, world, [{"externalId": "ext-0", "status": "rejected"}], role="viewer").status_code == 403
    other = client.patch(
        f"/api/v4/campaigns/{world.a.campaign.id}/leads",
        json={"leads": [{"externalId": "ext-0", "status": "rejected"}]},
        headers=bearer(world.b.tokens["admin"]),
    )
    assert other.status_code == 404
    dropped = client.get(
        f"/api/v4/batch-manager/{world.a.integration.id}/dropped-leads", headers=bearer(world.b.tokens["admin"])
    )
    assert dropped.status_code == 404
    assert counter(world.a.integration.id) == 1


def test_the_openapi_document_describes_the_patch(client):
    doc = client.get("/api/v4/openapi.json").json
    patch = doc["paths"]["/api/v4/campaigns/{campaign_id}/leads"]["patch"]
    assert "200" in patch["responses"]
    assert "LeadStatusBody" in str(patch["requestBody"])
    assert "/api/v4/batch-manager/{integration_id}/dropped-leads" in doc["paths"]


def _race(app, campaign_id: int, integration_id: int) -> list[BaseException]:
    """Intake, claims and invalidations on their own threads and sessions, started together."""
    everyone = {f"ext-{i}": "rejected" for i in range(200)}

    def intake():
        campaign = db.session.get(Campaign, campaign_id)
        for chunk in range(20):
            leads = [{"externalId": f"ext-{chunk * 10 + i}", "status": "valid"} for i in range(10)]
            ingest_leads(campaign, leads)

    def claimer():
        for _ in range(30):
            sending.send_integration(integration_id, "schedule", SYSTEM)

    def invalidator():
        campaign = db.session.get(Campaign, campaign_id)
        for _ in range(30):
            change_statuses(campaign, everyone)
            db.session.commit()

    return run_concurrently(app, [intake, claimer, invalidator])


@pytest.mark.postgres
def test_concurrent_invalidation_and_claim_never_leave_a_lead_half_in(app, world):
    integration_id = world.a.integration.id
    world.a.integration.max_leads_per_file = 7
    db.session.commit()

    assert _race(app, world.a.campaign.id, integration_id) == []
    # Leads that arrived after the invalidator's last pass are rejected now.
    change_statuses(db.session.get(Campaign, world.a.campaign.id), {f"ext-{i}": "rejected" for i in range(200)})
    db.session.commit()

    db.session.expire_all()
    holding = files_holding(integration_id)
    lead_of = dict(db.session.execute(select(QueueEntry.id, QueueEntry.lead_id)).all())
    claimed = {lead_of[entry] for entry, files in holding.items() if files}
    pending = {lead_of[entry] for entry, files in holding.items() if not files}
    dropped = set(db.session.scalars(select(LeadDrop.lead_id).where(LeadDrop.integration_id == integration_id)))
    all_leads = set(db.session.scalars(select(Lead.id)))
    assert len(all_leads) == 200
    # Every lead is in exactly one place: a file or dropped from the queue; none half in.
    assert claimed | dropped == all_leads
    assert not (claimed & dropped)
    assert pending == set() and counter(integration_id) == 0
    for batch in db.session.scalars(select(SentBatch).where(SentBatch.integration_id == integration_id)):
        held = sum(batch.id in files for files in holding.values())
        assert held == batch.lead_count
    assert claimed and dropped  # the race really interleaved both


def test_the_admin_pending_view_shows_dropped_leads_when_asked(client, world):
    from tests.admin_support import PENDING, login

    factories.leads(world.a.campaign, 3)
    _patch(client, world, [{"externalId": "ext-1", "status": "returned"}])
    login(client, world.a.users["viewer"])
    url = f"{PENDING}/view/{world.a.integration.id}"

    plain = client.get(url).get_data(as_text=True)
    assert "2 leads waiting" in plain
    assert "Show dropped leads" in plain and "returned" not in plain

    shown = client.get(f"{url}?show_dropped=1").get_data(as_text=True)
    assert "Dropped from the queue (1)" in shown
    row = shown.split("bm-dropped-table", 1)[1]
    assert "ext-1" in row and "returned" in row and "ext-0" not in row


def test_a_lone_surrogate_in_a_status_is_a_422(client, world):
    factories.leads(world.a.campaign, 1)
    raw = '{"leads": [{"externalId": "ext-0", "status": "rej\\ud800"}]}'
    answer = client.patch(
        f"/api/v4/campaigns/{world.a.campaign.id}/leads",
        data=raw,
        content_type="application/json",
        headers=bearer(world.a.tokens["manager"]),
    )
    assert answer.status_code == 422
    assert counter(world.a.integration.id) == 1
