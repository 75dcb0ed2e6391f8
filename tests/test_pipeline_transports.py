"""End to end through every transport: the delivered bytes are the stored bytes, rows == leads."""

from __future__ import annotations

import pytest

from app.extensions import db
from app.models import SentBatch
from app.services import credentials, sending
from tests import factories
from tests.engine_support import attached_lead_ids, batches, csv_rows, delivered_files, drain, local_dir, stored_bytes

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
    (delivered,) = delivered_files(
        local_dir(world.a.integration.enterprise_id, world.a.integration.delivery["directory"])
    )
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


@pytest.mark.parametrize("method", ["local", "sftp", "ftp"])
def test_a_killed_upload_leaves_no_partial_file_after_the_next_attempt(world, request, method):
    """A work horse killed mid-upload leaves its hidden partial file at the destination; the
    batch's next attempt (which holds the batch's lease, so nobody else is writing one) removes
    or replaces it, and only the delivered file remains."""
    integ = world.a.integration
    local = dict(integ.delivery)
    integ.delivery = {"directory": "/etc/not-allowed"}  # the first attempt fails once stored
    db.session.commit()
    factories.leads(world.a.campaign, LEADS)
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    (batch,) = batches()
    assert batch.status == "failed" and batch.file_name

    if method == "local":
        _configure(world, "local", local)
        folder = local_dir(integ.enterprise_id, local["directory"])
        folder.mkdir(parents=True, exist_ok=True)
        stale = folder / f".{batch.file_name}.{batch.id}.part3f9a1c"  # the local transport adds 6 hex
    else:
        server = request.getfixturevalue(f"{method}_server")
        _configure(world, method, server.settings(), "password", server.password)
        folder = server.root / "upload"
        stale = folder / f".{batch.file_name}.{batch.id}.part"
    stale.write_bytes(b"the first half of a file")

    sending.retry_batch(batch.id, world.a.users["manager"])
    drain()
    (batch,) = batches()
    assert batch.status == "delivered", batch.last_error
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == {batch.file_name: stored_bytes(batch)}
