"""The Jobs view: each enterprise's own sends (in flight, retrying, failed, just delivered),
from the database, with Retry and Requeue for managers and admins (POST with CSRF)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from app.models import BatchCsvIntegration, SentBatch
from app.services import credentials, sending
from tests import factories
from tests.admin_support import csrf_token, deliver_all, login, populate
from tests.engine_support import pending_count

JOBS = "/admin/jobs/"


def _to_sftp(integration: BatchCsvIntegration, server) -> None:
    cred = credentials.create_credential(
        integration.enterprise_id, f"sftp {integration.id}", "password", server.password
    )
    integration.delivery_method, integration.delivery, integration.credential_id = "sftp", server.settings(), cred.id
    db.session.commit()


def _send(app, tenant, leads: int, prefix: str, intervals: list[int]) -> int:
    """Batch now with the SFTP server down; the worker runs the job once."""
    app.config["SEND_RETRY_INTERVALS"] = intervals
    factories.leads(tenant.campaign, leads, prefix=prefix)
    (outcome,) = sending.batch_now([tenant.integration.id], tenant.users["manager"])
    deliver_all()
    return outcome.batch_id


@pytest.fixture
def jobs(app, world, sftp_server):
    """A: one delivered, two failed, one retrying (next try in 5 minutes). B: one delivered, one failed."""
    ids = populate(world)  # a delivered file each; 4 more leads wait in each
    _to_sftp(world.a.integration, sftp_server)
    _to_sftp(world.b.integration, sftp_server)
    sftp_server.stop()
    out = {
        "a_delivered": ids["a"].batch,
        "b_delivered": ids["b"].batch,
        "a_failed": _send(app, world.a, 0, "none", []),
        "a_failed_2": _send(app, world.a, 3, "a-third", []),
        "a_retrying": _send(app, world.a, 2, "a-fourth", [300]),
        "b_failed": _send(app, world.b, 0, "none", []),
    }
    db.session.expire_all()
    return out


def _row(page: str, batch_id: int) -> str:
    """The HTML of one row of the Jobs table (found by its file id cell)."""
    for tr in re.findall(r"<tr>.*?</tr>", page, re.S):
        if re.search(rf'<td class="col-id">\s*{batch_id}\s*</td>', tr):
            return tr
    raise AssertionError(f"no row for file {batch_id}")


def test_each_enterprise_sees_only_its_own_jobs(app, client, world, jobs):
    app.config["WTF_CSRF_ENABLED"] = False
    login(client, world.a.users["viewer"])
    page = client.get(JOBS).get_data(as_text=True)
    for key in ("a_delivered", "a_failed", "a_failed_2", "a_retrying"):
        _row(page, jobs[key])
    for key in ("b_delivered", "b_failed"):
        with pytest.raises(AssertionError):
            _row(page, jobs[key])
    for text in (world.b.integration.label, world.b.campaign.name, world.b.users["viewer"].email):
        assert text not in page
    assert "4 rows" in page

    client.post("/logout")
    login(client, world.b.users["admin"])
    page = client.get(JOBS).get_data(as_text=True)
    _row(page, jobs["b_failed"])
    assert world.a.integration.label not in page and "Retrying" not in page
    # Another enterprise's file cannot be retried or requeued from here either.
    assert client.post(f"/admin/jobs/retry/{jobs['a_failed']}").status_code == 404
    assert client.post(f"/admin/jobs/requeue/{jobs['a_failed']}").status_code == 404


def test_rows_show_status_attempts_next_retry_and_the_first_line_of_the_error(app, client, world, jobs):
    login(client, world.a.users["viewer"])
    page = client.get(JOBS).get_data(as_text=True)

    retrying = db.session.get(SentBatch, jobs["a_retrying"])
    assert retrying.status == "stored" and retrying.attempts == 1
    now = datetime.now(UTC)
    assert now + timedelta(seconds=280) < retrying.next_attempt_at <= now + timedelta(seconds=300)
    row = _row(page, jobs["a_retrying"])
    assert "Retrying" in row and "refused" in row
    assert f'datetime="{retrying.next_attempt_at.isoformat()}"' in row  # next retry, exact time on hover
    assert re.search(r">in [45] minutes<", row)
    assert re.search(r'<td class="col-attempts">\s*1\s*</td>', row)

    failed = db.session.get(SentBatch, jobs["a_failed"])
    row = _row(page, jobs["a_failed"])
    assert "Failed" in row and "manual" in row and failed.next_attempt_at is None
    first_line = failed.last_error.splitlines()[0]
    assert "refused" in first_line and first_line[:60] in row

    row = _row(page, jobs["a_delivered"])
    assert "Delivered" in row and "Retry" not in row


def test_delivered_files_leave_the_page_after_a_day(app, client, world, jobs):
    old = datetime.now(UTC) - timedelta(hours=25)
    db.session.execute(SentBatch.__table__.update().where(SentBatch.id == jobs["a_delivered"]).values(updated_at=old))
    db.session.commit()
    login(client, world.a.users["viewer"])
    page = client.get(JOBS).get_data(as_text=True)
    with pytest.raises(AssertionError):
        _row(page, jobs["a_delivered"])
    _row(page, jobs["a_failed"])


def test_viewers_see_no_actions_and_are_refused(app, client, world, jobs):
    login(client, world.a.users["viewer"])
    page = client.get(JOBS).get_data(as_text=True)
    assert "/admin/jobs/retry/" not in page and "/admin/jobs/requeue/" not in page
    token = csrf_token(client, JOBS)
    for action in ("retry", "requeue"):
        response = client.post(f"/admin/jobs/{action}/{jobs['a_failed']}", data={"csrf_token": token})
        assert response.status_code == 403
    db.session.expire_all()
    assert db.session.get(SentBatch, jobs["a_failed"]).status == "failed"


def test_a_manager_retries_and_requeues_from_the_jobs_view(app, client, world, jobs, sftp_server):
    login(client, world.a.users["manager"])
    page = client.get(JOBS).get_data(as_text=True)
    # Actions only on failed files, as CSRF-protected POST forms.
    assert f'action="/admin/jobs/retry/{jobs["a_failed"]}"' in _row(page, jobs["a_failed"])
    assert "/admin/jobs/retry/" not in _row(page, jobs["a_retrying"])
    token = csrf_token(client, JOBS)

    assert client.post(f"/admin/jobs/requeue/{jobs['a_failed_2']}").status_code == 400  # no token
    response = client.post(f"/admin/jobs/requeue/{jobs['a_failed_2']}", data={"csrf_token": token, "url": JOBS})
    assert response.status_code == 302 and response.location.endswith(JOBS)
    assert pending_count(world.a.integration.id) == 3
    assert "3 leads of file #" in client.get(JOBS).get_data(as_text=True)

    sftp_server.start()
    app.config["SEND_RETRY_INTERVALS"] = []
    response = client.post(f"/admin/jobs/retry/{jobs['a_failed']}", data={"csrf_token": token})
    assert response.status_code == 302
    deliver_all()
    retried = db.session.get(SentBatch, jobs["a_failed"])
    assert retried.status == "delivered" and retried.attempts == 2
    assert sftp_server.files().keys() == {retried.file_name}
    row = _row(client.get(JOBS).get_data(as_text=True), jobs["a_failed"])
    assert "Delivered" in row

    # A file that is not failed: refused with the service's message, nothing changes.
    client.post(f"/admin/jobs/retry/{jobs['a_failed']}", data={"csrf_token": token})
    assert "only a failed file can be retried" in client.get(JOBS).get_data(as_text=True)


def test_files_delivered_in_the_same_instant_list_newest_file_first_and_once_across_pages(app, client, world):
    """A group of scheduled files is marked delivered by one statement, so they share updated_at:
    the id breaks the tie, so the order is stable and paging shows each file exactly once."""
    app.config["WTF_CSRF_ENABLED"] = False
    ids = []
    for n in range(22):  # more than a page (20)
        factories.leads(world.a.campaign, 1, prefix=f"tie-{n}")
        (outcome,) = sending.batch_now([world.a.integration.id], world.a.users["manager"])
        deliver_all()
        ids.append(outcome.batch_id)
    same = datetime.now(UTC)
    db.session.execute(SentBatch.__table__.update().where(SentBatch.id.in_(ids)).values(updated_at=same))
    db.session.commit()
    login(client, world.a.users["viewer"])
    shown = []
    for page in range(2):
        html = client.get(f"{JOBS}?page={page}").get_data(as_text=True)
        shown += [int(i) for i in re.findall(r'<td class="col-id">\s*(\d+)\s*</td>', html)]
    assert shown == sorted(ids, reverse=True)
