"""Dry run ("Download preview"): the bytes a send would deliver, with nothing claimed or sent."""

from __future__ import annotations

import re
import zipfile
from io import BytesIO

from sqlalchemy import func, select

from app.extensions import db
from app.models import AuditEvent, QueueEntry, SentBatch
from app.services import sending
from tests import factories
from tests.admin_support import login
from tests.engine_support import batches, csv_rows, delivered_files, drain, files_holding, local_dir, stored_bytes


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _queue(integration_id: int) -> list[tuple[int, list[int]]]:
    """Each entry of the integration and the files that hold it, in queue order."""
    return sorted(files_holding(integration_id).items())


def _configure(integ, **settings) -> None:
    for key, value in settings.items():
        setattr(integ, key, value)
    db.session.commit()


def _file_name(response) -> str:
    return re.search(r"filename\*=UTF-8''(.+)$", response.headers["Content-Disposition"]).group(1)


def test_the_preview_is_the_file_the_real_send_then_delivers_and_claims_nothing(client, world):
    integ = world.a.integration
    # Zip: the member inside is named after the file, so name and bytes must both agree.
    _configure(integ, compression="zip", delimiter=";", quoting="all", name_template="{label}_{batch_id}")
    factories.leads(world.a.campaign, 7)
    # A Batch now with nothing pending in another integration uses up a file id and gives it
    # back (the row is deleted): on PostgreSQL the sequence has moved on, on SQLite the id is reused.
    other = factories.integration(world.a.campaign, "Other feed")
    db.session.execute(QueueEntry.__table__.delete().where(QueueEntry.integration_id == other.id))
    db.session.commit()
    sending.batch_now([other.id], world.a.users["manager"])
    db.session.commit()
    queue_before = _queue(integ.id)
    assert len(queue_before) == 7 and all(not files for _id, files in queue_before)

    preview = client.get(f"/api/v4/batch-manager/{integ.id}/preview-file", headers=bearer(world.a.tokens["manager"]))
    assert preview.status_code == 200, preview.json
    assert preview.headers["X-Lead-Count"] == "7" and preview.mimetype == "application/zip"
    # Nothing was claimed: the same queue entries, all still pending, and no file row.
    assert _queue(integ.id) == queue_before
    assert db.session.scalar(select(func.count()).select_from(SentBatch)) == 0
    assert delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"])) == []
    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "preview_file")).one()
    assert event.user_id == world.a.users["manager"].id and event.severity == "high"
    assert event.details["leadCount"] == 7 and event.details["fileName"] == _file_name(preview)

    # The real send of the same leads with the same settings.
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    (batch,) = batches(integ.id)
    assert batch.status == "delivered" and batch.lead_count == 7
    assert _file_name(preview) == batch.file_name == f"enterprise-a-feed_{batch.id}.csv.zip"
    assert preview.data == stored_bytes(batch)
    (delivered,) = delivered_files(local_dir(integ.enterprise_id, integ.delivery["directory"]))
    assert delivered.name == batch.file_name and delivered.read_bytes() == preview.data
    with zipfile.ZipFile(BytesIO(preview.data)) as archive:
        assert archive.namelist() == [f"enterprise-a-feed_{batch.id}.csv"]


def test_the_cap_is_the_first_leads_and_matches_a_send_split_at_that_size(client, world):
    integ = world.a.integration
    _configure(integ, name_template="{label}", max_leads_per_file=3)
    factories.leads(world.a.campaign, 8)
    auth = bearer(world.a.tokens["manager"])
    # The integration splits at 3, so even without a limit the preview is its first file.
    whole = client.get(f"/api/v4/batch-manager/{integ.id}/preview-file", headers=auth)
    two = client.get(f"/api/v4/batch-manager/{integ.id}/preview-file?limit=2", headers=auth)
    assert whole.headers["X-Lead-Count"] == "3" and whole.headers["X-Pending-Count"] == "8"
    assert len(csv_rows(two.data)) == 3  # header + 2
    sending.batch_now([integ.id], world.a.users["manager"])
    drain()
    first, *rest = batches(integ.id)
    assert [b.lead_count for b in (first, *rest)] == [3, 3, 2]
    assert whole.data == stored_bytes(first)
    assert csv_rows(two.data) == csv_rows(stored_bytes(first))[:3]


def test_bad_limits_roles_tenants_and_nothing_to_send(client, app, world):
    integ = world.a.integration
    url = f"/api/v4/batch-manager/{integ.id}/preview-file"
    factories.leads(world.a.campaign, 2)
    app.config["PREVIEW_MAX_LEADS"] = 5
    for bad in ("0", "6", "x"):
        response = client.get(f"{url}?limit={bad}", headers=bearer(world.a.tokens["admin"]))
        assert response.status_code == 422, bad
        assert "limit" in str(response.json["error"]["details"])
    assert client.get(url, headers=bearer(world.a.tokens["viewer"])).status_code == 403
    assert client.get(url, headers=bearer(world.b.tokens["admin"])).status_code == 404
    assert db.session.scalar(select(func.count()).where(AuditEvent.action == "preview_file")) == 0
    # Nothing pending and no empty files: no file would be sent, so there is no preview.
    empty = factories.integration(world.a.campaign, "Empty feed", send_empty=False)
    db.session.execute(QueueEntry.__table__.delete().where(QueueEntry.integration_id == empty.id))
    empty.pending_count = 0
    db.session.commit()
    response = client.get(f"/api/v4/batch-manager/{empty.id}/preview-file", headers=bearer(world.a.tokens["admin"]))
    assert response.status_code == 409 and "nothing is pending" in response.json["error"]["message"]


def test_the_admin_view_and_configure_pages_offer_the_same_file(client, world):
    integ = world.a.integration
    factories.leads(world.a.campaign, 4)
    api = client.get(f"/api/v4/batch-manager/{integ.id}/preview-file", headers=bearer(world.a.tokens["manager"]))
    login(client, world.a.users["admin"])
    view = client.get(f"/v2/system/campaign-lead-batch/pending-batch/view/{integ.id}").get_data(as_text=True)
    link = f"/v2/system/campaign-lead-batch/pending-batch/preview-file/{integ.id}"
    assert f'href="{link}"' in view and "Download preview" in view
    configure = client.get(f"/admin/integrations/edit/?id={integ.id}").get_data(as_text=True)
    assert link in configure and "Download preview" in configure
    response = client.get(link)
    assert response.status_code == 200
    assert response.headers["Content-Disposition"].startswith("attachment;")
    # The file's name carries the time of the request, so compare the bytes only.
    assert response.data == api.data and len(csv_rows(response.data)) == 5
    assert _queue(integ.id) and all(not files for _id, files in _queue(integ.id))
    # Another enterprise's integration does not exist here.
    assert (
        client.get(f"/v2/system/campaign-lead-batch/pending-batch/preview-file/{world.b.integration.id}").status_code
        == 404
    )


def test_a_viewer_gets_no_preview_in_the_admin(client, world):
    factories.leads(world.a.campaign, 1)
    login(client, world.a.users["viewer"])
    integ = world.a.integration
    view = client.get(f"/v2/system/campaign-lead-batch/pending-batch/view/{integ.id}").get_data(as_text=True)
    assert "Download preview" not in view
    assert client.get(f"/v2/system/campaign-lead-batch/pending-batch/preview-file/{integ.id}").status_code == 403
