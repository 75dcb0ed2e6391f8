"""Widths and precisions in name and subject templates are bounded (a huge one is a 422 / form error)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services.format_specs import MAX_FORMAT_NUMBER
from tests.admin_support import login

# The first spec is wide enough to show a missing bound (main formats it happily) yet
# cheap; the next ones would allocate gigabytes if they ever reached format().
HUGE = ["{batch_id:>100000}", "{label:.100000}", "{batch_id:>9999999999}", "{sent_at:%999999999Y}"]


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(BatchCsvIntegration))


def _body(world, **changes) -> dict:
    body = {
        "campaignId": world.a.campaign.id,
        "label": "Wide",
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": {"method": "local", "directory": "wide"},
    }
    body.update(changes)
    return body


@pytest.mark.parametrize("template", HUGE)
def test_a_huge_width_in_the_name_template_is_a_422(client, world, template):
    before = _count()
    response = client.post(
        "/api/v4/batch-integrations",
        json=_body(world, file={"nameTemplate": f"leads_{template}"}),
        headers=bearer(world.a.tokens["admin"]),
    )
    assert response.status_code == 422, response.json
    assert response.json["error"]["details"]["file.nameTemplate"] == [
        f"{template.split(':')[0]}}}: width and precision must be at most {MAX_FORMAT_NUMBER}"
    ]
    assert _count() == before


@pytest.mark.parametrize("template", HUGE)
def test_a_huge_width_in_the_email_subject_is_a_422(client, world, template):
    delivery = {"method": "email", "recipients": ["ops@example.com"], "subject": f"File {template}"}
    response = client.post(
        "/api/v4/batch-integrations", json=_body(world, delivery=delivery), headers=bearer(world.a.tokens["admin"])
    )
    assert response.status_code == 422, response.json
    assert "width and precision must be at most" in response.json["error"]["details"]["delivery.subject"][0]


def test_reasonable_widths_still_work(client, world):
    delivery = {"method": "email", "recipients": ["ops@example.com"], "subject": "{lead_count:>6} leads {label:.20}"}
    response = client.post(
        "/api/v4/batch-integrations",
        json=_body(world, file={"nameTemplate": f"{{batch_id:0{MAX_FORMAT_NUMBER}d}}"}, delivery=delivery),
        headers=bearer(world.a.tokens["admin"]),
    )
    assert response.status_code == 201, response.json


def test_the_configure_form_shows_the_error_on_the_field(client, world, app):
    app.config["WTF_CSRF_ENABLED"] = False  # test_admin_csrf.py covers CSRF
    login(client, world.a.users["admin"])
    before = _count()
    form = MultiDict(
        {
            "campaign_id": str(world.a.campaign.id),
            "label": "Wide form",
            "enabled": "y",
            "schedule_cron": "0 6 * * *",
            "timezone": "UTC",
            "file_format": "csv",
            "delimiter": ",",
            "quoting": "minimal",
            "line_ending": "crlf",
            "encoding": "utf-8",
            "name_template": "leads_{batch_id:>100000}",
            "compression": "none",
            "fields_json": json.dumps([{"source": "lead.id", "header": "ID"}]),
            "delivery_method": "local",
            "directory": "wide",
            "credential_id": "0",
        }
    )
    page = client.post("/admin/integrations/new/", data=form).get_data(as_text=True)
    assert "Not saved." in page and f"width and precision must be at most {MAX_FORMAT_NUMBER}" in page
    assert _count() == before
