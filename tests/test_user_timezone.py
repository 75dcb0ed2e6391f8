"""Each person reads sent times in their own zone (My account, default UTC); the Sent View page
shows the sent time and the size."""

from __future__ import annotations

import re
from datetime import UTC, datetime

import humanize
from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, SentBatch, User
from app.services import pipeline, sending
from app.services.actors import SYSTEM
from tests import factories
from tests.admin_support import SENT, csrf_token, login

SENT_AT = datetime(2026, 1, 31, 6, 0, 0, tzinfo=UTC)


def _sent_file(world) -> SentBatch:
    factories.leads(world.a.campaign, 3)
    (outcome,) = sending.send_integration(world.a.integration.id, "schedule", SYSTEM)
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    batch = db.session.get(SentBatch, outcome.batch_id)
    batch.sent_at = SENT_AT
    db.session.commit()
    return batch


def _set_zone(client, zone: str):
    token = csrf_token(client, "/admin/account/")
    return client.post("/admin/account/timezone", data={"timezone": zone, "csrf_token": token}, follow_redirects=True)


def test_sent_times_are_shown_in_the_users_zone_default_utc(client, world):
    batch = _sent_file(world)
    manager = world.a.users["manager"]
    assert manager.timezone == "UTC"
    login(client, manager)
    table = client.get(SENT + "/").get_data(as_text=True)
    assert "2026-01-31 06:00 UTC" in table

    page = _set_zone(client, "Europe/Berlin").get_data(as_text=True)
    assert "Times are now shown in Europe/Berlin." in page
    assert '<option value="Europe/Berlin" selected>' in page
    table = client.get(SENT + "/").get_data(as_text=True)
    assert "2026-01-31 07:00 CET" in table and "06:00 UTC" not in table
    # The View page of the file: its sent time in the same zone, and its size.
    view = client.get(f"{SENT}/view/{batch.id}").get_data(as_text=True)
    assert "2026-01-31 07:00 CET" in view
    assert f'<dd class="d-inline" id="bm-size">{humanize.naturalsize(batch.size_bytes, binary=True)}</dd>' in view
    assert 'id="bm-size"' in view and 'id="bm-sent-at"' in view
    # Relative times elsewhere carry the exact time in the zone on hover.
    integrations = client.get("/admin/integrations/").get_data(as_text=True)
    assert re.search(
        r'<time datetime="[^"]+" title="\d{4}-\d\d-\d\d \d\d:\d\d:\d\d CET \(Europe/Berlin\)">', integrations
    )

    event = db.session.scalars(select(AuditEvent).where(AuditEvent.action == "account.timezone")).one()
    assert event.details == {"timezone": "Europe/Berlin"}
    # Someone else still reads UTC.
    db.session.expire_all()
    assert db.session.get(User, world.a.users["viewer"].id).timezone == "UTC"


def test_an_unknown_zone_is_refused_and_changes_nothing(client, world):
    login(client, world.a.users["viewer"])
    page = _set_zone(client, "Mars/Olympus_Mons").get_data(as_text=True)
    assert "Unknown time zone (timezone: not an IANA time zone: &#39;Mars/Olympus_Mons&#39;)." in page
    db.session.expire_all()
    assert db.session.get(User, world.a.users["viewer"].id).timezone == "UTC"


def test_a_file_not_sent_yet_says_so_on_its_view_page(client, world):
    factories.leads(world.a.campaign, 2)
    (outcome,) = sending.send_integration(world.a.integration.id, "schedule", SYSTEM)
    login(client, world.a.users["viewer"])
    view = client.get(f"{SENT}/view/{outcome.batch_id}").get_data(as_text=True)
    assert '<dd class="d-inline" id="bm-sent-at">not yet</dd>' in view
    assert '<dd class="d-inline" id="bm-size">not built yet</dd>' in view
