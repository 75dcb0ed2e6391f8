"""The retention policy: old stored files purged (410 at every door, bytes gone), lead values
redacted only once every integration delivered them, in resumable chunks."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration, Lead, SentBatch
from app.models.types import utcnow
from app.services import pipeline, retention, sending
from app.services.storage import get_store
from tests import factories
from tests.admin_support import SENT, login
from tests.engine_support import ROOT, pending_count, worker_env


def _deliver(tenant, count: int, prefix: str) -> SentBatch:
    factories.leads(tenant.campaign, count, prefix=prefix)
    [outcome] = sending.batch_now([tenant.integration.id], tenant.users["manager"])
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    return db.session.get(SentBatch, outcome.batch_id)


def _travel(days: int, *batch_ids: int) -> None:
    """Move sent batches (and every lead) `days` into the past."""
    past = utcnow() - timedelta(days=days)
    db.session.execute(update(SentBatch).where(SentBatch.id.in_(batch_ids)).values(sent_at=past, stored_at=past))
    db.session.execute(update(Lead).values(created_at=past))
    db.session.commit()


def test_files_past_the_period_are_purged_with_410_at_api_and_admin_and_pending_leads_untouched(app, client, world):
    old = _deliver(world.a, 4, "old")
    recent = _deliver(world.a, 2, "recent")
    other = _deliver(world.b, 3, "b")
    factories.leads(world.a.campaign, 3, prefix="waiting")
    _travel(31, old.id, other.id)
    world.a.enterprise.retention_file_days = 30
    db.session.commit()
    old_key, old_sha, store = old.storage_key, old.sha256, get_store()
    assert store.exists(old_key)

    [counts] = retention.apply_all()  # B has no policy and the platform default is keep-forever
    assert (counts.enterprise_id, counts.files_purged, counts.leads_redacted) == (world.a.enterprise.id, 1, 0)
    db.session.expire_all()
    old, recent, other = (db.session.get(SentBatch, b.id) for b in (old, recent, other))
    assert not store.exists(old_key)
    assert (old.purge_reason, old.sha256, old.lead_count, old.status) == ("retention", old_sha, 4, "delivered")
    assert old.purged_at is not None and recent.purged_at is None and other.purged_at is None
    assert store.exists(recent.storage_key) and store.exists(other.storage_key)

    api = client.get(
        f"/api/v4/campaign-lead-batches/{old.id}/download",
        headers={"Authorization": f"Bearer {world.a.tokens['manager']}"},
    )
    day = old.purged_at.strftime("%Y-%m-%d")
    assert api.status_code == 410
    assert f"purged on {day} by the retention policy" in api.json["error"]["message"]
    app.config["WTF_CSRF_ENABLED"] = False
    admin = app.test_client()
    login(admin, world.a.users["manager"])
    page = admin.get(f"{SENT}/download/{old.id}")
    assert page.status_code == 410 and f"purged on {day} by the retention policy" in page.get_data(as_text=True)
    assert admin.get(f"{SENT}/download/{recent.id}").status_code == 200

    pending = db.session.scalars(
        select(Lead).where(Lead.external_id.like("waiting-%")).order_by(Lead.external_id)
    ).all()
    assert [lead.fields["email"] for lead in pending] == [f"person{i}@example.com" for i in range(3)]
    # Run again: nothing more to do, nothing done twice.
    assert [(c.files_purged, c.leads_redacted) for c in retention.apply_all()] == [(0, 0)]


def test_lead_values_are_redacted_only_once_every_integration_delivered_them(app, world):
    second = factories.integration(world.a.campaign, "Second feed")
    factories.leads(world.a.campaign, 3, prefix="p")
    [first_out] = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    assert pipeline.process_batch(first_out.batch_id) == "delivered"
    world.a.enterprise.retention_lead_days = 60
    db.session.commit()
    _travel(61)

    def fields():
        db.session.expire_all()
        return [(lead.fields, lead.email_key) for lead in db.session.scalars(select(Lead).order_by(Lead.id))]

    before = fields()
    assert [c.leads_redacted for c in retention.apply_all()] == [0]  # still pending in the second feed
    [second_out] = sending.batch_now([second.id], world.a.users["manager"])
    assert [c.leads_redacted for c in retention.apply_all()] == [0]  # claimed, not delivered yet
    assert fields() == before
    assert pipeline.process_batch(second_out.batch_id) == "delivered"
    assert [c.leads_redacted for c in retention.apply_all()] == [3]
    assert fields() == [({}, None)] * 3
    # The external id stays: it is the platform's reference, and the counts stay explainable.
    assert sorted(db.session.scalars(select(Lead.external_id))) == ["p-0", "p-1", "p-2"]


KILLABLE = """
import sys, time
from app import create_app
from app.services import retention
real = retention._commit_chunk
def slow_commit(*args, **kwargs):
    real(*args, **kwargs)
    print("COMMITTED", flush=True)
    time.sleep(60)  # the test SIGKILLs the process here, after the first chunk is committed
retention._commit_chunk = slow_commit
with create_app().app_context():
    retention.apply_all(chunk=int(sys.argv[1]))
"""


@pytest.mark.timeout(120)
def test_a_run_killed_after_its_first_chunk_resumes_without_double_work(
    app, world, session_dir, database_url, redis_url
):
    batches = [_deliver(world.a, 1, f"k{i}") for i in range(5)]
    keys = [b.storage_key for b in batches]
    _travel(10, *[b.id for b in batches])
    world.a.enterprise.retention_file_days = 7
    db.session.commit()
    env = worker_env(session_dir, database_url, redis_url, LOG_LEVEL="INFO")
    proc = subprocess.Popen(
        [sys.executable, "-c", KILLABLE, "2"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    output = b""
    deadline = time.monotonic() + 60
    while b"COMMITTED" not in output and time.monotonic() < deadline:
        output += proc.stdout.readline()
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert b"chunk 1 committed, 2 files purged" in output, output.decode(errors="replace")

    db.session.expire_all()
    purged = db.session.scalars(select(SentBatch.id).where(SentBatch.purged_at.is_not(None)).order_by(SentBatch.id))
    assert list(purged) == [batches[0].id, batches[1].id]
    [killed] = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run")).all()
    assert (killed.details["filesPurged"], killed.details["finished"], killed.actor) == (2, False, "retention policy")
    first_purged_at = {b.id: b.purged_at for b in db.session.scalars(select(SentBatch))}

    [counts] = retention.apply_all(chunk=2)
    assert counts.files_purged == 3  # only what the killed run left
    db.session.expire_all()
    rows = db.session.scalars(select(SentBatch).order_by(SentBatch.id)).all()
    assert all(row.purged_at is not None for row in rows)
    assert {r.id: r.purged_at for r in rows if r.id in (batches[0].id, batches[1].id)} == {
        batches[0].id: first_purged_at[batches[0].id],
        batches[1].id: first_purged_at[batches[1].id],
    }
    assert not any(get_store().exists(key) for key in keys)
    events = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "retention.run").order_by(AuditEvent.id))
    assert [(e.details["filesPurged"], e.details["finished"]) for e in events] == [(2, False), (3, True)]
    assert all(pending_count(i) == 0 for i in db.session.scalars(select(BatchCsvIntegration.id)))


def test_the_settings_page_saves_the_policy_for_admins_only_and_refuses_bad_days(app, world):
    app.config["WTF_CSRF_ENABLED"] = False
    admin = app.test_client()
    login(admin, world.a.users["admin"])
    page = admin.get("/admin/retention/").get_data(as_text=True)
    assert "Stored files: kept forever" in page  # nothing changes for existing users
    bad = admin.post("/admin/retention/", data={"file_days": "0", "lead_days": "abc"})
    assert bad.status_code == 200 and "is-invalid" in bad.get_data(as_text=True)
    db.session.expire_all()
    assert world.a.enterprise.retention_file_days is None
    saved = admin.post("/admin/retention/", data={"file_days": "30", "lead_days": ""}, follow_redirects=True)
    assert "purged 30 days after sending" in saved.get_data(as_text=True)
    db.session.expire_all()
    assert (world.a.enterprise.retention_file_days, world.a.enterprise.retention_lead_days) == (30, None)
    assert world.b.enterprise.retention_file_days is None
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "retention.update"))
    assert (event.severity, event.details["after"], event.actor) == (
        "high",
        {"fileDays": 30, "leadDays": None},
        world.a.users["admin"].email,
    )


def test_a_manager_cannot_change_the_policy(app, client, world):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["manager"])
    assert client.post("/admin/retention/", data={"file_days": "1"}).status_code == 403
    db.session.expire_all()
    assert world.a.enterprise.retention_file_days is None
