"""Pending and Sent lists: every filter, every sort key, page boundaries, row shape."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services.listing import PENDING_SORT, SENT_SORT
from tests import factories


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def catalog(world):
    """Enterprise A: two advertisers, three campaigns, four integrations with 1..4 leads waiting."""
    a = world.a
    acme = factories.advertiser(a.enterprise, "Acme Insurance")
    zeta = factories.advertiser(a.enterprise, "Zeta Energy")
    spring = factories.campaign(acme, "Spring Sale", end_date=date(2027, 3, 1))
    summer = factories.campaign(acme, "Summer Promo", end_date=date(2027, 6, 1))
    winter = factories.campaign(zeta, "Winter Deals", end_date=date(2027, 1, 1))
    integrations = [
        factories.integration(spring, "CRM daily", schedule_cron="0 6 * * *", timezone="Europe/London"),
        factories.integration(spring, "Partner hourly", schedule_cron="0 * * * *", timezone="UTC"),
        factories.integration(summer, "CRM weekly", schedule_cron="0 8 * * 1", timezone="Europe/Berlin"),
        factories.integration(winter, "Archive", schedule_cron="30 9 * * 1-5", timezone="America/New_York"),
    ]
    for n, integration in enumerate(integrations, start=1):
        integration.next_run_at = datetime(2027, 1, n, 6, tzinfo=UTC)
    db.session.commit()
    # Leads land on every enabled integration of a campaign; set the counts explicitly
    # afterwards (intake keeps pending_count in step; the list must only read it).
    factories.leads(spring, 2)
    factories.leads(summer, 3)
    factories.leads(winter, 4)
    return {"acme": acme, "zeta": zeta, "spring": spring, "summer": summer, "winter": winter, "i": integrations}


def pending(client, world, **params):
    response = client.get("/api/v4/batch-manager", query_string=params, headers=bearer(world.a.tokens["viewer"]))
    assert response.status_code == 200, response.json
    return response.json


def test_pending_row_shape_and_counts_from_the_queue(client, world, catalog):
    body = pending(client, world)
    rows = {r["integrationId"]: r for r in body["data"]}
    # The world's own integration has nothing waiting, so it is not listed by default.
    assert set(rows) == {i.id for i in catalog["i"]}
    row = rows[catalog["i"][0].id]
    assert row == {
        "integrationId": catalog["i"][0].id,
        "advertiserId": catalog["acme"].id,
        "advertiserName": "Acme Insurance",
        "campaignId": catalog["spring"].id,
        "campaignName": "Spring Sale",
        "label": "CRM daily",
        "leadCount": 2,
        "schedule": row["schedule"],
        "scheduleCron": "0 6 * * *",
        "timezone": "Europe/London",
        "nextRunAt": "2027-01-01T06:00:00Z",
        "campaignEndDate": "2027-03-01",
        # Health (README "Alerts and auto-pause"): no file yet, no failures, not paused.
        "pausedAt": None,
        "consecutiveFailures": 0,
        "lastFileStatus": None,
        "lastFileAt": None,
    }
    assert "06:00" in row["schedule"] and "Europe/London" in row["schedule"]
    assert body["meta"] == {"page": 1, "perPage": 50, "total": 4}


def test_pending_include_empty_and_disabled(client, world, catalog):
    assert pending(client, world, includeEmpty="true")["meta"]["total"] == 5
    catalog["i"][3].enabled = False
    db.session.commit()
    assert {r["integrationId"] for r in pending(client, world)["data"]} == {i.id for i in catalog["i"][:3]}


PENDING_FILTERS = (
    ("advertiserId", "acme", [0, 1, 2]),
    ("advertiserName", "ZETA", [3]),
    ("advertiserName", "insur", [0, 1, 2]),
    ("campaignId", "summer", [2]),
    ("campaignName", "sale", [0, 1]),
    ("campaignName", "%", []),
    ("label", "crm", [0, 2]),
    ("label", "_", []),
)


def test_pending_filters(client, world, catalog):
    """Each filter alone; names and label match case-insensitively, wildcards literally."""
    for param, value, expected in PENDING_FILTERS:
        value = {"acme": catalog["acme"].id, "summer": catalog["summer"].id}.get(value, value)
        ids = [r["integrationId"] for r in pending(client, world, **{param: value})["data"]]
        assert ids == [catalog["i"][n].id for n in expected], (param, value)


def _key(row, name):
    value = row[name]
    return (value is None, value.lower() if isinstance(value, str) else value)


def test_pending_sorts_by_every_column_both_ways(client, world, catalog):
    for field, descending in ((f, d) for f in sorted(PENDING_SORT) for d in (False, True)):
        rows = pending(client, world, sort=("-" if descending else "") + field)["data"]
        values = [r[field if field != "schedule" else "scheduleCron"] for r in rows]
        if field in ("advertiserName", "campaignName", "label"):
            # The database's collation decides letter case order; compare case-blind.
            values = [v.lower() for v in values]
        present = [v for v in values if v is not None]
        assert present == sorted(present, reverse=descending), (field, descending, values)


def test_pending_multi_key_sort(client, world, catalog):
    rows = pending(client, world, sort="advertierName".replace("ier", "iser") + ",-leadCount")["data"]
    assert [(r["advertiserName"], r["leadCount"]) for r in rows] == [
        ("Acme Insurance", 3),
        ("Acme Insurance", 2),
        ("Acme Insurance", 2),
        ("Zeta Energy", 4),
    ]


def test_pending_pages(client, world, catalog):
    seen = []
    for page in (1, 2):
        body = pending(client, world, perPage=3, page=page, sort="integrationId")
        assert body["meta"] == {"page": page, "perPage": 3, "total": 4}
        seen += [r["integrationId"] for r in body["data"]]
    assert seen == sorted(i.id for i in catalog["i"])
    past_the_end = pending(client, world, perPage=3, page=3)
    assert past_the_end["data"] == [] and past_the_end["meta"]["total"] == 4
    assert len(pending(client, world, perPage=500)["data"]) == 4


def test_bad_list_parameters_are_422_with_details(client, world):
    bad = [{"perPage": 0}, {"perPage": 501}, {"page": 0}, {"page": "x"}, {"sort": "nope"}, {"sort": "label,,"}]
    bad += [{"advertiserId": "a"}, {"advertiserId": 2**40}, {"campaignName": "x" * 201}]
    for params in bad:
        for path in ("/api/v4/batch-manager", "/api/v4/campaign-lead-batches"):
            response = client.get(path, query_string=params, headers=bearer(world.a.tokens["viewer"]))
            assert response.status_code == 422, (path, params)
            assert response.json["error"]["code"] == "validation_error"
            assert set(response.json["error"]["details"]) == set(params)


def sent_batch(tenant, integration: BatchCsvIntegration | None = None, **kw) -> SentBatch:
    integration = integration or tenant.integration
    campaign = integration.campaign
    values = {
        "enterprise_id": tenant.enterprise.id,
        "integration_id": integration.id,
        "advertiser_id": campaign.advertiser_id,
        "advertiser_name": campaign.advertiser.name,
        "campaign_id": campaign.id,
        "campaign_name": campaign.name,
        "label": integration.label,
        "delivery_method": "local",
        "trigger": "schedule",
        "status": "delivered",
        "lead_count": 1,
        **kw,
    }
    batch = SentBatch(**values)
    db.session.add(batch)
    db.session.commit()
    return batch


@pytest.fixture
def sent_world(world, catalog):
    t0 = datetime(2026, 5, 1, 12, tzinfo=UTC)
    i = catalog["i"]
    batches = [
        sent_batch(world.a, i[0], lead_count=10, sent_at=t0, file_name="b.csv", size_bytes=300, sha256="b" * 64),
        sent_batch(world.a, i[1], lead_count=5, sent_at=t0 + timedelta(days=1), file_name="a.csv", size_bytes=100),
        sent_batch(world.a, i[2], lead_count=7, status="failed", last_error="refused", attempts=3, trigger="batch_now"),
        sent_batch(world.a, i[3], lead_count=1, status="claimed", trigger="resend", sha256="a" * 64),
    ]
    # Renamed after sending: the sent rows keep the names they were sent under.
    catalog["acme"].name = "Acme Renamed"
    db.session.commit()
    sent_batch(world.b, lead_count=99, sent_at=t0)
    return batches


def sent(client, world, **params):
    response = client.get(
        "/api/v4/campaign-lead-batches", query_string=params, headers=bearer(world.a.tokens["viewer"])
    )
    assert response.status_code == 200, response.json
    return response.json


def test_sent_rows_newest_first_with_snapshot_names(client, world, sent_world):
    body = sent(client, world)
    assert [r["id"] for r in body["data"]] == [b.id for b in reversed(sent_world)]
    assert body["meta"] == {"page": 1, "perPage": 50, "total": 4}
    first = body["data"][-1]
    assert first["advertiserName"] == "Acme Insurance"
    assert first["sentAt"] == "2026-05-01T12:00:00Z"
    assert set(first) >= {
        "id",
        "integrationId",
        "advertiserId",
        "advertiserName",
        "campaignId",
        "campaignName",
        "label",
        "leadCount",
        "status",
        "trigger",
        "sentAt",
        "fileName",
        "sizeBytes",
        "sha256",
    }


SENT_FILTERS = (
    ({"advertiserId": "acme"}, [0, 1, 2]),
    ({"advertiserName": "insurance"}, [0, 1, 2]),
    ({"advertiserName": "renamed"}, []),
    ({"campaignId": "spring"}, [0, 1]),
    ({"campaignName": "WINTER"}, [3]),
    ({"label": "crm"}, [0, 2]),
    ({"status": "failed"}, [2]),
    ({"status": "claimed"}, [3]),
    ({"integrationId": "i1"}, [1]),
    ({"sentFrom": "2026-05-02T00:00:00Z"}, [1]),
    ({"sentTo": "2026-05-01T12:00:00Z"}, [0]),
    ({"sentFrom": "2026-05-01T00:00:00", "sentTo": "2026-05-03T00:00:00+02:00"}, [0, 1]),
)


def test_sent_filters(client, world, catalog, sent_world):
    """Each filter; names and label match the snapshot taken at send time, not today's names."""
    lookup = {"acme": catalog["acme"].id, "spring": catalog["spring"].id, "i1": catalog["i"][1].id}
    for params, expected in SENT_FILTERS:
        params = {k: lookup.get(v, v) for k, v in params.items()}
        ids = sorted(r["id"] for r in sent(client, world, **params)["data"])
        assert ids == sorted(sent_world[n].id for n in expected), params


def test_sent_sorts_by_every_column_both_ways(client, world, sent_world):
    for field, descending in ((f, d) for f in sorted(SENT_SORT) for d in (False, True)):
        values = [r[field] for r in sent(client, world, sort=("-" if descending else "") + field)["data"]]
        present = [v.lower() if isinstance(v, str) else v for v in values if v is not None]
        assert present == sorted(present, reverse=descending), (field, descending, values)


def test_sent_pages_and_bad_status(client, world, sent_world):
    ids = [r["id"] for page in (1, 2) for r in sent(client, world, perPage=2, page=page)["data"]]
    assert ids == [b.id for b in reversed(sent_world)]
    assert sent(client, world, perPage=2, page=3)["data"] == []
    bad = client.get("/api/v4/campaign-lead-batches?status=lost", headers=bearer(world.a.tokens["viewer"]))
    assert bad.status_code == 422 and "status" in bad.json["error"]["details"]
    bad = client.get("/api/v4/campaign-lead-batches?sentFrom=yesterday", headers=bearer(world.a.tokens["viewer"]))
    assert bad.status_code == 422 and "sentFrom" in bad.json["error"]["details"]


def test_sent_detail_has_error_attempts_and_trigger(client, world, sent_world):
    failed = sent_world[2]
    body = client.get(f"/api/v4/campaign-lead-batches/{failed.id}", headers=bearer(world.a.tokens["viewer"])).json
    assert body["data"]["error"] == "refused"
    assert body["data"]["attempts"] == 3
    assert body["data"]["triggeredBy"] == "scheduler"
    assert body["data"]["status"] == "failed" and body["data"]["trigger"] == "batch_now"


def test_sent_total_is_counted_to_the_cap_then_estimated_on_postgresql(client, world, monkeypatch):
    """Up to COUNT_CAP matching files the total is a count; beyond, PostgreSQL's estimate, flagged."""
    from app.services import listing

    monkeypatch.setattr(listing, "COUNT_CAP", 5)
    for n in range(5):
        sent_batch(world.a, campaign_name=f"Solar {n}")
    body = sent(client, world, campaignName="solar")
    assert body["meta"] == {"page": 1, "perPage": 50, "total": 5}
    for n in range(7):
        sent_batch(world.a, campaign_name=f"Solar more {n}")
    sent_batch(world.a, campaign_name="Wind")
    body = sent(client, world, campaignName="solar", perPage=4)
    assert len(body["data"]) == 4 and all("Solar" in r["campaignName"] for r in body["data"])
    if db.engine.dialect.name == "postgresql":
        # The estimate is the planner's: at least cap + 1, never called a count.
        assert body["meta"]["totalEstimated"] is True and body["meta"]["total"] >= 6
    else:
        assert body["meta"] == {"page": 1, "perPage": 4, "total": 12}
    # A name holding LIKE's wildcards is matched literally.
    sent_batch(world.a, campaign_name="Solar 100% green")
    assert [r["campaignName"] for r in sent(client, world, campaignName="0% g")["data"]] == ["Solar 100% green"]
