"""The size check is real: transports report what the destination holds after the rename,
and a batch whose destination reports another size than the stored file is not delivered."""

from __future__ import annotations

from pathlib import Path

import pytest

from app.extensions import db
from app.models import SentBatch
from app.services import credentials, pipeline, sending
from tests import factories
from tests.engine_support import stored_bytes


def _truncate_to_half(path: Path) -> None:
    """The destination loses the second half of the file just after it is renamed into place."""
    with open(path, "r+b") as fh:
        fh.truncate(path.stat().st_size // 2)


def _claim(world, method: str, settings: dict, secret: str) -> int:
    integ = world.a.integration
    cred = credentials.create_credential(integ.enterprise_id, f"{method} login", "password", secret)
    integ.credential_id, integ.delivery_method, integ.delivery = cred.id, method, settings
    db.session.commit()
    factories.leads(world.a.campaign, 40)
    [outcome] = sending.batch_now([integ.id], world.a.users["manager"])
    return outcome.batch_id


@pytest.fixture(params=["sftp", "ftp"])
def destination(request, world):
    """(the loopback server, the id of a batch claimed for delivery to it)."""
    server = request.getfixturevalue(f"{request.param}_server")
    return server, _claim(world, request.param, server.settings(), server.password)


def test_a_destination_reporting_fewer_bytes_keeps_the_batch_undelivered_until_a_good_delivery(destination):
    server, batch_id = destination
    server.after_rename = _truncate_to_half

    # Not the last attempt: the job retries later, and the batch stays stored, not delivered.
    with pytest.raises(pipeline.RetryLater, match="the destination reports"):
        pipeline.process_batch(batch_id, final_attempt=False)
    batch = db.session.get(SentBatch, batch_id)
    db.session.refresh(batch)
    assert batch.status == "stored" and batch.sent_at is None
    assert f"the destination reports {batch.size_bytes // 2} bytes" in batch.last_error
    assert f"but the file has {batch.size_bytes}" in batch.last_error

    # The destination is healthy again: the retry replaces the short file and is delivered.
    server.after_rename = None
    assert pipeline.process_batch(batch_id, final_attempt=False) == "delivered"
    assert server.files() == {batch.file_name: stored_bytes(batch)}


def test_on_the_last_attempt_a_short_destination_file_fails_the_batch(destination):
    server, batch_id = destination
    server.after_rename = _truncate_to_half
    assert pipeline.process_batch(batch_id) == "failed"
    batch = db.session.get(SentBatch, batch_id)
    assert batch.sent_at is None and "the destination reports" in batch.last_error
