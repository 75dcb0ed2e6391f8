"""Migrations build the schema from empty, match the models exactly, and carry a live
installation's rows from every earlier revision to head on SQLite and PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask_migrate import upgrade
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from app import create_app
from app.extensions import db
from tests import migration_seeds as seeds
from tests.conftest import make_config

MIGRATIONS = Path(__file__).resolve().parent.parent / "migrations"
SCRIPT = ScriptDirectory(str(MIGRATIONS))
# base -> head
CHAIN = [script.revision for script in reversed(list(SCRIPT.walk_revisions()))]


def test_migrated_schema_matches_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_the_chain_has_one_head_and_starts_at_the_frozen_first_release():
    # Two revisions written on the same head must be put one after the other before landing.
    assert len(SCRIPT.get_heads()) == 1
    assert CHAIN[0] == "0001"
    assert "0001" in seeds.SEEDS


def test_upgrade_from_empty_database_creates_every_table(tmp_path, redis_url):
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = create_app(make_config(tmp_path, url, redis_url))
    with fresh.app_context():
        upgrade()
        tables = set(db.inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert {m.name for m in db.metadata.sorted_tables} <= tables


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def scratch_url(request, tmp_path):
    """An empty database of its own: a file on SQLite, a throwaway schema on PostgreSQL
    (so the session's schema in TEST_DATABASE_URL is left alone)."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'upgrade.db'}"
        return
    base = make_url(os.environ["TEST_DATABASE_URL"])
    schema = f"upgrade_{os.getpid()}_{request.node.name.split('[')[-1].rstrip(']').replace('-', '_')}".lower()
    schema = "".join(c if c.isalnum() else "_" for c in schema)
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE; CREATE SCHEMA {schema}"))
    yield base.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.begin() as conn:
        conn.execute(text(f"DROP SCHEMA IF EXISTS {schema} CASCADE"))
    admin.dispose()


@pytest.mark.parametrize("start", CHAIN)
def test_upgrade_keeps_every_row_from_each_earlier_revision(start, scratch_url, tmp_path, redis_url):
    """A database created at `start` and holding rows in every table reaches head with them readable."""
    app = create_app(make_config(tmp_path, scratch_url, redis_url, CREDENTIAL_KEYS=seeds.CREDENTIAL_KEY))
    with app.app_context():
        seeded = _build_at(start)
        upgrade()
        assert MigrationContext.configure(db.session.connection()).get_current_revision() == CHAIN[-1]
        _assert_rows_read_back(seeded)
        _assert_the_app_uses_them(app)
        db.session.remove()
        db.engine.dispose()


def _build_at(start: str) -> list[tuple[str, dict]]:
    """Walk the chain up to `start`, writing each revision's rows once it is reached."""
    seeded: list[tuple[str, dict]] = []
    for revision in CHAIN[: CHAIN.index(start) + 1]:
        upgrade(revision=revision)
        for table, rows in seeds.SEEDS.get(revision, {}).items():
            _insert(table, rows)
            seeded += [(table, row) for row in rows]
    with db.engine.connect() as conn:
        tables = set(db.inspect(conn).get_table_names()) - {"alembic_version"}
        empty = [t for t in sorted(tables) if not conn.execute(text(f"SELECT count(*) FROM {t}")).scalar()]
    assert not empty, f"add rows for {empty} to tests/migration_seeds.py SEEDS (at {start})"
    return seeded


def _insert(table: str, rows: list[dict]) -> None:
    dialect = db.engine.dialect.name
    columns = list(rows[0])
    sql = text(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join(':' + c for c in columns)})")
    with db.engine.begin() as conn:
        conn.execute(sql, [{c: seeds.sql_value(row[c], dialect) for c in columns} for row in rows])
        if dialect == "postgresql" and "id" in columns:
            # Rows of a live database took their ids from the sequence; keep it in step.
            conn.execute(text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), (SELECT max(id) FROM {table}))"))


def _assert_rows_read_back(seeded: list[tuple[str, dict]]) -> None:
    """Every seeded row loads through its model with the values written at its revision.

    A column the models no longer have was dropped on purpose by a later revision; a revision
    that renames or reshapes a column adds its own assertion here.
    """
    models = {m.local_table.name: m.class_ for m in db.Model.registry.mappers}
    for table, row in seeded:
        model = models[table]
        key = tuple(row[c.name] for c in model.__table__.primary_key)
        obj = db.session.get(model, key)
        assert obj is not None, f"{table} row {key} lost"
        mapper = db.inspect(model)
        for name, raw in row.items():
            if name not in model.__table__.c:
                continue
            attr = mapper.get_property_by_column(model.__table__.c[name]).key
            assert getattr(obj, attr) == seeds.model_value(raw), f"{table}.{name} of row {key}"
    for table, model in models.items():
        written = sum(1 for t, _ in seeded if t == table)
        assert db.session.scalar(select(func.count()).select_from(model)) == written, table


def _assert_the_app_uses_them(app) -> None:
    from app.models import Credential
    from app.services import accounts, credentials

    assert accounts.authenticate("admin@acme.example", seeds.PASSWORD).id == 1
    assert credentials.reveal(db.session.get(Credential, 1)).value == seeds.SFTP_PASSWORD
    client = app.test_client()
    auth = {"Authorization": f"Bearer {seeds.API_TOKEN}"}
    sent = client.get("/api/v4/campaign-lead-batches?sort=id", headers=auth)
    assert sent.status_code == 200, sent.json
    assert [(b["id"], b["status"]) for b in sent.json["data"]] == [(1, "delivered"), (2, "failed")]
    leads = client.get("/api/v4/batch-manager/1/leads", headers=auth)
    assert leads.status_code == 200, leads.json
    assert leads.json["meta"]["headers"] == ["Lead ID", "Email", "First Name"]
    [lead] = leads.json["data"]
    assert (lead["leadId"], lead["queuedAt"]) == (2, "2026-01-31T11:20:00Z")
    assert lead["fields"] == {"Lead ID": "2", "Email": "chloe@example.com", "First Name": "Chloé"}
    # 20261130_10: nobody becomes a platform operator by upgrading; no retry is announced.
    from app.models import SentBatch, User

    assert db.session.scalars(select(User.is_platform_operator)).all() == [False] * 2
    assert db.session.scalars(select(SentBatch.next_attempt_at)).all() == [None] * 2
    # 20261130_50: leads stored before the trace keys existed are found by email and phone.
    for query in ("email=ada%40example.com", "phone=%2B442079460958", "externalId=crm-41"):
        found = client.get(f"/api/v4/leads?{query}", headers=auth)
        assert found.status_code == 200, found.json
        assert [lead["leadId"] for lead in found.json["data"]] == [1], query
    # 20261130_40: the last finished file (file 2, failed) is the integration's health; the webhook
    # secret (if any) still decrypts; nothing is paused by upgrading.
    from app.models import AlertSettings, BatchCsvIntegration
    from app.services import alert_settings

    integration = db.session.get(BatchCsvIntegration, 1)
    assert (integration.last_file_status, integration.last_file_at) == (
        "failed",
        seeds.At("2026-01-31 09:05:00").value(),
    )
    assert (integration.paused_at, integration.consecutive_failures, integration.pause_after_failures) == (None, 0, 5)
    settings = db.session.get(AlertSettings, 1)  # seeded only when the database started at 20261130_40
    assert settings is None or alert_settings.webhook_secret(settings) == seeds.WEBHOOK_SECRET
    # New rows take fresh ids after the seeded ones (the sequences came through).
    user = accounts.create_user("new@acme.example", "viewer", "Acme Lead Co", "another-password")
    assert (user.id, user.enterprise_id) == (3, 1)


def test_upgrade_to_id_ranges_keeps_each_file_and_the_queue_in_order(scratch_url, tmp_path, redis_url):
    """20261202_20: an integration whose entries interleave files and pending ones (an entry queued
    while a claim ran, leads requeued from a failed file) gets contiguous ids; each file keeps
    its leads, the queue its order, and new entries come after everything."""
    from app.models import BatchCsvIntegration, SentBatch
    from app.services import lead_records
    from app.services.actors import SYSTEM
    from app.services.claim import claim

    app = create_app(make_config(tmp_path, scratch_url, redis_url, CREDENTIAL_KEYS=seeds.CREDENTIAL_KEY))
    with app.app_context():
        _build_at("20261202_10_queue_lead_first")  # entry 1 in file 1, entry 2 pending
        first = seeds.SEEDS["0001"]["leads"][0]
        _insert("leads", [first | {"id": n, "external_id": f"crm-{n}"} for n in range(3, 8)])
        file_one = seeds.SEEDS["0001"]["sent_batches"][0]
        _insert("sent_batches", [file_one | {"id": 3, "lead_count": 2, "file_name": "third.csv.gz"}])
        # In id order: file 1, pending, file 3, file 1, pending, file 3 (lead 7 is queued after the upgrade).
        entries = [(3, 3, 3), (4, 4, 1), (5, 5, None), (6, 6, 3)]
        _insert(
            "queue_entries",
            [
                {
                    "id": i,
                    "integration_id": 1,
                    "lead_id": lead,
                    "queued_at": seeds.At("2026-02-01 08:00:00"),
                    "sent_batch_id": file,
                }
                for i, lead, file in entries
            ],
        )
        with db.engine.begin() as conn:
            conn.execute(text("UPDATE sent_batches SET lead_count = 2 WHERE id = 1"))
            conn.execute(text("UPDATE batch_integrations SET pending_count = 3 WHERE id = 1"))  # lead 7 too
        upgrade()

        def leads_of(batch_id: int) -> list[int]:
            return [r.lead_id for r in lead_records.iter_batch_records(batch_id)]

        assert leads_of(1) == [1, 4] and leads_of(3) == [3, 6]
        assert [r.lead_id for r in lead_records.iter_pending_records(1)] == [2, 5]
        # The next claim takes the pending ones, in order, and nothing else.
        _insert("queue_entries", [{"integration_id": 1, "lead_id": 7, "queued_at": seeds.At("2026-02-02 08:00:00")}])
        [outcome] = claim(1, "schedule", SYSTEM)
        db.session.commit()
        assert leads_of(outcome.batch_id) == [2, 5, 7] and outcome.lead_count == 3
        assert leads_of(1) == [1, 4] and leads_of(3) == [3, 6]
        assert db.session.get(BatchCsvIntegration, 1).pending_count == 0
        assert db.session.get(SentBatch, 2).entries_through is None  # a resend holds its original's leads
        db.session.remove()
        db.engine.dispose()
