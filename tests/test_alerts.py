"""Alerts and auto-pause against real servers: a failing SFTP destination, aiosmtpd for
e-mail, a loopback HTTPS receiver whose certificate a test CA signed (trusted through
WEBHOOK_CA_FILE, verification on), RQ jobs run by a real worker with retries."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import select

from app.errors import Conflict, ValidationError
from app.extensions import db
from app.models import AlertAttempt, AlertEvent, AuditEvent, BatchCsvIntegration, SentBatch
from app.models.types import utcnow
from app.services import alert_settings, alerts, integration_health, sending, ticks, webhooks
from tests import factories
from tests.engine_support import drain
from tests.servers.webhook import WebhookReceiver, make_ca_and_cert

SECRET = "whsec-test-0123456789abcdef"


@pytest.fixture(scope="session")
def test_ca(tmp_path_factory):
    return make_ca_and_cert(tmp_path_factory.mktemp("webhook-ca"))


@pytest.fixture
def receiver(app, test_ca):
    app.config["WEBHOOK_CA_FILE"] = str(test_ca.ca_path)
    server = WebhookReceiver(test_ca).start()
    yield server
    server.shutdown()


@pytest.fixture
def alerting(app, world, receiver, smtp_server):
    """Enterprise A alerts ops@ by e-mail and the receiver by webhook; retries run at once."""
    app.config.update(
        DELIVERY_ALLOWED_NETWORKS="127.0.0.0/8",
        SMTP_URL=smtp_server.url(),
        SEND_RETRY_INTERVALS=[0, 0],
        ALERT_RETRY_INTERVALS=[0, 0],
    )
    alert_settings.save(
        world.a.users["admin"],
        {"emailRecipients": ["ops@a.example.com"], "webhookUrls": [receiver.url()], "webhookSecret": SECRET},
    )
    return world


def _sftp_integration(world, sftp_server, pause_after: int) -> BatchCsvIntegration:
    from app.services import credentials

    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, "sftp login", "password", sftp_server.password)
    integ.delivery_method, integ.delivery, integ.credential_id = "sftp", sftp_server.settings(), cred.id
    integ.pause_after_failures = pause_after
    db.session.commit()
    return integ


def _send(world, integ, leads: int, prefix: str) -> SentBatch:
    factories.leads(world.a.campaign, leads, prefix=prefix)
    (outcome,) = sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    return db.session.get(SentBatch, outcome.batch_id)


def _hooks(receiver) -> list[dict]:
    """The webhook bodies received, each checked against its signature first."""
    bodies = []
    for hook in receiver.requests:
        assert webhooks.verify(SECRET, hook.headers[webhooks.SIGNATURE_HEADER], hook.body)
        assert not webhooks.verify("another-secret-0000000", hook.headers[webhooks.SIGNATURE_HEADER], hook.body)
        bodies.append(json.loads(hook.body))
    return bodies


def _integration(integ_id: int) -> BatchCsvIntegration:
    db.session.expire_all()
    return db.session.get(BatchCsvIntegration, integ_id)


def test_failing_sftp_alerts_once_pauses_after_n_failures_and_resume_sends_and_recovers_once(
    alerting, app, sftp_server, smtp_server, receiver
):
    world = alerting
    integ = _sftp_integration(world, sftp_server, pause_after=2)
    sftp_server.stop()

    # First failed file: after its last retry, exactly one e-mail and one signed webhook.
    first = _send(world, integ, 3, "one")
    assert first.status == "failed" and first.attempts == 3
    assert len(smtp_server.messages) == 1 and len(receiver.requests) == 1
    mail = smtp_server.messages[0]
    assert mail.rcpt_tos == ["ops@a.example.com"]
    assert f"File #{first.id} of {integ.label} failed" in mail.message["Subject"]
    assert "connection refused" in mail.message.get_content()
    [hook] = _hooks(receiver)
    assert (hook["type"], hook["id"], hook["file"]["id"]) == ("file_failed", f"file_failed-{first.id}-3", first.id)
    assert receiver.requests[0].headers["X-BatchManager-Event-Id"] == hook["id"]
    assert _integration(integ.id).consecutive_failures == 1 and _integration(integ.id).paused_at is None

    # The same event again (a job run twice) sends nothing more.
    integration = _integration(integ.id)
    assert alerts.raise_event("file_failed", hook["id"], integration, db.session.get(SentBatch, first.id)) is None
    event = db.session.scalar(select(AlertEvent).where(AlertEvent.key == hook["id"]))
    assert alerts.deliver(event.id) == {"ops@a.example.com": "already sent", receiver.url(): "already sent"}
    assert len(smtp_server.messages) == 1 and len(receiver.requests) == 1

    # Second failed file: N=2 reached, the integration pauses: audited, alerted.
    second = _send(world, integ, 2, "two")
    assert second.status == "failed"
    paused = _integration(integ.id)
    assert paused.paused_at is not None and paused.consecutive_failures == 2
    kinds = [h["type"] for h in _hooks(receiver)]
    assert kinds == ["file_failed", "file_failed", "integration_paused"]
    assert len(smtp_server.messages) == 3
    assert "paused after 2 failed files" in smtp_server.messages[2].message["Subject"]
    audit = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "integration.pause"))
    assert audit.target_id == str(integ.id) and audit.details["consecutiveFailures"] == 2

    # Paused: the tick skips it even when due, and leads keep queueing.
    db.session.execute(
        BatchCsvIntegration.__table__.update()
        .where(BatchCsvIntegration.id == integ.id)
        .values(next_run_at=utcnow() - timedelta(minutes=1))
    )
    db.session.commit()
    assert not [key for key in ticks.run_tick()["scheduled"] if key.startswith(f"{integ.id}:")]
    factories.leads(world.a.campaign, 4, prefix="queued")
    assert _integration(integ.id).pending_count == 4

    # Resume (a manager): the pending leads go out at once; one recovery alert.
    sftp_server.start()
    [outcome] = integration_health.resume(integ.id, world.a.users["manager"])
    assert (outcome.status, outcome.lead_count) == ("queued", 4)
    drain()
    delivered = db.session.get(SentBatch, outcome.batch_id)
    assert delivered.status == "delivered" and delivered.file_name in sftp_server.files()
    healthy = _integration(integ.id)
    assert (healthy.paused_at, healthy.consecutive_failures, healthy.last_file_status) == (None, 0, "delivered")
    assert healthy.next_run_at > utcnow()  # missed slots are not replayed
    assert [h["type"] for h in _hooks(receiver)][-1] == "integration_recovered"
    assert "delivers again" in smtp_server.messages[-1].message["Subject"]

    # A second success is not a recovery: nothing more goes out.
    assert _send(world, integ, 1, "three").status == "delivered"
    assert len(receiver.requests) == 4 and len(smtp_server.messages) == 4
    attempts = db.session.scalars(select(AlertAttempt)).all()
    assert len(attempts) == 8 and all(a.ok for a in attempts)
    with pytest.raises(Conflict):
        integration_health.resume(integ.id, world.a.users["manager"])


def test_a_webhook_that_fails_is_retried_with_every_attempt_recorded_and_delivered_once(
    alerting, app, sftp_server, smtp_server, receiver
):
    world = alerting
    receiver.answers = [503, 500, 204]
    integ = _sftp_integration(world, sftp_server, pause_after=5)
    sftp_server.stop()
    failed = _send(world, integ, 2, "x")
    assert failed.status == "failed"
    rows = db.session.scalars(select(AlertAttempt).order_by(AlertAttempt.id)).all()
    webhook_rows = [(a.ok, a.status_code, a.error) for a in rows if a.channel == "webhook"]
    assert webhook_rows == [
        (False, None, "webhook answered HTTP 503"),
        (False, None, "webhook answered HTTP 500"),
        (True, 204, None),
    ]
    # The e-mail went out on the first try and was not sent again by the retries.
    assert [a.ok for a in rows if a.channel == "email"] == [True]
    assert len(smtp_server.messages) == 1 and len(receiver.requests) == 3


def test_an_untrusted_certificate_is_refused_not_ignored(alerting, app, sftp_server, smtp_server, receiver):
    world = alerting
    app.config["WEBHOOK_CA_FILE"] = None  # the test CA is not trusted any more
    app.config["ALERT_RETRY_INTERVALS"] = []
    integ = _sftp_integration(world, sftp_server, pause_after=5)
    sftp_server.stop()
    _send(world, integ, 1, "y")
    [attempt] = db.session.scalars(select(AlertAttempt).where(AlertAttempt.channel == "webhook")).all()
    assert not attempt.ok and "could not be verified" in attempt.error
    assert receiver.requests == []


def test_settings_are_checked_and_the_secret_is_write_only(app, world, receiver):
    admin = world.a.users["admin"]
    app.config["DELIVERY_ALLOWED_NETWORKS"] = "127.0.0.0/8"
    with pytest.raises(ValidationError) as bad:
        alert_settings.save(
            admin,
            {
                "emailRecipients": ["not-an-address"],
                "webhookUrls": ["http://127.0.0.1/hook", "https://10.1.2.3/hook"],
                "optionalEvents": ["sometimes"],
            },
        )
    details = bad.value.details
    assert set(details) == {"emailRecipients", "webhookUrls", "optionalEvents", "webhookSecret"}
    assert "https://" in details["webhookUrls"][0] and "not a public address" in details["webhookUrls"][1]
    assert alert_settings.get(admin.enterprise_id) is None  # nothing half-written

    saved = alert_settings.save(admin, {"webhookUrls": [receiver.url()], "webhookSecret": SECRET})
    assert SECRET.encode() not in saved.webhook_secret
    # Saved again without a secret: the stored one is kept; the public view never shows it.
    alert_settings.save(admin, {"webhookUrls": [receiver.url()], "emailRecipients": "a@x.example, b@x.example"})
    view = alert_settings.to_dict(alert_settings.get(admin.enterprise_id))
    assert view["webhookSecretSet"] is True and SECRET not in json.dumps(view)
    assert view["emailRecipients"] == ["a@x.example", "b@x.example"]
    assert alert_settings.webhook_secret(alert_settings.get(admin.enterprise_id)) == SECRET
