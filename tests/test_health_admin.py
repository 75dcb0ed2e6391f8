"""Health in the tables and the alert settings, through the admin pages and the API: the
Pending health column (badge, filter, sort), Resume, the Sent error inline and on View,
Settings > Alerts (admins only), pauseAfterFailures, /resume and /alert-settings."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, BatchCsvIntegration, SentBatch
from app.services import credentials, sending
from tests import factories
from tests.admin_support import PENDING, SENT, deliver_all, login

ERROR_2ND_LINE = "second line only on the View page"


@pytest.fixture(autouse=True)
def _no_csrf(app):
    app.config.update(WTF_CSRF_ENABLED=False, SEND_RETRY_INTERVALS=[], DELIVERY_ALLOWED_NETWORKS="127.0.0.0/8")


def _fail_files(world, sftp_server, count: int, pause_after: int = 2) -> BatchCsvIntegration:
    """`count` real failed files of enterprise A's integration (its SFTP server is down)."""
    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "sftp", "password", sftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", sftp_server.settings(), cred.id
    integ.pause_after_failures = pause_after
    db.session.commit()
    sftp_server.stop()
    for n in range(count):
        factories.leads(world.a.campaign, 2, prefix=f"fail{n}")
        sending.batch_now([integ.id], world.a.users["manager"])
        deliver_all()
    factories.leads(world.a.campaign, 3, prefix="waiting")
    return db.session.get(BatchCsvIntegration, integ.id)


def _rows(page: str) -> list[str]:
    return re.findall(r"<tr[^>]*>.*?</tr>", page, flags=re.S)


def test_pending_shows_paused_failing_and_healthy_and_filters_and_sorts_on_health(client, world, sftp_server):
    paused = _fail_files(world, sftp_server, 2)
    assert paused.paused_at is not None
    failing_camp = factories.campaign(world.a.advertiser, "Failing campaign")
    failing = factories.integration(failing_camp, "Failing feed", consecutive_failures=1, last_file_status="failed")
    healthy_camp = factories.campaign(world.a.advertiser, "Healthy campaign")
    healthy = factories.integration(healthy_camp, "Healthy feed")
    factories.leads(failing_camp, 1)
    factories.leads(healthy_camp, 2)
    db.session.execute(
        BatchCsvIntegration.__table__.update()
        .where(BatchCsvIntegration.id == healthy.id)
        .values(last_file_status="delivered", last_file_at=paused.created_at)
    )
    db.session.commit()
    login(client, world.a.users["viewer"])

    page = client.get(PENDING + "/").get_data(as_text=True)
    [row] = [r for r in _rows(page) if paused.label in r]
    assert "Paused" in row and "2 failed in a row" in row and "last file failed" in row
    assert "bm-act-resume" not in row  # a viewer gets no Resume button

    def labels(query: str) -> list[str]:
        html = client.get(PENDING + "/?" + query).get_data(as_text=True)
        found = [lbl for lbl in (paused.label, failing.label, healthy.label) if lbl in html]
        return sorted(found, key=html.index)

    assert labels("flt0_health_is=paused") == [paused.label]
    assert labels("flt0_health_is=failing") == [failing.label]
    assert labels("flt0_health_is=healthy") == [healthy.label]
    column = re.search(r'href="[^"]*sort=(\d+)[^"]*"[^>]*>\s*Health', page)
    assert column, "the Health column header sorts"
    assert labels(f"sort={column.group(1)}&desc=1") == [paused.label, failing.label, healthy.label]


def test_resume_from_pending_is_for_managers_and_sends_what_is_pending(client, world, sftp_server):
    paused = _fail_files(world, sftp_server, 2)
    login(client, world.a.users["viewer"])
    assert client.post(f"{PENDING}/resume/{paused.id}").status_code == 403
    client.post("/logout")
    login(client, world.b.users["manager"])
    assert client.post(f"{PENDING}/resume/{paused.id}").status_code == 404  # another enterprise's
    client.post("/logout")
    login(client, world.a.users["manager"])
    [row] = [r for r in _rows(client.get(PENDING + "/").get_data(as_text=True)) if paused.label in r]
    assert "bm-act-resume" in row
    view = client.get(f"{PENDING}/view/{paused.id}").get_data(as_text=True)
    assert "Paused" in view and "Resume and send pending" in view
    sftp_server.start()
    page = client.post(f"{PENDING}/resume/{paused.id}", follow_redirects=True).get_data(as_text=True)
    assert "resumed" in page and re.search(r"queued <a[^>]*>file #\d+</a> with 3 leads", page)
    deliver_all()
    resumed = db.session.get(BatchCsvIntegration, paused.id)
    assert resumed.paused_at is None and resumed.last_file_status == "delivered" and resumed.pending_count == 0
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "integration.resume"))
    assert audit.actor == world.a.users["manager"].email and audit.severity == "high"
    again = client.post(f"{PENDING}/resume/{paused.id}", follow_redirects=True).get_data(as_text=True)
    assert "is not paused" in again


def test_sent_shows_the_first_line_of_the_error_and_view_the_whole_text(client, world, sftp_server):
    _fail_files(world, sftp_server, 1, pause_after=0)
    batch = db.session.scalar(select(SentBatch).where(SentBatch.status == "failed"))
    first_line = batch.last_error
    batch.last_error = f"{first_line}\n{ERROR_2ND_LINE}"
    db.session.commit()
    login(client, world.a.users["viewer"])
    page = client.get(SENT + "/").get_data(as_text=True)
    [row] = [r for r in _rows(page) if f"/view/{batch.id}" in r]
    assert 'class="d-block text-danger bm-error"' in row and "connection refused" in row
    assert ERROR_2ND_LINE not in page
    view = client.get(f"{SENT}/view/{batch.id}").get_data(as_text=True)
    assert "connection refused" in view and ERROR_2ND_LINE in view
    assert db.session.get(BatchCsvIntegration, world.a.integration.id).paused_at is None  # 0: never pauses


def test_alert_settings_page_is_for_admins_and_keeps_the_secret_write_only(client, world):
    login(client, world.a.users["manager"])
    assert client.get("/admin/alerts/").status_code == 403
    client.post("/logout")
    login(client, world.a.users["admin"])
    bad = client.post(
        "/admin/alerts/",
        data={"emailRecipients": "ops@x.example\nnope", "webhookUrls": "http://127.0.0.1:9/hook", "staleDays": "3"},
    )
    page = bad.get_data(as_text=True)
    assert bad.status_code == 200 and "not an e-mail address: nope" in page and "must start with https://" in page
    secret = "a-webhook-secret-of-some-length"
    saved = client.post(
        "/admin/alerts/",
        data={
            "emailRecipients": "ops@x.example",
            "webhookUrls": "https://127.0.0.1:8443/hook",
            "webhookSecret": secret,
            "optionalEvents": ["stale"],
            "staleDays": "2",
        },
        follow_redirects=True,
    )
    page = saved.get_data(as_text=True)
    assert "Alert settings saved" in page and secret not in page and "leave blank to keep it" in page
    assert "https://127.0.0.1:8443/hook" in page


def test_the_api_sets_pause_after_failures_resumes_and_replaces_alert_settings(client, world, sftp_server):
    integ = world.a.integration
    admin = {"Authorization": f"Bearer {world.a.tokens['admin']}"}
    viewer = {"Authorization": f"Bearer {world.a.tokens['viewer']}"}
    bad = client.patch(f"/api/v4/batch-integrations/{integ.id}", json={"pauseAfterFailures": -1}, headers=admin)
    assert bad.status_code == 422 and "pauseAfterFailures" in bad.json["error"]["details"]
    ok = client.patch(f"/api/v4/batch-integrations/{integ.id}", json={"pauseAfterFailures": 2}, headers=admin)
    assert ok.status_code == 200 and ok.json["data"]["pauseAfterFailures"] == 2
    assert ok.json["data"]["pausedAt"] is None and ok.json["data"]["consecutiveFailures"] == 0

    conflict = client.post(f"/api/v4/batch-integrations/{integ.id}/resume", headers=admin)
    assert conflict.status_code == 409 and conflict.json["error"]["code"] == "conflict"
    _fail_files(world, sftp_server, 2)
    read = client.get(f"/api/v4/batch-integrations/{integ.id}", headers=viewer).json["data"]
    assert read["pausedAt"] and read["consecutiveFailures"] == 2 and read["lastFileStatus"] == "failed"
    assert client.post(f"/api/v4/batch-integrations/{integ.id}/resume", headers=viewer).status_code == 403
    [pending] = client.get("/api/v4/batch-manager?health=paused", headers=viewer).json["data"]
    assert pending["integrationId"] == integ.id and pending["pausedAt"] and pending["consecutiveFailures"] == 2
    assert pending["lastFileStatus"] == "failed" and pending["lastFileAt"].endswith("Z")
    assert client.get("/api/v4/batch-manager?health=failing", headers=viewer).json["data"] == []
    assert client.get("/api/v4/batch-manager?health=poorly", headers=viewer).status_code == 422
    by_streak = client.get("/api/v4/batch-manager?includeEmpty=true&sort=-consecutiveFailures", headers=viewer)
    assert by_streak.json["data"][0]["integrationId"] == integ.id
    sftp_server.start()
    resumed = client.post(f"/api/v4/batch-integrations/{integ.id}/resume", headers=admin)
    assert resumed.status_code == 202 and resumed.json["data"][0]["status"] == "queued"

    assert client.get("/api/v4/alert-settings", headers=viewer).status_code == 403
    rejected = client.put("/api/v4/alert-settings", json={"webhookUrls": ["https://127.0.0.1/h"]}, headers=admin)
    assert rejected.status_code == 422 and "webhookSecret" in rejected.json["error"]["details"]
    body = {"emailRecipients": ["ops@a.example"], "webhookUrls": ["https://127.0.0.1/h"], "webhookSecret": "s" * 20}
    put = client.put("/api/v4/alert-settings", json=body, headers=admin)
    assert put.status_code == 200 and put.json["data"]["webhookSecretSet"] is True
    assert "webhookSecret" not in put.json["data"] and "s" * 20 not in put.get_data(as_text=True)
    assert client.get("/api/v4/alert-settings", headers=admin).json["data"]["emailRecipients"] == ["ops@a.example"]
    # A body that is not JSON is refused; it does not clear the settings.
    garbage = client.put(
        "/api/v4/alert-settings", data=b"\x04\xff not json", content_type="application/json", headers=admin
    )
    assert garbage.status_code in (400, 422)
    assert client.get("/api/v4/alert-settings", headers=admin).json["data"]["emailRecipients"] == ["ops@a.example"]
    other = {"Authorization": f"Bearer {world.b.tokens['admin']}"}
    assert client.get("/api/v4/alert-settings", headers=other).json["data"]["emailRecipients"] == []
