"""Pending and Sent Batches through the test client: rows, filters, Batch now, View, Download,
Retry/Resend, live status JSON and per-user columns."""

from __future__ import annotations

import re

import pytest
from flask import g
from sqlalchemy import select

from admin_views import base as admin_base
from app.extensions import db
from app.models import AuditEvent, SentBatch
from app.services.storage import get_store
from tests import factories
from tests.admin_support import PENDING, SENT, deliver_all, login


@pytest.fixture(autouse=True)
def _no_csrf(app):
    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF


def _flashes(client, path=PENDING + "/") -> str:
    return client.get(path).get_data(as_text=True)


def test_pending_shows_integrations_with_leads_only(client, world):
    login(client, world.a.users["viewer"])
    page = _flashes(client)
    assert "No leads waiting" in page
    factories.leads(world.a.campaign, 1234)
    disabled = factories.integration(world.a.campaign, "Switched off feed", enabled=False)
    factories.leads(world.a.campaign, 2, prefix="later")
    page = client.get(PENDING + "/").get_data(as_text=True)
    assert world.a.integration.label in page
    assert "1,236" in page  # humanised pending_count
    assert disabled.label not in page
    assert world.b.integration.label not in page
    assert "At 06:00 AM (UTC)" in page  # schedule in words


def test_filters_on_the_five_fields(client, world):
    other_adv = factories.advertiser(world.a.enterprise, "Zephyr Telecom")
    other_camp = factories.campaign(other_adv, "Zephyr Winter")
    other = factories.integration(other_camp, "Zephyr nightly")
    factories.leads(world.a.campaign, 2)
    factories.leads(other_camp, 2)
    login(client, world.a.users["viewer"])
    a = world.a
    for arg, value in [
        ("advertiser_id_equals", other_adv.id),
        ("advertiser_name_contains", "zephyr"),
        ("campaign_id_equals", other_camp.id),
        ("campaign_name_contains", "Winter"),
        ("label_contains", "nightly"),
    ]:
        page = client.get(f"{PENDING}/?flt0_{arg}={value}").get_data(as_text=True)
        assert other.label in page, arg
        assert a.integration.label not in page, arg


def test_batch_now_flashes_each_outcome(client, world):
    empty = factories.integration(world.a.campaign, "Nothing waiting")
    factories.leads(world.a.campaign, 3)
    db.session.execute(db.update(type(empty)).where(type(empty).id == empty.id).values(pending_count=0))
    db.session.commit()
    login(client, world.a.users["manager"])
    # Bulk action on two rows: one with leads, one empty (its leads were just claimed by nothing)
    response = client.post(
        PENDING + "/action/", data={"action": "batch_now", "rowid": [world.a.integration.id, empty.id]}
    )
    assert response.status_code == 302
    page = _flashes(client)
    batch = db.session.scalar(select(SentBatch).where(SentBatch.integration_id == world.a.integration.id))
    # The flash links to the new file's View page, and that link works.
    link = f'<a class="alert-link" href="{SENT}/view/{batch.id}">file #{batch.id}</a>'
    assert f"{world.a.integration.label}: queued {link} with 3 leads." in page
    assert client.get(f"{SENT}/view/{batch.id}").status_code == 200
    # Still in flight (no worker ran): a second Batch now returns the running send.
    factories.leads(world.a.campaign, 2, prefix="more")
    client.post(f"{PENDING}/batch-now/{world.a.integration.id}")
    page = _flashes(client)
    assert f"already being sent as {link}; nothing new started." in page
    status = client.get(f"{SENT}/status.json?ids={batch.id}").get_json()["data"][str(batch.id)]
    assert status["inFlight"] is True
    deliver_all()
    status = client.get(f"{SENT}/status.json?ids={batch.id}").get_json()["data"][str(batch.id)]
    assert (status["status"], status["inFlight"]) == ("delivered", False)
    assert "Delivered" in status["badge"]


def test_viewer_sees_no_buttons_that_change_things(client, world):
    factories.leads(world.a.campaign, 1)
    login(client, world.a.users["viewer"])
    page = client.get(PENDING + "/").get_data(as_text=True)
    assert "bm-batch-now" not in page
    assert "With selected" not in page
    assert "fa-eye" in page


def test_sent_view_download_and_audit(client, world):
    factories.leads(world.a.campaign, 5)
    login(client, world.a.users["manager"])
    client.post(f"{PENDING}/batch-now/{world.a.integration.id}")
    deliver_all()
    batch = db.session.scalar(select(SentBatch))
    page = client.get(SENT + "/").get_data(as_text=True)
    assert "Delivered" in page and batch.label in page
    view = client.get(f"{SENT}/view/{batch.id}").get_data(as_text=True)
    assert "person4@example.com" in view and "External ID" in view
    response = client.get(f"{SENT}/download/{batch.id}")
    with get_store().open(batch.storage_key) as fh:
        assert response.data == fh.read()
    assert batch.file_name in response.headers["Content-Disposition"]
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "download"))
    assert (event.severity, event.target_id, event.actor) == ("high", str(batch.id), world.a.users["manager"].email)


def test_resend_and_retry_flash_instead_of_failing(client, world):
    factories.leads(world.a.campaign, 2)
    login(client, world.a.users["manager"])
    client.post(f"{PENDING}/batch-now/{world.a.integration.id}")
    deliver_all()
    batch = db.session.scalar(select(SentBatch))
    client.post(f"{SENT}/resend/{batch.id}")
    page = _flashes(client, SENT + "/")
    resent = db.session.scalar(select(SentBatch).where(SentBatch.resend_of_id == batch.id))
    assert resent is not None and resent.trigger == "resend"
    assert f"File #{batch.id} is being resent as file #{resent.id}." in page
    response = client.post(f"{SENT}/retry/{batch.id}")  # delivered: nothing to retry
    assert response.status_code == 302
    assert "alert-danger" in _flashes(client, SENT + "/")


def test_columns_are_per_user_and_survive_a_new_session(app, client, world):
    factories.leads(world.a.campaign, 1)
    view = next(v for v in app.extensions["admin"][0]._views if v.endpoint == "pending_batches")
    offered_before = view.offered_columns()
    login(client, world.a.users["viewer"])
    client.post(PENDING + "/columns", data={"columns": ["label", "pending_count", "delivery_method"]})
    headers = _headers(client.get(PENDING + "/").get_data(as_text=True))
    assert headers == ["Label", "Lead", "Delivery method"]
    # Sorting and filtering still work with this column set (sort=2 is Delivery method here).
    sorted_page = client.get(PENDING + "/?sort=2&desc=1&flt0_label_contains=Feed")
    assert sorted_page.status_code == 200 and world.a.integration.label in sorted_page.get_data(as_text=True)
    # Another user of the same enterprise still has the default columns.
    other = app.test_client()
    _forget_cached_user()
    login(other, world.a.users["manager"])
    assert "Advertiser Name" in _headers(other.get(PENDING + "/").get_data(as_text=True))
    # Log out and in again: the choice is kept (saved on the server).
    _forget_cached_user()
    client.post("/logout")
    login(client, world.a.users["viewer"])
    assert _headers(client.get(PENDING + "/").get_data(as_text=True)) == ["Label", "Lead", "Delivery method"]
    client.post(PENDING + "/columns", data={"reset": "1"})
    assert len(_headers(client.get(PENDING + "/").get_data(as_text=True))) == len(view.default_columns)
    # Unknown or no columns are refused with a message; the shared view was never changed.
    client.post(PENDING + "/columns", data={"columns": ["password_hash"]})
    assert "Unknown columns (columns: not offered: password_hash)." in _flashes(client)
    # No column at all: one sentence, not the message twice.
    client.post(PENDING + "/columns", data={"url": PENDING + "/"})
    flashes = _flashes(client)
    assert "Choose at least one column." in flashes
    assert flashes.lower().count("choose at least one column") == 1
    assert view.offered_columns() == offered_before


def _forget_cached_user() -> None:
    # The app fixture's app context spans the whole test, so every test-client request
    # shares flask.g, where Flask-Login caches the current user. Switching clients must
    # drop it (in production each request has its own app context).
    g.pop("_login_user", None)


def _headers(page: str) -> list[str]:
    cells = re.findall(r'<th class="column-header[^"]*">(.*?)</th>', page, re.S)
    return [re.sub(r"<[^>]+>|\s+", " ", c).strip() for c in cells]


def test_count_is_capped_not_counted_to_the_end(client, world, monkeypatch):
    monkeypatch.setattr(admin_base, "COUNT_CAP", 1)
    factories.integration(world.a.campaign, "Second feed")
    factories.leads(world.a.campaign, 1)
    login(client, world.a.users["viewer"])
    assert "1+ rows" in client.get(PENDING + "/").get_data(as_text=True)


def test_sent_name_filters_are_case_insensitive_contains_taken_literally(client, world):
    """The admin's "contains" matches as the API's does: any case, % and _ as typed; ^ still means
    "starts with"; the capped count still caps."""
    from tests.test_api_lists import sent_batch

    names = ["Solar Spring", "SOLAR 100% green", "Wind solar", "Wind 100 green"]
    for name in names:
        sent_batch(world.a, campaign_name=name, label=f"{name} feed")
    sent_batch(world.b, campaign_name="Solar elsewhere")
    login(client, world.a.users["viewer"])

    def shown(query: str) -> list[str]:
        page = client.get(f"{SENT}/?{query}").get_data(as_text=True)
        return [n for n in [*names, "Solar elsewhere"] if n in page]

    assert shown("flt0_campaign_name_contains=solar") == names[:3]
    assert shown("flt0_campaign_name_contains=100%25") == ["SOLAR 100% green"]
    assert shown("flt0_campaign_name_contains=%5Esolar") == names[:2]
    assert shown("flt0_label_contains=WIND") == names[2:]
    assert shown("flt0_advertiser_name_contains=") == names  # an empty value filters nothing


def test_pending_view_shows_leads_as_the_file_will(client, world):
    factories.leads(world.a.campaign, 60)
    login(client, world.a.users["viewer"])
    page = client.get(f"{PENDING}/view/{world.a.integration.id}?per_page=50").get_data(as_text=True)
    assert "First Name" in page and "person0@example.com" in page and "person59@example.com" not in page
    page2 = client.get(f"{PENDING}/view/{world.a.integration.id}?page=2&per_page=50").get_data(as_text=True)
    assert "person59@example.com" in page2 and "Page 2 of 2" in page2


def test_failed_file_shows_its_error_and_can_be_requeued(client, world):
    integ = world.a.integration
    integ.delivery = {"directory": "/etc/not-allowed"}  # set behind validation's back: delivery refuses it
    db.session.commit()
    factories.leads(world.a.campaign, 3)
    login(client, world.a.users["manager"])
    client.post(f"{PENDING}/batch-now/{integ.id}")
    deliver_all()
    batch = db.session.scalar(select(SentBatch))
    assert batch.status == "failed"
    page = client.get(SENT + "/").get_data(as_text=True)
    assert 'data-status="failed"' in page and "bm-act-retry" in page and "bm-act-requeue" in page
    view = client.get(f"{SENT}/view/{batch.id}").get_data(as_text=True)
    assert "alert-danger" in view and batch.last_error.split()[0] in view
    client.post(f"{SENT}/requeue/{batch.id}")
    assert "3 leads of file #" in _flashes(client, SENT + "/")
    db.session.expire_all()
    assert db.session.get(type(integ), integ.id).pending_count == 3
