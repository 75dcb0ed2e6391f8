"""Local delivery folders are per enterprise: B cannot write into A's folder, and no reply shows a
path of the server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration
from app.services import sending
from tests.engine_support import batches, drain, local_dir
from tests.factories import leads


def bearer(token: str) -> dict:
    return {"Authorization": f"Bearer {token}"}


def _body(campaign_id: int, label: str, directory: str) -> dict:
    return {
        "campaignId": campaign_id,
        "label": label,
        "file": {"nameTemplate": "leads"},  # the same file name in both enterprises
        "fields": [{"source": "lead.id", "header": "ID"}],
        "delivery": {"method": "local", "directory": directory},
    }


def test_enterprise_b_cannot_write_into_enterprise_a_s_folder(client, world):
    outbox = Path(current_app.config["LOCAL_DELIVERY_ROOT"])
    a_folder = outbox / str(world.a.enterprise.id) / "partner"
    b_admin = bearer(world.b.tokens["admin"])
    a_body = _body(world.a.campaign.id, "A partner", "partner")
    assert (
        client.post("/api/v4/batch-integrations", json=a_body, headers=bearer(world.a.tokens["admin"])).status_code
        == 201
    )

    # Every way of naming A's folder from B is refused, and the refusal names no server path.
    for directory in [str(a_folder), f"../{world.a.enterprise.id}/partner", "../../outbox", "/tmp", "x/../../y"]:
        response = client.post(
            "/api/v4/batch-integrations", json=_body(world.b.campaign.id, "B sneaky", directory), headers=b_admin
        )
        assert response.status_code == 422, (directory, response.json)
        assert "no leading /, no .." in response.json["error"]["details"]["delivery.directory"][0]
        assert str(outbox) not in response.get_data(as_text=True)

    # The same folder name in B is B's own folder: a file of the same name leaves A's alone.
    b_body = _body(world.b.campaign.id, "B partner", "partner")
    assert client.post("/api/v4/batch-integrations", json=b_body, headers=b_admin).status_code == 201
    ids = dict(db.session.execute(select(BatchCsvIntegration.label, BatchCsvIntegration.id)).all())
    leads(world.a.campaign, 2, prefix="a")
    leads(world.b.campaign, 3, prefix="b")
    sending.batch_now([ids["A partner"]], world.a.users["manager"])
    sending.batch_now([ids["B partner"]], world.b.users["manager"])
    drain()

    [a_batch], [b_batch] = batches(ids["A partner"]), batches(ids["B partner"])
    assert (a_batch.status, b_batch.status) == ("delivered", "delivered")
    assert a_batch.file_name == b_batch.file_name == "leads.csv"
    a_rows = (a_folder / "leads.csv").read_text().splitlines()
    b_rows = (local_dir(world.b.enterprise.id, "partner") / "leads.csv").read_text().splitlines()
    assert (len(a_rows), len(b_rows)) == (3, 4)  # header + each enterprise's own leads


def test_test_connection_names_the_folder_not_the_server_path(client, world):
    url = f"/api/v4/batch-integrations/{world.a.integration.id}/test-connection"
    result = client.post(url, headers=bearer(world.a.tokens["admin"])).json
    assert result == {"ok": True, "message": f"Folder {world.a.integration.delivery['directory']} is writable."}
    assert local_dir(world.a.enterprise.id, world.a.integration.delivery["directory"]).is_dir()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def upgrade_url(request, tmp_path):
    """The migration test's own empty database (see tests/test_migrations.py)."""
    from tests.test_migrations import scratch_url

    yield from scratch_url.__wrapped__(request, tmp_path)


def test_upgrade_makes_saved_local_folders_relative_to_the_enterprise(upgrade_url, tmp_path, redis_url):
    """Folders saved as absolute paths (the demo seed did) keep delivering after the upgrade."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from app import create_app
    from tests.conftest import make_config
    from tests.test_migrations import _build_at

    app = create_app(make_config(tmp_path, upgrade_url, redis_url))
    root = app.config["LOCAL_DELIVERY_ROOT"]
    saved = {
        2: f"{root}/demo/integration-3",  # under the root, as the demo seed wrote it
    }
    with app.app_context():
        _build_at("20261130_50_lead_trace")
        with db.engine.begin() as conn:
            for row_id, directory in saved.items():
                doc = json.dumps({"directory": directory})
                conn.execute(text("UPDATE batch_integrations SET delivery = :d WHERE id = :i"), {"d": doc, "i": row_id})
        # To head, not to 20261130_60: the model read below has the columns of every later revision.
        upgrade()
        db.session.expire_all()
        integration = db.session.get(BatchCsvIntegration, 2)
        assert integration.delivery == {"directory": "demo/integration-3"}
        from app.services.transports import get_transport

        result = get_transport("local").test_connection(
            integration.delivery, None, enterprise_id=integration.enterprise_id
        )
        assert result.ok, result.message
        assert (Path(root) / str(integration.enterprise_id) / "demo" / "integration-3").is_dir()
        db.session.remove()
        db.engine.dispose()


@pytest.mark.parametrize(
    ("directory", "folder"),
    [
        ("{root}/acme/daily", "acme/daily"),
        ("{root}", "."),
        ("/srv/elsewhere/daily", "daily"),
        ("acme/../acme/daily", "acme/daily"),
        ("already/relative", "already/relative"),
    ],
)
def test_the_upgrade_rule_for_each_kind_of_saved_folder(tmp_path, directory, folder):
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "local_folders", Path(__file__).parent.parent / "migrations/versions/20261130_60_local_folders.py"
    )
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    root = str(tmp_path / "outbox")
    assert migration.relative_folder(directory.format(root=root), root) == folder
