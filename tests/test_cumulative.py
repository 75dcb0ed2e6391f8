"""Cumulative files: every file holds every valid lead so far (or in a window); "new" never repeats."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import BatchCsvIntegration, Lead, SentBatch
from app.models.types import utcnow
from app.services import sending
from app.services.actors import SYSTEM
from app.services.cumulative import window_start
from app.services.intake import ingest_leads
from tests import factories
from tests.engine_support import csv_rows, drain, stored_bytes


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _arrive(campaign, start: int, count: int, status: str = "valid") -> None:
    ingest_leads(campaign, [{"externalId": f"L{i}", "status": status} for i in range(start, start + count)])


def _send(integration_id: int) -> SentBatch:
    [outcome] = sending.send_integration(integration_id, "schedule", SYSTEM)
    drain()
    db.session.expire_all()
    return db.session.get(SentBatch, outcome.batch_id)


def _lead_ids(data: bytes) -> list[int]:
    return [int(row[0]) for row in csv_rows(data)[1:]]


def _ids(*external: str) -> list[int]:
    by_ext = dict(db.session.execute(select(Lead.external_id, Lead.id)).all())
    return [by_ext[e] for e in external]


@pytest.fixture
def feeds(world):
    """The campaign's "new only" integration and a cumulative one beside it."""
    cumulative = factories.integration(world.a.campaign, "Cumulative feed", lead_mode="cumulative")
    return world.a.integration, cumulative


def test_three_sends_give_files_of_10_25_40_with_the_earlier_leads_and_new_only_never_repeats(client, world, feeds):
    new_only, cumulative = feeds
    files = {new_only.id: [], cumulative.id: []}
    for start, count in ((0, 10), (10, 15), (25, 15)):
        _arrive(world.a.campaign, start, count)
        for integration in (new_only, cumulative):
            files[integration.id].append(_send(integration.id))

    sizes = [b.lead_count for b in files[cumulative.id]]
    assert sizes == [10, 25, 40]
    contents = [_lead_ids(stored_bytes(b)) for b in files[cumulative.id]]
    assert [len(c) for c in contents] == [10, 25, 40]
    assert contents[1][:10] == contents[0] and contents[2][:25] == contents[1]  # earlier leads, in order
    assert sorted(contents[2]) == sorted(db.session.scalars(select(Lead.id)))
    assert all(b.status == "delivered" and b.row_count == b.lead_count for b in files[cumulative.id])

    new_contents = [_lead_ids(stored_bytes(b)) for b in files[new_only.id]]
    assert [len(c) for c in new_contents] == [10, 15, 15]
    flat = [lead for c in new_contents for lead in c]
    assert len(flat) == len(set(flat)) == 40  # never a lead twice

    # Sent View and Download show exactly what each cumulative file held.
    viewer = bearer(world.a.tokens["viewer"])
    for batch, content in zip(files[cumulative.id], contents, strict=True):
        view = client.get(f"/api/v4/campaign-lead-batches/{batch.id}/leads?perPage=500", headers=viewer).json
        assert view["meta"]["total"] == len(content)
        assert [row["leadId"] for row in view["data"]] == content
        download = client.get(
            f"/api/v4/campaign-lead-batches/{batch.id}/download", headers=bearer(world.a.tokens["manager"])
        )
        assert download.data == stored_bytes(batch)
    # Pending moves as for any integration: nothing waits after the last send.
    db.session.expire_all()
    assert db.session.get(BatchCsvIntegration, cumulative.id).pending_count == 0


def test_a_cumulative_file_leaves_out_leads_no_longer_valid_and_earlier_files_keep_them(client, world, feeds):
    _, cumulative = feeds
    _arrive(world.a.campaign, 0, 5)
    first = _send(cumulative.id)
    client.patch(
        f"/api/v4/campaigns/{world.a.campaign.id}/leads",
        json={"leads": [{"externalId": "L1", "status": "rejected"}]},
        headers=bearer(world.a.tokens["manager"]),
    )
    _arrive(world.a.campaign, 5, 2)
    second = _send(cumulative.id)

    assert _lead_ids(stored_bytes(second)) == _ids("L0", "L2", "L3", "L4", "L5", "L6")
    view = client.get(f"/api/v4/campaign-lead-batches/{first.id}/leads", headers=bearer(world.a.tokens["viewer"])).json
    assert [row["leadId"] for row in view["data"]] == _ids("L0", "L1", "L2", "L3", "L4")


def test_nothing_new_means_no_cumulative_file_unless_send_empty(world, feeds):
    _, cumulative = feeds
    _arrive(world.a.campaign, 0, 3)
    _send(cumulative.id)
    assert sending.send_integration(cumulative.id, "schedule", SYSTEM)[0].status == "empty"

    cumulative.send_empty = True
    db.session.commit()
    again = _send(cumulative.id)
    assert again.lead_count == 3 and len(_lead_ids(stored_bytes(again))) == 3


def test_a_resend_of_a_cumulative_file_delivers_the_same_leads(client, world, feeds):
    _, cumulative = feeds
    _arrive(world.a.campaign, 0, 4)
    first = _send(cumulative.id)
    _arrive(world.a.campaign, 4, 4)
    resend = client.post(
        f"/api/v4/campaign-lead-batches/{first.id}/resend", headers=bearer(world.a.tokens["manager"])
    ).json
    drain()
    view = client.get(
        f"/api/v4/campaign-lead-batches/{resend['data']['id']}/leads", headers=bearer(world.a.tokens["viewer"])
    ).json
    assert view["meta"]["total"] == 4


def test_the_month_window_counts_in_the_integrations_time_zone(world):
    cumulative = factories.integration(
        world.a.campaign, "This month", lead_mode="cumulative", cumulative_window="month", timezone="America/New_York"
    )
    _arrive(world.a.campaign, 0, 4)
    start = window_start("month", "America/New_York", utcnow())
    # L0 came a minute before this month began in New York; L1 right at its start.
    db.session.execute(update(Lead).where(Lead.external_id == "L0").values(created_at=start - timedelta(minutes=1)))
    db.session.execute(update(Lead).where(Lead.external_id == "L1").values(created_at=start))
    db.session.commit()
    batch = _send(cumulative.id)
    assert _lead_ids(stored_bytes(batch)) == _ids("L1", "L2", "L3")


def test_window_start_is_local_midnight_across_dst():
    from datetime import UTC, datetime

    # 1 Nov 2026 03:00 UTC is still 31 Oct (EDT, UTC-4) in New York.
    now = datetime(2026, 11, 1, 3, 0, tzinfo=UTC)
    assert window_start("month", "America/New_York", now) == datetime(2026, 10, 1, 4, 0, tzinfo=UTC)
    assert window_start("day", "America/New_York", now) == datetime(2026, 10, 31, 4, 0, tzinfo=UTC)
    assert window_start("week", "America/New_York", now) == datetime(2026, 10, 26, 4, 0, tzinfo=UTC)
    # After the change (EST, UTC-5) midnight is an hour later in UTC.
    later = datetime(2026, 11, 2, 12, 0, tzinfo=UTC)
    assert window_start("day", "America/New_York", later) == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)
    assert window_start("all", "America/New_York", later) is None


def _integration_body(world, **file) -> dict:
    return {
        "campaignId": world.a.campaign.id,
        "label": "Cumulative via API",
        "enabled": True,
        "schedule": {"cron": "0 6 * * *", "timezone": "Europe/Paris"},
        "file": {"format": "csv", **file},
        "fields": [{"source": "lead.id", "header": "Lead ID"}],
        "delivery": {"method": "local", "directory": "cumulative"},
    }


def test_the_settings_in_the_api_with_validation(client, world):
    admin = bearer(world.a.tokens["admin"])
    created = client.post(
        "/api/v4/batch-integrations",
        json=_integration_body(world, leadMode="cumulative", cumulativeWindow="week"),
        headers=admin,
    )
    assert created.status_code == 201, created.json
    assert created.json["data"]["file"]["leadMode"] == "cumulative"
    assert created.json["data"]["file"]["cumulativeWindow"] == "week"
    default = client.get(f"/api/v4/batch-integrations/{world.a.integration.id}", headers=admin).json["data"]["file"]
    assert (default["leadMode"], default["cumulativeWindow"]) == ("new", "all")

    split = client.post(
        "/api/v4/batch-integrations",
        json=_integration_body(world, leadMode="cumulative", maxLeadsPerFile=5),
        headers=admin,
    )
    assert split.status_code == 422 and "file.maxLeadsPerFile" in split.json["error"]["details"]
    for bad in ({"leadMode": "everything"}, {"cumulativeWindow": "year"}):
        answer = client.post("/api/v4/batch-integrations", json=_integration_body(world, **bad), headers=admin)
        assert answer.status_code == 422, bad
    patched = client.patch(
        f"/api/v4/batch-integrations/{world.a.integration.id}",
        json={"file": {"leadMode": "cumulative", "cumulativeWindow": "month"}},
        headers=admin,
    )
    assert patched.status_code == 200 and patched.json["data"]["file"]["leadMode"] == "cumulative"
    doc = client.get("/api/v4/openapi.json").json
    file_schema = json.dumps(doc["components"]["schemas"])
    assert '"leadMode"' in file_schema and '"cumulativeWindow"' in file_schema


def test_the_admin_configure_form_offers_and_checks_the_settings(app, client, world):
    from tests.admin_support import login
    from tests.test_admin_config import _form

    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    page = client.get("/admin/integrations/new/").get_data(as_text=True)
    assert 'name="lead_mode"' in page and 'name="cumulative_window"' in page

    refused = client.post("/admin/integrations/new/", data=_form(world, lead_mode="cumulative"))
    text = refused.get_data(as_text=True)
    assert refused.status_code == 200 and "must be null (no limit) for cumulative files" in text

    saved = client.post(
        "/admin/integrations/new/",
        data=_form(world, lead_mode="cumulative", cumulative_window="day", max_leads_per_file=""),
    )
    assert saved.status_code == 302, saved.get_data(as_text=True)[:2000]
    integ = db.session.scalar(select(BatchCsvIntegration).where(BatchCsvIntegration.label == "Partner SFTP feed"))
    assert (integ.lead_mode, integ.cumulative_window, integ.max_leads_per_file) == ("cumulative", "day", None)


def test_the_download_preview_of_a_cumulative_integration_is_the_whole_file_a_send_would_deliver(client, world, feeds):
    _, cumulative = feeds
    _arrive(world.a.campaign, 0, 6)
    _send(cumulative.id)
    _arrive(world.a.campaign, 6, 2)
    preview = client.get(
        f"/api/v4/batch-manager/{cumulative.id}/preview-file", headers=bearer(world.a.tokens["manager"])
    )
    assert preview.status_code == 200
    assert preview.headers["X-Lead-Count"] == "8" and preview.headers["X-Pending-Count"] == "2"
    assert _lead_ids(preview.data) == _ids(*(f"L{i}" for i in range(8)))
    assert _lead_ids(stored_bytes(_send(cumulative.id))) == _lead_ids(preview.data)


def test_a_delivery_cap_does_not_cut_a_cumulative_file_or_its_preview(client, world, feeds):
    _, cumulative = feeds
    cumulative.cap_leads, cumulative.cap_period = 2, "day"
    db.session.commit()
    _arrive(world.a.campaign, 0, 5)
    preview = client.get(
        f"/api/v4/batch-manager/{cumulative.id}/preview-file", headers=bearer(world.a.tokens["manager"])
    )
    assert preview.headers["X-Lead-Count"] == "5"
    assert len(_lead_ids(stored_bytes(_send(cumulative.id)))) == 5
