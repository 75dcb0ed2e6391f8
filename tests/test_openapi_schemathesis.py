"""schemathesis against /api/v4/openapi.json, over every operation: no 5xx, and every
response (status, content type, headers, body) conforms to the document.

Bounded: a few deterministic examples per operation (hypothesis derandomize), a real
admin token of enterprise A injected, and enterprise B's objects present so generated
ids hit other tenants too. Requests go through the WSGI app in-process.
"""

from __future__ import annotations

import pytest
import schemathesis
from flask import current_app, has_app_context
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app import create_app
from app.extensions import db
from tests import factories
from tests.conftest import CREDENTIAL_KEY

MAX_EXAMPLES = 6


def _document_app():
    # The document is static; an app that never touches its database or Redis serves it at
    # collection time (pytest needs the operations before any fixture exists).
    return create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "schema-only",
            "CREDENTIAL_KEYS": CREDENTIAL_KEY,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "RATELIMIT_ENABLED": False,
        }
    )


_doc_app = _document_app()


def current_wsgi_app(environ, start_response):
    """The test's own app (its context is pushed by the `api_world` fixture), else the document's."""
    target = current_app._get_current_object() if has_app_context() else _doc_app
    return target.wsgi_app(environ, start_response)


schema = schemathesis.openapi.from_wsgi("/api/v4/openapi.json", current_wsgi_app)
# Schema-valid is not always domain-valid: a body may name a campaign that does not exist,
# a cron expression croniter rejects or an unknown time zone. Those get a 422 in our error
# shape, which every operation documents, so schemathesis's "schema-valid data must be
# accepted" check cannot apply; every other check (5xx, status codes, content types,
# headers, response bodies, invalid data rejected) does.
EXCLUDED = [positive_data_acceptance]


@pytest.fixture(scope="module")
def api_world(_schema, session_dir, database_url, redis_url):
    """One app and one pair of enterprises for every operation (a World per operation would
    cost more than the requests); the tables are emptied afterwards like the `app` fixture does."""
    from tests.conftest import _truncate_all, make_config

    app = create_app(make_config(session_dir, database_url, redis_url))
    with app.app_context():
        world = factories.World.build()
        # Leads waiting on both sides so the lead views and batch now have something to show.
        factories.leads(world.a.campaign, 3)
        factories.leads(world.b.campaign, 2)
        yield app, world
        db.session.remove()
        _truncate_all()
        app.extensions["redis"].flushdb()
        db.engine.dispose()


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_document(case, api_world):
    _, world = api_world
    case.call_and_validate(headers={"Authorization": f"Bearer {world.a.tokens['admin']}"}, excluded_checks=EXCLUDED)
