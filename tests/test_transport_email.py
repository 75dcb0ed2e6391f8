"""E-mail delivery against a real aiosmtpd server on loopback, and the signed download links."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from app.errors import DeliveryError, ValidationError
from app.extensions import db
from app.models import AuditEvent, SentBatch
from app.services.storage import get_store
from app.services.transports import DeliverySource, get_transport
from tests.servers.common import make_source, sample_bytes

email = get_transport("email")
RECIPIENTS = {"recipients": ["ops@advertiser.example", "Data@Advertiser.example"]}


@pytest.fixture
def mail(app, smtp_server):
    app.config.update(SMTP_URL=smtp_server.url(), SMTP_FROM="leads@batch.example")
    return smtp_server


def stored_batch(world, data: bytes, file_name: str = "big_file.csv") -> DeliverySource:
    """A sent batch whose file is in the real file store, as the engine hands it to a transport."""
    tenant = world.a
    batch = SentBatch(
        enterprise_id=tenant.enterprise.id,
        integration_id=tenant.integration.id,
        advertiser_id=tenant.advertiser.id,
        advertiser_name=tenant.advertiser.name,
        campaign_id=tenant.campaign.id,
        campaign_name=tenant.campaign.name,
        label=tenant.integration.label,
        delivery_method="email",
        trigger="batch_now",
        status="stored",
        lead_count=3,
        file_name=file_name,
    )
    db.session.add(batch)
    db.session.flush()
    store = get_store()
    key = store.key_for(batch.enterprise_id, batch.id, file_name)
    with store.write(key) as out:
        out.write(data)
    batch.storage_key, batch.size_bytes, batch.sha256 = key, out.stored.size, out.stored.sha256
    db.session.commit()
    return DeliverySource(
        file_name=file_name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        opener=lambda: store.open(key),
        batch_id=batch.id,
        enterprise_id=batch.enterprise_id,
        lead_count=3,
    )


def test_small_file_is_attached_byte_identical_with_the_rendered_subject(app, mail):
    data = sample_bytes()
    source = make_source(
        data,
        "acme_42.csv",
        batch_id=42,
        lead_count=200,
        label="Acme Daily",
        sent_at=datetime(2026, 7, 1, 23, 30, tzinfo=UTC),
        timezone="Europe/London",
    )
    settings = {**RECIPIENTS, "subject": "{label}: {lead_count} leads on {sent_at:%Y-%m-%d %H:%M} (file {batch_id})"}

    receipt = email.deliver(source, settings, None)

    [received] = mail.messages
    assert received.rcpt_tos == ["ops@advertiser.example", "Data@Advertiser.example"]
    assert received.mail_from == "leads@batch.example"
    message = received.message
    assert message["Subject"] == "Acme Daily: 200 leads on 2026-07-02 00:30 (file 42)"  # London summer time
    assert received.attachments() == {"acme_42.csv": data}
    assert message["Message-ID"] == receipt.remote
    assert receipt.remote_size is None  # an SMTP server reports no size


def test_a_retried_send_carries_the_same_message_id(app, mail):
    source = make_source(b"a,b\r\n", batch_id=7)
    first = email.deliver(source, RECIPIENTS, None)
    second = email.deliver(source, RECIPIENTS, None)
    assert first.remote == second.remote
    assert [m.message["Message-ID"] for m in mail.messages] == [first.remote, first.remote]


def test_large_file_is_sent_as_a_signed_link_that_downloads_the_same_bytes(app, client, world, mail):
    app.config.update(EMAIL_ATTACHMENT_LIMIT=1000, PUBLIC_BASE_URL="https://bm.example.com/")
    data = sample_bytes(400)
    source = stored_batch(world, data)

    email.deliver(source, RECIPIENTS, None)

    [received] = mail.messages
    assert received.attachments() == {}
    body = received.message.get_body().get_content()
    [link] = re.findall(r"https://bm\.example\.com/files/\S+", body)
    response = client.get(link.removeprefix("https://bm.example.com"))
    assert response.status_code == 200
    assert response.get_data() == data
    assert response.headers["Content-Disposition"].startswith('attachment; filename="big_file.csv"')
    assert response.headers["ETag"] == f'"{source.sha256}"'
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "download"))
    assert (event.target_id, event.enterprise_id, event.details["via"]) == (
        str(source.batch_id),
        world.a.enterprise.id,
        "email_link",
    )


def test_tampered_and_expired_links_are_refused(app, client, world, mail):
    from app.services import download_links

    source = stored_batch(world, b"x,y\r\n")
    token = download_links.make_token(source.batch_id)
    tampered = client.get(f"/files/{token[:-2]}xx")
    assert tampered.status_code == 404
    assert tampered.get_json()["error"]["code"] == "not_found"

    app.config["DOWNLOAD_LINK_MAX_AGE"] = -1
    expired = client.get(f"/files/{token}")
    assert expired.status_code == 410
    assert "expired" in expired.get_json()["error"]["message"]


@pytest.mark.parametrize("server_fixture", ["smtp_auth_server", "smtps_server"], ids=["starttls", "smtps"])
def test_tls_and_login_deliver_and_a_wrong_password_is_permanent(app, request, trust_test_ca, server_fixture):
    server = request.getfixturevalue(server_fixture)
    app.config["SMTP_URL"] = server.url()
    email.deliver(make_source(b"ok\r\n"), RECIPIENTS, None)
    assert [m.attachments() for m in server.messages] == [{"leads.csv": b"ok\r\n"}]

    app.config["SMTP_URL"] = server.url(password="Wr0ng-pass")
    with pytest.raises(DeliveryError) as caught:
        email.deliver(make_source(b"x"), RECIPIENTS, None)
    assert caught.value.transient is False
    assert caught.value.message == f"SMTP authentication failed for user 'mailer' on 127.0.0.1:{server.port}"
    assert "Wr0ng-pass" not in str(caught.value)


def test_untrusted_certificate_is_refused(app, smtps_server):
    app.config["SMTP_URL"] = smtps_server.url()
    with pytest.raises(DeliveryError) as caught:
        email.deliver(make_source(b"x"), RECIPIENTS, None)
    assert caught.value.transient is False
    assert "TLS certificate of 127.0.0.1" in caught.value.message


def test_mail_server_down_is_transient_and_sending_works_once_it_is_back(app, mail):
    mail.stop()
    with pytest.raises(DeliveryError) as caught:
        email.deliver(make_source(b"x"), RECIPIENTS, None)
    assert caught.value.transient is True
    assert caught.value.message == f"SMTP: connection refused by 127.0.0.1:{mail.port}"

    mail.start()
    email.deliver(make_source(b"back\r\n"), RECIPIENTS, None)
    assert [m.attachments() for m in mail.messages] == [{"leads.csv": b"back\r\n"}]


def test_test_connection_ok_and_not_ok(app, mail):
    ok = email.test_connection(RECIPIENTS, None)
    assert (ok.ok, ok.message) == (
        True,
        f"Connected to mail server 127.0.0.1:{mail.port}; files will go to 2 recipient(s).",
    )
    assert mail.messages == []

    mail.stop()
    down = email.test_connection(RECIPIENTS, None)
    assert (down.ok, down.message) == (False, f"SMTP: connection refused by 127.0.0.1:{mail.port}")

    invalid = email.test_connection({"recipients": []}, None)
    assert invalid.ok is False and "delivery.recipients" in invalid.message


def test_settings_are_validated_and_normalised(app):
    clean = email.validate_settings({"method": "email", "recipients": "a@x.example, b@y.example;A@X.example"})
    assert clean == {
        "recipients": ["a@x.example", "b@y.example"],
        "subject": "Lead file {file_name} ({lead_count} leads)",
    }

    with pytest.raises(ValidationError) as caught:
        email.validate_settings(
            {"recipients": ["ok@x.example", "not-an-address", 5], "subject": "{password} {sent_at:%Q"}
        )
    details = caught.value.details
    assert details["delivery.recipients.1"] == ["not an e-mail address"]
    assert details["delivery.recipients.2"] == ["not an e-mail address"]
    assert details["delivery.subject"]

    with pytest.raises(ValidationError) as caught:
        email.validate_settings({"recipients": ["ok@x.example"], "subject": "Leads {password}"})
    assert caught.value.details["delivery.subject"][0].startswith("unknown token {password}")


def test_bad_smtp_url_is_a_clear_permanent_error(app):
    app.config["SMTP_URL"] = "http://mail.example.com"
    with pytest.raises(DeliveryError, match="SMTP_URL must look like") as caught:
        email.deliver(make_source(b"x"), RECIPIENTS, None)
    assert caught.value.transient is False
