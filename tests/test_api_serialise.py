"""The fast page serialisers (app/api/serialise.py) say exactly what the response schemas say.

Each list endpoint dumps its rows with a function built from the row's schema; the
OpenAPI document and the single-object endpoints use the schema itself. These tests
compare the two on real rows, with and without the optional values, so a field added
to a schema cannot reach one path and not the other.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from marshmallow import Schema, fields

from app.api import responses as r
from app.api.serialise import dumper
from app.extensions import db
from app.models import SentBatch
from app.services import catalog, claim, credentials, listing
from app.services.lead_records import preview_pending
from tests import factories


def _same(schema: type[Schema], obj) -> dict:
    fast = dumper(schema)(obj)
    assert fast == schema().dump(obj)
    # Every field of the document is in the body, and nothing else.
    assert set(fast) == {f.data_key or name for name, f in schema._declared_fields.items()}
    return fast


def _sent(tenant, **kw) -> SentBatch:
    integration = tenant.integration
    values = {
        "enterprise_id": tenant.enterprise.id,
        "integration_id": integration.id,
        "advertiser_id": tenant.advertiser.id,
        "advertiser_name": tenant.advertiser.name,
        "campaign_id": tenant.campaign.id,
        "campaign_name": tenant.campaign.name,
        "label": integration.label,
        "delivery_method": "local",
        "trigger": "schedule",
        "status": "delivered",
        "lead_count": 3,
    }
    batch = SentBatch(**{**values, **kw})
    db.session.add(batch)
    db.session.commit()
    return batch


def test_pending_rows(world):
    factories.leads(world.a.campaign, 2)
    world.a.campaign.end_date = date(2027, 1, 31)
    world.a.integration.next_run_at = datetime(2026, 6, 1, 5, 0, 0, 999, tzinfo=UTC)
    db.session.commit()
    (row,) = listing.pending_batches(world.a.enterprise.id).rows
    body = _same(r.PendingRow, row)
    assert body["leadCount"] == 2 and body["campaignEndDate"] == "2027-01-31"
    assert body["nextRunAt"] == "2026-06-01T05:00:00Z" and body["schedule"]
    # A campaign without an end date, an integration never scheduled: nulls in both.
    world.a.campaign.end_date = None
    world.a.integration.next_run_at = None
    db.session.commit()
    (row,) = listing.pending_batches(world.a.enterprise.id).rows
    assert _same(r.PendingRow, row)["nextRunAt"] is None


def test_sent_rows_and_detail(world):
    t0 = datetime(2026, 5, 1, 12, 30, 15, 123456, tzinfo=UTC)
    done = _sent(world.a, sent_at=t0, stored_at=t0 - timedelta(seconds=2), file_name="a.csv", size_bytes=9)
    failed = _sent(world.a, status="failed", last_error="refused", attempts=3)
    for batch in listing.sent_batches(world.a.enterprise.id).rows:
        _same(r.SentRow, batch)
        _same(r.SentDetail, batch)
    assert _same(r.SentDetail, done)["sentAt"] == "2026-05-01T12:30:15Z"
    assert _same(r.SentDetail, failed)["error"] == "refused"


def test_lead_rows(world):
    factories.leads(world.a.campaign, 2)
    preview = preview_pending(world.a.integration, 1, 50)
    assert len(preview.rows) == 2
    for row in preview.rows:
        assert _same(r.LeadRow, row)["fields"]


def test_catalog_rows(world):
    world.a.campaign.start_date = date(2026, 1, 1)
    db.session.commit()
    enterprise = world.a.enterprise.id
    credentials.create_credential(enterprise, "sftp login", "password", "s3cret", None)
    for page, schema in (
        (catalog.list_advertisers(enterprise), r.AdvertiserOut),
        (catalog.list_campaigns(enterprise), r.CampaignOut),
        (catalog.list_integrations(enterprise), r.IntegrationOut),
        (catalog.list_credentials(enterprise), r.CredentialOut),
    ):
        assert page.rows
        for obj in page.rows:
            _same(schema, obj)


def test_integration_nested_settings(world):
    body = _same(r.IntegrationOut, world.a.integration)
    assert body["delivery"]["method"] == world.a.integration.delivery_method
    assert body["file"]["format"] == world.a.integration.file_format
    assert body["schedule"]["cron"] == world.a.integration.schedule_cron
    assert body["fields"] == world.a.integration.fields


def test_batch_now_outcome():
    outcome = claim.BatchNowOutcome(integration_id=4, batch_id=None, status="empty", lead_count=0)
    assert _same(r.Outcome, outcome) == outcome.to_dict()


def test_an_unknown_field_type_is_refused_not_guessed():
    class Odd(Schema):
        when = fields.AwareDateTime()

    with pytest.raises(TypeError, match="AwareDateTime"):
        dumper(Odd)
