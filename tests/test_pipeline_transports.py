"""End to end through every transport: the delivered bytes are the stored bytes, rows == leads."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import SentBatch
from app.services import credentials, sending
from tests import factories
from tests.engine_support import attached_lead_ids, csv_rows, delivered_files, drain, stored_bytes

LEADS = 40


def _configure(world, method: str, settings: dict, kind: str | None = None, secret=None) -> None:
    integ = world.a.integration
    if kind:
        cred = credentials.create_credential(integ.enterprise_id, f"{method} login", kind, secret)
        integ.credential_id = cred.id
    integ.delivery_method, integ.delivery = method, settings
    db.session.commit()


def _send_and_check(world) -> SentBatch:
    factories.leads(world.a.campaign, LEADS)
    (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    drain()
    batch = db.session.get(SentBatch, outcome.batch_id)
    assert batch.status == "delivered", batch.last_error
    assert batch.row_count == batch.lead_count == LEADS
    rows = csv_rows(stored_bytes(batch))
    assert [int(r[0]) for r in rows[1:]] == attached_lead_ids(batch.id)
    return batch


def _resend(world, batch: SentBatch) -> None:
    resend = sending.resend_batch(batch.id, world.a.users["manager"])
    drain()
    assert db.session.get(SentBatch, resend.id).status == "delivered"


def test_local(world):
    batch = _send_and_check(world)
    _resend(world, batch)
    (delivered,) = delivered_files(world.a.integration.delivery["directory"])
    assert delivered.name == batch.file_name and delivered.read_bytes() == stored_bytes(batch)


def test_sftp(world, sftp_server):
    _configure(world, "sftp", sftp_server.settings(), "password", sftp_server.password)
    batch = _send_and_check(world)
    _resend(world, batch)
    assert sftp_server.files() == {batch.file_name: stored_bytes(batch)}  # no duplicate, no temp file


def test_sftp_with_a_private_key(world, sftp_server, client_keypair):
    _configure(world, "sftp", sftp_server.settings(), "ssh_private_key", client_keypair[0])
    batch = _send_and_check(world)
    assert sftp_server.files() == {batch.file_name: stored_bytes(batch)}


@pytest.mark.parametrize("tls", [False, True], ids=["ftp", "ftps"])
def test_ftp(world, request, tls):
    server = request.getfixturevalue("ftps_server" if tls else "ftp_server")
    if tls:
        request.getfixturevalue("trust_test_ca")
    _configure(world, "ftp", server.settings(), "password", server.password)
    batch = _send_and_check(world)
    _resend(world, batch)
    assert server.files() == {batch.file_name: stored_bytes(batch)}


def test_email(world, app, smtp_server):
    app.config["SMTP_URL"] = smtp_server.url()
    _configure(world, "email", {"recipients": ["leads@advertiser.example"], "subject": "Leads {label}"})
    batch = _send_and_check(world)
    (message,) = smtp_server.messages
    # The raw attachment bytes (get_content() would decode text/csv to str).
    attached = {part.get_filename(): part.get_payload(decode=True) for part in message.message.iter_attachments()}
    assert attached == {batch.file_name: stored_bytes(batch)}


def test_s3(world, s3_server):
    _configure(world, "s3", s3_server.settings(), "s3_keys", s3_server.secret_value)
    batch = _send_and_check(world)
    _resend(world, batch)
    assert s3_server.objects() == {f"incoming/{batch.file_name}": stored_bytes(batch)}
