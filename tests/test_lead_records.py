"""Lead records and previews from the database (SQLite, and PostgreSQL on that leg)."""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from app.errors import NotFound, ValidationError
from app.extensions import db
from app.models import Enterprise, Lead, QueueEntry, SentBatch
from app.services.files import LeadRecord
from app.services.intake import ingest_leads
from app.services.lead_records import iter_batch_records, iter_pending_records, preview_pending, preview_sent
from tests import factories

MAPPING = [
    {"source": "lead.id", "header": "ID"},
    {"source": "lead.externalId", "header": "External"},
    {"source": "email", "header": "Email"},
    {"source": "advertiser.name", "header": "Advertiser"},
]


@pytest.fixture
def setup(app):
    """A campaign with 12 leads queued on one integration in a shuffled (not lead id) order."""
    enterprise = Enterprise(name="Records Co")
    db.session.add(enterprise)
    db.session.commit()
    adv = factories.advertiser(enterprise, "Adv Original")
    camp = factories.campaign(adv, "Camp Original")
    leads = [
        {"externalId": f"x{i}", "status": "valid", "fields": {"email": f"p{i}@example.com", "n": i}} for i in range(12)
    ]
    leads[4]["fields"]["email"] = "=HYPERLINK(evil)"
    ingest_leads(camp, leads)  # no integration yet: nothing is queued
    integ = factories.integration(camp, "Feed", fields=MAPPING)
    lead_ids = list(db.session.scalars(db.select(Lead.id).where(Lead.campaign_id == camp.id).order_by(Lead.id)))
    order = lead_ids[:]
    random.Random(7).shuffle(order)
    for lead_id in order:  # one by one: QueueEntry.id follows this order
        db.session.add(QueueEntry(integration_id=integ.id, lead_id=lead_id, queued_at=datetime.now(UTC)))
        db.session.flush()
    integ.pending_count = len(order)
    db.session.commit()
    return {"enterprise": enterprise, "adv": adv, "camp": camp, "integ": integ, "order": order}


def claim(setup, count: int, **kw) -> SentBatch:
    """Attach the first `count` pending entries to a new sent batch (as the engine's claim does)."""
    integ = setup["integ"]
    batch = SentBatch(
        enterprise_id=integ.enterprise_id,
        integration_id=integ.id,
        advertiser_id=setup["adv"].id,
        advertiser_name="Adv Snapshot",
        campaign_id=setup["camp"].id,
        campaign_name="Camp Snapshot",
        label=integ.label,
        field_mapping=kw.pop("field_mapping", MAPPING),
        file_settings={},
        delivery_method="local",
        lead_count=count,
        trigger="batch_now",
        **kw,
    )
    db.session.add(batch)
    db.session.flush()
    # Claimed as a claim does: the next `count` pending ids become the file's range.
    ids = db.session.scalars(
        db.select(QueueEntry.id)
        .where(QueueEntry.integration_id == integ.id, QueueEntry.id > integ.claimed_through)
        .order_by(QueueEntry.id)
        .limit(count)
    ).all()
    if ids:
        batch.entries_after, batch.entries_through = integ.claimed_through, ids[-1]
        integ.claimed_through = ids[-1]
        integ.pending_count -= len(ids)
    db.session.commit()
    return batch


def test_pending_records_come_in_queue_order_with_current_names(setup):
    records = list(iter_pending_records(setup["integ"].id))
    assert [r.lead_id for r in records] == setup["order"]
    first = records[0]
    assert isinstance(first, LeadRecord)
    assert first.campaign_name == "Camp Original" and first.advertiser_name == "Adv Original"
    assert first.campaign_id == setup["camp"].id and first.advertiser_id == setup["adv"].id
    assert first.created_at.tzinfo is not None and first.created_at.utcoffset().total_seconds() == 0
    assert first.fields["email"].endswith("@example.com") or first.fields["email"].startswith("=")
    assert first.status == "valid" and first.external_id.startswith("x")


def test_batch_records_are_the_claimed_leads_with_snapshot_names(setup):
    batch = claim(setup, 5)
    sent = list(iter_batch_records(batch.id))
    assert [r.lead_id for r in sent] == setup["order"][:5]
    assert {r.advertiser_name for r in sent} == {"Adv Snapshot"}
    assert {r.campaign_name for r in sent} == {"Camp Snapshot"}
    # The rest stay pending, still in queue order.
    assert [r.lead_id for r in iter_pending_records(setup["integ"].id)] == setup["order"][5:]


def test_a_resend_yields_the_original_batch_leads(setup):
    original = claim(setup, 4)
    resend = claim(setup, 0, resend_of_id=original.id)
    again = claim(setup, 0, resend_of_id=resend.id)
    expected = [r.lead_id for r in iter_batch_records(original.id)]
    assert expected == setup["order"][:4]
    assert [r.lead_id for r in iter_batch_records(resend.id)] == expected
    assert [r.lead_id for r in iter_batch_records(again.id)] == expected


def test_unknown_ids_are_not_found(app):
    with pytest.raises(NotFound):
        list(iter_batch_records(999_999))
    with pytest.raises(NotFound):
        list(iter_pending_records(999_999))


def test_pending_preview_pages_as_the_file_shows_them(setup):
    integ = setup["integ"]
    page1 = preview_pending(integ, page=1, per_page=5)
    page3 = preview_pending(integ, page=3, per_page=5)
    assert page1.headers == ["ID", "External", "Email", "Advertiser"]
    assert page1.total == 12 == integ.pending_count
    assert [r.lead_id for r in page1.rows] == setup["order"][:5]
    assert [r.lead_id for r in page3.rows] == setup["order"][10:]
    assert preview_pending(integ, page=4, per_page=5).rows == []
    rows = {r.lead_id: r for p in range(1, 4) for r in preview_pending(integ, page=p, per_page=5).rows}
    evil = db.session.scalar(db.select(Lead.id).where(Lead.external_id == "x4"))
    assert rows[evil].values["Email"] == "'=HYPERLINK(evil)"  # neutralised, exactly as in the file
    assert rows[evil].values["ID"] == str(evil)  # text, as a CSV shows it
    assert rows[evil].values["Advertiser"] == "Adv Original"
    assert rows[evil].queued_at.tzinfo is not None


def test_sent_preview_uses_the_snapshot_mapping_and_names(setup):
    batch = claim(
        setup, 6, field_mapping=[{"source": "n", "header": "Number"}, {"source": "campaign.name", "header": "C"}]
    )
    # A later change of the integration's mapping does not change what was sent.
    setup["integ"].fields = [{"source": "email", "header": "Mail"}]
    db.session.commit()
    preview = preview_sent(batch, page=2, per_page=4)
    assert preview.headers == ["Number", "C"]
    assert preview.total == 6
    assert [r.lead_id for r in preview.rows] == setup["order"][4:6]
    assert all(r.values["C"] == "Camp Snapshot" for r in preview.rows)
    assert preview_pending(setup["integ"], per_page=1).headers == ["Mail"]


def test_preview_of_an_integration_without_columns_shows_none(setup):
    setup["integ"].fields = []
    db.session.commit()
    preview = preview_pending(setup["integ"], per_page=2)
    assert preview.headers == [] and [r.values for r in preview.rows] == [{}, {}]


@pytest.mark.parametrize(("page", "per_page"), [(0, 10), (1, 0), (1, 501), ("1", 10), (1, True)])
def test_bad_paging_is_a_validation_error(setup, page, per_page):
    with pytest.raises(ValidationError):
        preview_pending(setup["integ"], page=page, per_page=per_page)


def test_records_stream_past_one_fetch_batch(app):
    """More leads than one yield_per slice: all of them, once each, in queue order."""
    enterprise = Enterprise(name="Big Co")
    db.session.add(enterprise)
    db.session.commit()
    camp = factories.campaign(factories.advertiser(enterprise))
    integ = factories.integration(camp)
    factories.leads(camp, 4500)
    expected = db.session.scalars(
        db.select(QueueEntry.lead_id).where(QueueEntry.integration_id == integ.id).order_by(QueueEntry.id)
    ).all()
    got = [r.lead_id for r in iter_pending_records(integ.id)]
    assert len(got) == 4500
    assert got == list(expected)
