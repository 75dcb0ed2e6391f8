"""schemathesis against /api/v4/openapi.json over HTTP, every operation, EVERY check.

The server is the real app behind werkzeug's HTTP server on a loopback port. Each case
runs all of schemathesis's checks, among them: no 5xx; status codes, content types,
headers and bodies as documented; schema-valid requests accepted (positive data
acceptance) and schema-invalid ones refused (negative data rejection); a missing
token refused.

What a JSON Schema cannot state is a fact about the database or a parser: an id must
name one of the caller's objects, a cron expression must be one croniter reads, a start
date must fall in the range the document gives, a host key must parse, a destination must
pass the egress policy (DELIVERY_ALLOWED_NETWORKS), a lead search takes exactly one of its
three finders. The document says each in words;
for schema-valid (positive) cases the test puts such values in (`_domain_facts`), so
that a 422 on the rest means the document promised more than the server takes.
Negative cases are sent as generated.

Bounded: a few deterministic examples per operation (hypothesis derandomize).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import threading

import gnupg
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import CHECKS, load_all_checks
from werkzeug.serving import WSGIRequestHandler, make_server

from app import create_app
from app.extensions import db
from app.services import credentials
from tests import factories
from tests.conftest import CREDENTIAL_KEY
from tests.servers.sftp import generate_keypair

MAX_EXAMPLES = 6


def _document() -> dict:
    # The document is static: an app that never touches a database or Redis serves it
    # at collection time (pytest needs the operations before any fixture exists).
    app = create_app(
        {
            "TESTING": True,
            "SECRET_KEY": "schema-only",
            "CREDENTIAL_KEYS": CREDENTIAL_KEY,
            "SQLALCHEMY_DATABASE_URI": "sqlite://",
            "REDIS_URL": "redis://127.0.0.1:1/0",
            "RATELIMIT_ENABLED": False,
        }
    )
    return app.test_client().get("/api/v4/openapi.json").json


schema = schemathesis.openapi.from_dict(_document())
load_all_checks()
ALL_CHECKS = list(CHECKS.get_all())


class _Quiet(WSGIRequestHandler):
    # Keep-alive: thousands of cases over one connection instead of one connection each.
    protocol_version = "HTTP/1.1"

    def log_request(self, *args, **kwargs) -> None:
        pass


@pytest.fixture(scope="module")
def live_api(_schema, session_dir, database_url, redis_url):
    """(base URL, world, facts): the app served over HTTP on loopback, with two enterprises."""
    from tests.conftest import _truncate_all, make_config

    app = create_app(make_config(session_dir, database_url, redis_url))
    with app.app_context():
        world = factories.World.build()
        # Leads waiting on both sides so the lead views and batch now have something to show.
        factories.leads(world.a.campaign, 3)
        factories.leads(world.b.campaign, 2)
        private_key, _ = generate_keypair()
        _, host_key = generate_keypair()
        gpg_home = tempfile.mkdtemp(prefix="bms-")  # short: gpg-agent's socket path is limited
        gpg = gnupg.GPG(gnupghome=gpg_home)
        pgp_key = gpg.gen_key(
            gpg.gen_key_input(key_type="RSA", key_length=2048, name_email="adv@example.com", no_protection=True)
        )
        public_key = gpg.export_keys(pgp_key.fingerprint)
        enterprise = world.a.enterprise.id
        facts = {
            "world": world,
            "private_key": private_key,
            "host_key": host_key,
            "public_key": public_key,
            "credential": {
                kind: credentials.create_credential(enterprise, f"schemathesis {kind}", kind, secret).id
                for kind, secret in (
                    ("password", "pw"),
                    ("ssh_private_key", private_key),
                    ("s3_keys", {"accessKeyId": "AKIA", "secretAccessKey": "s3cret"}),
                    ("file_password", "zip-pw"),
                    ("pgp_public_key", public_key),
                )
            },
        }
        db.session.commit()
        server = make_server("127.0.0.1", 0, app, threaded=False, request_handler=_Quiet)
        thread = threading.Thread(target=server.serve_forever, name="schemathesis-server", daemon=True)
        thread.start()
        try:
            with requests.Session() as session:
                facts["session"] = session
                yield f"http://127.0.0.1:{server.server_port}", facts
        finally:
            server.shutdown()
            thread.join(timeout=10)
            db.session.remove()
            _truncate_all()
            app.extensions["redis"].flushdb()
            db.engine.dispose()
            subprocess.run(["gpgconf", "--homedir", gpg_home, "--kill", "gpg-agent"], check=False)
            shutil.rmtree(gpg_home, ignore_errors=True)


_counter = iter(range(1, 10**9))


def _delivery_facts(delivery: dict, facts: dict) -> None:
    method = delivery.get("method")
    kinds = {"sftp": "password", "ftp": "password", "s3": "s3_keys"}
    if method in kinds:
        delivery["credentialId"] = facts["credential"][kinds[method]]
    if method in ("sftp", "ftp"):
        # The egress policy resolves the host when saving: loopback is the one admitted here,
        # and no generated name goes to a DNS resolver.
        delivery["host"] = "127.0.0.1"
    if method == "sftp":
        delivery["hostKey"] = facts["host_key"]
    if method == "email" and "subject" in delivery:
        delivery["subject"] = "Leads {file_name}"
    if method == "s3" and delivery.get("endpointUrl"):
        delivery["endpointUrl"] = "http://127.0.0.1:9"
    if method == "s3" and delivery.get("prefix"):
        delivery["prefix"] = "in/leads"
    if method == "local":
        delivery["directory"] = "out"


def _protection_facts(file: dict, facts: dict) -> None:
    """A protection with a credential of its kind and the format and compression it needs."""
    protection = file.get("protection", "none")
    file["protection"] = protection  # stated, so a PATCH never meets an earlier one's protection
    kinds = {"zip-aes": "file_password", "xlsx-password": "file_password", "pgp": "pgp_public_key"}
    file["protectionCredentialId"] = facts["credential"][kinds[protection]] if protection in kinds else None
    if protection in ("zip-aes", "xlsx-password"):
        file["compression"] = "none"
    if protection == "xlsx-password":
        file["format"] = "xlsx"


def _integration_facts(body: dict, facts: dict, *, patch: bool) -> None:
    world = facts["world"]
    if "campaignId" in body:
        # A PATCH cannot move an integration to another campaign.
        body["campaignId"] = world.a.campaign.id
    if isinstance(body.get("schedule"), dict):
        schedule = body["schedule"]
        if schedule.get("kind", "cron") == "cron":
            schedule["cron"] = "0 6 * * 1-5"
        if schedule.get("kind") == "every":
            # The start date's range (2000-01-01 to 2100-12-31) is stated in words.
            schedule["startDate"] = "2026-01-05"
        # A cap is both numbers or neither (the service says "give both capLeads and capPeriod").
        if schedule.get("capLeads") is not None or schedule.get("capPeriod") is not None:
            schedule["capLeads"] = schedule.get("capLeads") or 100
            schedule["capPeriod"] = schedule.get("capPeriod") or "day"
    file = body.get("file")
    if isinstance(file, dict):
        if "encoding" in file:
            file["encoding"] = "utf-8"
        if "nameTemplate" in file:
            file["nameTemplate"] = "{label}_{batch_id}"
        _protection_facts(file, facts)
        # A cumulative file is never split (the document says so); a PATCH may meet either mode.
        if file.get("leadMode") == "cumulative":
            file["maxLeadsPerFile"] = None
        elif file.get("maxLeadsPerFile") is not None:
            file["leadMode"] = "new"
    for i, column in enumerate(body.get("fields") or []):
        column["header"] = f"{column['header'][:150]} {i}"  # unique, case-insensitively
    if isinstance(body.get("delivery"), dict):
        _delivery_facts(body["delivery"], facts)


def _domain_facts(case, facts: dict) -> None:
    """Put database facts and parseable values into a schema-valid body (see the module doc)."""
    world = facts["world"]
    body = case.body if isinstance(case.body, dict) else None
    path, method = case.operation.path, case.method.upper()
    if path == "/api/v4/leads":
        # Exactly one of the three finders (the document says so in words).
        query = dict(case.query or {})
        given = [name for name in ("externalId", "email", "phone") if name in query]
        keep = given[0] if given else "externalId"
        for name in given[1:]:
            del query[name]
        query.setdefault(keep, "ext-1")
        case.query = query
    elif path == "/api/v4/batch-manager-batch-now" and body:
        body["integrationIds"] = [world.a.integration.id]
    elif path == "/api/v4/campaigns" and method == "POST" and body:
        body["advertiserId"] = world.a.advertiser.id
        if body.get("startDate") and body.get("endDate"):
            body["endDate"] = max(body["startDate"], body["endDate"])
    elif path == "/api/v4/credentials" and method == "POST" and body:
        body["name"] = f"{body.get('name', '')[:150]} {next(_counter)}"  # names are unique
        if body.get("kind") == "ssh_private_key":
            body["secret"] = facts["private_key"]
        if body.get("kind") == "s3_keys" and isinstance(body.get("secret"), str):
            body["secret"] = '{"accessKeyId": "AKIA", "secretAccessKey": "s3cret"}'  # JSON text
        if body.get("kind") == "pgp_public_key":
            body["secret"] = facts["public_key"]
    elif path == "/api/v4/alert-settings" and method == "PUT" and body:
        # Webhook hosts pass the egress policy (loopback is admitted here; no DNS), and need a secret.
        if body.get("webhookUrls"):
            body["webhookUrls"] = [f"https://127.0.0.1/hook-{i}" for i in range(len(body["webhookUrls"]))]
            body.setdefault("webhookSecret", "a-signing-secret-0123456789")
    elif path.startswith("/api/v4/batch-integrations") and method in ("POST", "PATCH") and body:
        _integration_facts(body, facts, patch=method == "PATCH")


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)
def test_every_operation_conforms_to_the_document(case, live_api):
    base_url, facts = live_api
    if case.meta is not None and case.meta.generation.mode.is_positive:
        _domain_facts(case, facts)
    token = facts["world"].a.tokens["admin"]
    case.call_and_validate(
        base_url=base_url,
        session=facts["session"],
        headers={"Authorization": f"Bearer {token}"},
        checks=ALL_CHECKS,
    )
