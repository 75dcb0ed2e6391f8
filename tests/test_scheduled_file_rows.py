"""A scheduled file goes on with the rows its claim holds: the same file and row as reading them again."""

from __future__ import annotations

import pytest
from sqlalchemy import event

from app.extensions import db
from app.services import scheduled_send, sending
from app.services.storage import get_store
from tests import factories
from tests.engine_support import batches

SLOT = "202606010600"
# What a delivered scheduled file's row records; ids and times aside.
RECORDED = ("status", "lead_count", "row_count", "attempts", "delivery_method", "last_error", "lease_owner")


def _send_recording_selects(integration_id: int) -> list[str]:
    """Send the integration's slot; the SELECTs it ran."""
    seen: list[str] = []

    def statement(conn, cursor, sql, params, context, executemany):
        seen.append(" ".join(sql.split()))

    event.listen(db.engine, "before_cursor_execute", statement)
    try:
        outcomes = scheduled_send.send_slot(integration_id, SLOT)
    finally:
        event.remove(db.engine, "before_cursor_execute", statement)
    assert [o["status"] for o in outcomes] == ["queued"]
    return [s for s in seen if s.upper().startswith("SELECT")]


def _row(batch) -> tuple:
    return tuple(getattr(batch, key) for key in RECORDED)


@pytest.mark.parametrize("claim_commit", ["keeps its rows", "expires its rows"])
def test_a_scheduled_file_is_the_same_whether_its_job_reuses_the_claims_rows_or_reads_them_again(
    world, app, monkeypatch, claim_commit
):
    integ = world.a.integration
    factories.leads(world.a.campaign, 4)
    if claim_commit == "expires its rows":  # what any commit in between would do: the job reads both again
        monkeypatch.setattr(sending, "commit_keeping_rows", lambda: db.session.commit())
    db.session.commit()
    selects = _send_recording_selects(integ.id)
    (batch,) = batches(integ.id)
    assert _row(batch) == ("delivered", 4, 4, 1, integ.delivery_method, None, None)
    assert batch.file_name and batch.sha256 and batch.size_bytes and batch.stored_at and batch.sent_at
    with get_store().open(batch.storage_key) as stored:
        assert stored.read().count(b"\n") == 5  # header + 4 leads
    reads_batch = [s for s in selects if "FROM sent_batches" in s]
    if claim_commit == "keeps its rows":
        assert reads_batch == []  # neither the batch nor its integration read back after the claim
    else:
        assert reads_batch  # _load: the batch with its integration
