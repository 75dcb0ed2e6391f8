"""Lead intake: idempotent by external id, queues valid leads on enabled integrations only."""

import multiprocessing

import pytest
from sqlalchemy import func, select

from app.errors import ValidationError
from app.extensions import db
from app.models import BatchCsvIntegration, Lead, QueueEntry
from app.services.intake import MAX_LEADS_PER_REQUEST, ingest_leads
from tests import factories


def _count(model, *where) -> int:
    return db.session.scalar(select(func.count()).select_from(model).where(*where))


def _lead(ext: str, status: str = "valid", **fields) -> dict:
    return {"externalId": ext, "status": status, "fields": fields or {"email": f"{ext}@example.com"}}


@pytest.fixture
def campaign_with_two_integrations(world):
    camp = world.a.campaign
    second = factories.integration(camp, "Second feed")
    return camp, [world.a.integration, second]


def test_same_external_id_twice_gives_one_lead_and_one_entry_per_integration(campaign_with_two_integrations):
    camp, integrations = campaign_with_two_integrations
    first = ingest_leads(camp, [_lead("L1"), _lead("L2")])
    again = ingest_leads(camp, [_lead("L1"), _lead("L3")])

    assert first.to_dict() == {"accepted": 2, "duplicates": 0, "queued": 4, "updated": 0}
    assert again.to_dict() == {"accepted": 1, "duplicates": 1, "queued": 2, "updated": 0}
    assert _count(Lead) == 3
    for integration in integrations:
        assert _count(QueueEntry, QueueEntry.integration_id == integration.id) == 3
        db.session.refresh(integration)
        assert integration.pending_count == 3


def test_duplicate_within_one_payload_is_stored_once(world):
    result = ingest_leads(world.a.campaign, [_lead("X"), _lead("X")])
    assert result.to_dict() == {"accepted": 1, "duplicates": 1, "queued": 1, "updated": 0}
    assert _count(Lead) == 1


def test_leads_with_a_non_valid_status_are_stored_but_not_queued(world):
    result = ingest_leads(world.a.campaign, [_lead("ok"), _lead("bad", status="rejected")])
    assert result.to_dict() == {"accepted": 2, "duplicates": 0, "queued": 1, "updated": 0}
    assert _count(Lead) == 2
    queued = db.session.scalars(select(QueueEntry.lead_id)).all()
    assert queued == [db.session.scalar(select(Lead.id).where(Lead.external_id == "ok"))]


def test_disabled_integrations_get_nothing(world):
    disabled = factories.integration(world.a.campaign, "Paused", enabled=False)
    ingest_leads(world.a.campaign, [_lead("A"), _lead("B")])
    assert _count(QueueEntry, QueueEntry.integration_id == disabled.id) == 0
    assert _count(QueueEntry, QueueEntry.integration_id == world.a.integration.id) == 2
    assert db.session.get(BatchCsvIntegration, disabled.id).pending_count == 0


def test_other_campaigns_integrations_get_nothing(world):
    ingest_leads(world.a.campaign, [_lead("A")])
    assert _count(QueueEntry, QueueEntry.integration_id == world.b.integration.id) == 0


@pytest.mark.parametrize(
    ("payload", "bad_key"),
    [
        ([{"status": "valid"}], "leads.0.externalId"),
        ([{"externalId": 12, "status": "valid"}], "leads.0.externalId"),
        ([{"externalId": "x"}], "leads.0.status"),
        ([{"externalId": "x", "status": "valid", "fields": []}], "leads.0.fields"),
        ([{"externalId": "x", "status": "valid", "fields": {"a": {"nested": 1}}}], "leads.0.fields"),
        ([_lead("ok"), "not-an-object"], "leads.1"),
        ([], "leads"),
        ("nope", "leads"),
    ],
)
def test_bad_payloads_name_the_field_and_write_nothing(world, payload, bad_key):
    with pytest.raises(ValidationError) as exc:
        ingest_leads(world.a.campaign, payload)
    assert bad_key in exc.value.details
    assert _count(Lead) == 0 and _count(QueueEntry) == 0


def test_values_are_stored_exactly_as_sent(world):
    # The rows travel to the database as one JSON document: every character that JSON escapes,
    # non-ASCII text and each scalar type must come back unchanged.
    fields = {
        "email": " Ana.O'Brien@Example.COM ",
        "phone": "+44 (20) 7946-0958",
        "quote": 'say "hi", \\ back\\slash',
        "lines": "one\ntwo\tthree\r",
        "text": "Zoë, Ünal & 東京 \U0001f600",
        "int": 12345678901234,
        "float": 1.5,
        "yes": True,
        "none": None,
        "empty": "",
    }
    external_id = 'crm "7" \\ é \U0001f600'
    result = ingest_leads(world.a.campaign, [{"externalId": external_id, "status": "valid", "fields": fields}])
    assert result.to_dict() == {"accepted": 1, "duplicates": 0, "queued": 1, "updated": 0}
    db.session.expire_all()
    lead = db.session.scalar(select(Lead))
    assert lead.external_id == external_id
    assert lead.fields == fields
    assert (lead.email_key, lead.phone_key) == ("ana.o'brien@example.com", "+442079460958")


def test_more_than_the_limit_is_refused_whole(world):
    payload = [_lead(f"L{i}") for i in range(MAX_LEADS_PER_REQUEST + 1)]
    with pytest.raises(ValidationError):
        ingest_leads(world.a.campaign, payload)
    assert _count(Lead) == 0


def test_cli_import_with_progress_and_idempotency(runner, world, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("external_id,status,email,first_name\nA1,valid,a@x.test,Ann\nA2,rejected,b@x.test,Bob\n")
    args = ["leads", "import", str(path), "--campaign", str(world.a.campaign.id)]
    first = runner.invoke(args=args)
    assert first.exit_code == 0, first.output
    assert "2 leads stored, 0 duplicates skipped, 1 queue entries created" in first.output
    second = runner.invoke(args=args)
    assert "0 leads stored, 2 duplicates skipped" in second.output
    lead = db.session.scalar(select(Lead).where(Lead.external_id == "A1"))
    assert lead.fields == {"email": "a@x.test", "first_name": "Ann"}


def test_cli_import_reports_unknown_campaign_and_missing_columns(runner, world, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_text("id,email\n1,a@x.test\n")
    unknown = runner.invoke(args=["leads", "import", str(path), "--campaign", "999999"])
    assert unknown.exit_code != 0 and "no campaign with id 999999" in unknown.output
    missing = runner.invoke(args=["leads", "import", str(path), "--campaign", str(world.a.campaign.id)])
    assert missing.exit_code != 0 and "missing column(s): external_id, status" in missing.output


def test_demo_seed_twice_duplicates_nothing(runner):
    first = runner.invoke(args=["demo", "seed", "--leads", "400"])
    assert first.exit_code == 0, first.output
    counts = (_count(Lead), _count(QueueEntry), _count(BatchCsvIntegration))
    second = runner.invoke(args=["demo", "seed", "--leads", "400"])
    assert second.exit_code == 0 and "0 new leads" in second.output
    assert (_count(Lead), _count(QueueEntry), _count(BatchCsvIntegration)) == counts
    assert counts[2] >= 25 and counts[0] == 400


def _ingest_in_child(database_url: str, redis_url: str, session_dir: str, campaign_id: int, barrier) -> None:
    from pathlib import Path

    from app import create_app
    from app.models import Campaign
    from tests.conftest import make_config

    app = create_app(make_config(Path(session_dir), database_url, redis_url))
    with app.app_context():
        campaign = db.session.get(Campaign, campaign_id)
        payload = [_lead(f"C{i}") for i in range(2000)]
        barrier.wait()
        ingest_leads(campaign, payload)
        db.engine.dispose()


@pytest.mark.postgres
def test_two_processes_ingesting_the_same_payload_at_once_store_it_once(world, database_url, redis_url, session_dir):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    procs = [
        ctx.Process(
            target=_ingest_in_child,
            args=(database_url, redis_url, str(session_dir), world.a.campaign.id, barrier),
        )
        for _ in range(2)
    ]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    db.session.expire_all()
    assert _count(Lead) == 2000
    assert _count(QueueEntry) == 2000
    assert db.session.get(BatchCsvIntegration, world.a.integration.id).pending_count == 2000
