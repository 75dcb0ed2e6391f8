"""Empty runs: a scheduled slot with nothing to send is recorded (and alerts when the enterprise
chose it), never counts as a file, and shows in the Sent lists only when a filter asks.

Real SQLite/PostgreSQL and Redis, the RQ jobs run by a real worker in this process, aiosmtpd for
e-mail and a loopback HTTPS receiver whose certificate a test CA signed (as tests/test_alerts.py).
"""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from app.extensions import db
from app.models import AlertAttempt, AlertEvent, AuditEvent, BatchCsvIntegration, SentBatch
from app.services import alert_settings, dashboard, delivery_caps, webhooks
from jobs.send import send_scheduled
from tests import factories
from tests.admin_support import csrf_token, login
from tests.engine_support import drain
from tests.servers.webhook import WebhookReceiver, make_ca_and_cert

SECRET = "whsec-empty-0123456789abcdef"
SLOT = "202612010600"  # 06:00 local on 1 December 2026
SENT = "/v2/system/campaign-lead-batch/sent-batches/"


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture(scope="module")
def test_ca(tmp_path_factory):
    return make_ca_and_cert(tmp_path_factory.mktemp("webhook-ca"))


@pytest.fixture
def receiver(app, test_ca):
    app.config["WEBHOOK_CA_FILE"] = str(test_ca.ca_path)
    server = WebhookReceiver(test_ca).start()
    yield server
    server.shutdown()


def _alerts_to(world, app, smtp_server, receiver, events: list[str]) -> None:
    app.config.update(DELIVERY_ALLOWED_NETWORKS="127.0.0.0/8", SMTP_URL=smtp_server.url(), ALERT_RETRY_INTERVALS=[0])
    alert_settings.save(
        world.a.users["admin"],
        {
            "emailRecipients": ["ops@a.example.com"],
            "webhookUrls": [receiver.url()],
            "webhookSecret": SECRET,
            "optionalEvents": events,
        },
    )


def _runs(integration_id: int) -> list[SentBatch]:
    db.session.expire_all()
    return list(
        db.session.scalars(
            select(SentBatch).where(SentBatch.integration_id == integration_id, SentBatch.status == "empty")
        )
    )


def _sent(client, token: str, **query) -> dict:
    response = client.get("/api/v4/campaign-lead-batches", query_string=query, headers=bearer(token))
    assert response.status_code == 200, response.json
    return response.json


def test_an_empty_scheduled_run_is_recorded_once_and_counts_as_nothing(client, world):
    integ = factories.integration(world.a.campaign, "Nightly CSV", timezone="Europe/London")
    factories.leads(world.a.campaign, 3, prefix="sent")
    [file] = send_scheduled(integ.id, "202611300600")
    drain()
    assert file["status"] == "queued"
    assert not _runs(integ.id)  # leads were pending: a file, no empty run

    [outcome] = send_scheduled(integ.id, SLOT)
    drain()
    [run] = _runs(integ.id)
    assert outcome == {"integrationId": integ.id, "batchId": run.id, "status": "empty", "leadCount": 0}
    assert (run.lead_count, run.file_name, run.storage_key, run.sha256, run.sent_at) == (0, None, None, None, None)
    assert (run.trigger, run.triggered_by, run.label) == ("schedule", "scheduler", "Nightly CSV")
    assert (run.campaign_name, run.advertiser_name) == (world.a.campaign.name, world.a.campaign.advertiser.name)
    assert run.counted_at == delivery_caps.slot_time(SLOT, "Europe/London")
    audit = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "send.schedule")).all()
    assert audit[-1].details["batchId"] == run.id and audit[-1].details["leadCount"] == 0

    # RQ may run the slot's job twice: the same record, not a second one.
    [again] = send_scheduled(integ.id, SLOT)
    assert again["batchId"] == run.id and len(_runs(integ.id)) == 1
    drain()
    assert _runs(integ.id)[0].status == "empty"  # never processed by the pipeline

    # Neither delivered nor failed: the dashboard, the health streak and the last file are untouched.
    board = dashboard.build(world.a.enterprise.id)
    assert (board.totals["files"], board.totals["leads"], board.totals["failed"]) == (1, 3, 0)
    db.session.expire_all()
    health = db.session.get(BatchCsvIntegration, integ.id)
    assert (health.consecutive_failures, health.last_file_status, health.paused_at) == (0, "delivered", None)

    # A manual Batch now with nothing pending stays what it was: no row, batchId null.
    token = world.a.tokens["manager"]
    response = client.post(
        "/api/v4/batch-manager-batch-now", json={"integrationIds": [integ.id]}, headers=bearer(token)
    )
    assert response.json["data"] == [{"integrationId": integ.id, "batchId": None, "status": "empty", "leadCount": 0}]
    assert len(_runs(integ.id)) == 1


def test_no_empty_run_when_the_cap_is_full_or_the_integration_sends_empty_files(world):
    capped = factories.integration(world.a.campaign, "Capped", cap_leads=2, cap_period="day")
    factories.leads(world.a.campaign, 3, prefix="cap")
    assert send_scheduled(capped.id, "202612010600")[0]["leadCount"] == 2
    # One lead waits for tomorrow's window: nothing goes out, but this run was not empty.
    assert send_scheduled(capped.id, "202612011200")[0] == {
        "integrationId": capped.id,
        "batchId": None,
        "status": "empty",
        "leadCount": 0,
    }
    assert not _runs(capped.id)

    sends_empty = factories.integration(world.a.campaign, "Always a file", send_empty=True)
    [outcome] = send_scheduled(sends_empty.id, SLOT)
    drain()
    assert outcome["status"] == "queued" and not _runs(sends_empty.id)
    assert db.session.get(SentBatch, outcome["batchId"]).status == "delivered"


def test_the_sent_api_lists_empty_runs_only_when_asked_and_they_have_no_file(client, world):
    integ = factories.integration(world.a.campaign, "Quiet feed")
    factories.leads(world.a.campaign, 2, prefix="q")
    [file] = send_scheduled(integ.id, "202611300600")
    [empty] = send_scheduled(integ.id, SLOT)
    drain()
    viewer, manager = world.a.tokens["viewer"], world.a.tokens["manager"]

    listed = _sent(client, viewer, integrationId=integ.id)
    assert [r["id"] for r in listed["data"]] == [file["batchId"]] and listed["meta"]["total"] == 1
    both = _sent(client, viewer, integrationId=integ.id, includeEmpty="true")
    assert [r["id"] for r in both["data"]] == [empty["batchId"], file["batchId"]]
    [row] = _sent(client, viewer, status="empty")["data"]
    assert (row["id"], row["status"], row["leadCount"], row["fileName"]) == (empty["batchId"], "empty", 0, None)
    assert row["countedAt"] == "2026-12-01T06:00:00Z"
    assert _sent(client, viewer, status="delivered", includeEmpty="true")["meta"]["total"] == 1
    bad = client.get("/api/v4/campaign-lead-batches?includeEmpty=maybe", headers=bearer(viewer))
    assert bad.status_code == 422 and "includeEmpty" in json.dumps(bad.json)
    # Another enterprise sees none of it.
    assert _sent(client, world.b.tokens["viewer"], status="empty")["meta"]["total"] == 0

    run = f"/api/v4/campaign-lead-batches/{empty['batchId']}"
    assert client.get(run, headers=bearer(viewer)).json["data"]["status"] == "empty"
    download = client.get(f"{run}/download", headers=bearer(manager))
    assert download.status_code == 404 and "empty run" in download.json["error"]["message"]
    for action in ("resend", "retry", "requeue"):
        refused = client.post(f"{run}/{action}", headers=bearer(manager))
        assert refused.status_code == 409, (action, refused.json)
    assert client.get(f"{run}/leads", headers=bearer(viewer)).json["meta"]["total"] == 0


def test_the_admin_sent_table_hides_empty_runs_until_a_filter_asks(client, world):
    integ = factories.integration(world.a.campaign, "Quiet admin feed")
    factories.leads(world.a.campaign, 2, prefix="adm")
    [file] = send_scheduled(integ.id, "202611300600")
    [empty] = send_scheduled(integ.id, SLOT)
    drain()
    login(client, world.a.users["manager"])

    def ids(query: str) -> set[int]:
        page = client.get(SENT + query)
        assert page.status_code == 200
        html = page.get_data(as_text=True)
        return {b for b in (file["batchId"], empty["batchId"]) if f'data-id="{b}"' in html}

    assert ids("") == {file["batchId"]}
    assert ids("?flt0_empty_runs_shown=too") == {file["batchId"], empty["batchId"]}
    assert ids("?flt0_empty_runs_shown=only") == {empty["batchId"]}
    assert ids("?flt0_status_equals=empty") == {empty["batchId"]}
    assert ids("?flt0_status_not_equal=empty") == {file["batchId"]}
    assert "nothing to send at the" in client.get(SENT + "?flt0_empty_runs_shown=only").get_data(as_text=True)

    # Its own pages still open; there is no file to download.
    assert client.get(f"{SENT}view/{empty['batchId']}").status_code == 200
    download = client.get(f"{SENT}download/{empty['batchId']}")
    assert download.status_code == 404 and "empty run" in download.get_data(as_text=True)


def test_the_empty_run_alert_goes_once_by_email_and_webhook_to_enterprises_that_chose_it(
    app, world, smtp_server, receiver
):
    integ = factories.integration(world.a.campaign, "Morning feed", timezone="Europe/London")
    _alerts_to(world, app, smtp_server, receiver, ["empty_run"])

    [outcome] = send_scheduled(integ.id, SLOT)
    drain()
    [mail] = smtp_server.messages
    assert mail.rcpt_tos == ["ops@a.example.com"]
    subject = mail.message["Subject"]
    assert "Morning feed had nothing to send at its 2026-12-01 06:00 Europe/London run" in subject
    assert f"empty run #{outcome['batchId']}" in subject
    assert "Scheduled slot: 2026-12-01 06:00 Europe/London" in mail.message.get_content()
    [hook] = receiver.requests
    assert webhooks.verify(SECRET, hook.headers[webhooks.SIGNATURE_HEADER], hook.body)
    body = json.loads(hook.body)
    assert (body["type"], body["id"]) == ("empty_run", f"empty_run-{integ.id}-{SLOT}")
    assert (body["integration"]["id"], body["slotKey"], body["slotAt"]) == (integ.id, SLOT, "2026-12-01T06:00:00Z")
    assert (body["file"]["id"], body["file"]["status"], body["file"]["leadCount"]) == (outcome["batchId"], "empty", 0)

    # The same slot again (a job run twice): nothing more goes out. The next slot is a new event.
    send_scheduled(integ.id, SLOT)
    drain()
    assert len(smtp_server.messages) == 1 and len(receiver.requests) == 1
    send_scheduled(integ.id, "202612020600")
    drain()
    assert len(smtp_server.messages) == 2 and len(receiver.requests) == 2
    assert all(a.ok for a in db.session.scalars(select(AlertAttempt)))


def test_no_empty_run_alert_unless_chosen(app, world, smtp_server, receiver):
    integ = factories.integration(world.a.campaign, "Unwatched feed")
    _alerts_to(world, app, smtp_server, receiver, ["file_empty", "stale"])
    send_scheduled(integ.id, SLOT)
    drain()
    assert len(_runs(integ.id)) == 1  # recorded all the same
    assert db.session.scalar(select(func.count()).select_from(AlertEvent)) == 0
    assert smtp_server.messages == [] and receiver.requests == []


def test_the_setting_is_offered_by_the_admin_form_and_the_api(client, world):
    admin = world.a.users["admin"]
    token = world.a.tokens["admin"]
    assert client.get("/api/v4/alert-settings", headers=bearer(token)).json["data"]["optionalEvents"] == []
    saved = client.put("/api/v4/alert-settings", json={"optionalEvents": ["empty_run"]}, headers=bearer(token))
    assert saved.status_code == 200 and saved.json["data"]["optionalEvents"] == ["empty_run"]
    bad = client.put("/api/v4/alert-settings", json={"optionalEvents": ["empty_runs"]}, headers=bearer(token))
    assert bad.status_code == 422

    login(client, admin)
    form = client.get("/admin/alerts/").get_data(as_text=True)
    assert 'value="empty_run"' in form and "A scheduled run had nothing to send" in form
    assert 'id="ev-empty_run" checked' in form
    off = {"emailRecipients": "ops@a.example.com", "staleDays": "3"}
    off["csrf_token"] = csrf_token(client, "/admin/alerts/")
    assert client.post("/admin/alerts/", data=off).status_code == 302
    assert alert_settings.get(world.a.enterprise.id).optional_events == []
    assert client.post("/admin/alerts/", data={**off, "optionalEvents": ["empty_run"]}).status_code == 302
    db.session.expire_all()
    assert alert_settings.get(world.a.enterprise.id).optional_events == ["empty_run"]
    form = client.get("/admin/alerts/").get_data(as_text=True)
    assert 'id="ev-empty_run" checked' in form
