"""Migrations build the schema from empty and match the models exactly."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db


def test_migrated_schema_matches_models(app):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    assert diff == []


def test_upgrade_from_empty_database_creates_every_table(tmp_path, redis_url):
    from flask_migrate import upgrade

    from app import create_app
    from tests.conftest import make_config

    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    fresh = create_app(make_config(tmp_path, url, redis_url))
    with fresh.app_context():
        upgrade()
        tables = set(db.inspect(db.engine).get_table_names())
        db.engine.dispose()
    assert {m.name for m in db.metadata.sorted_tables} <= tables
