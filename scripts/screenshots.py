"""Screenshots of the admin for the README: docs/screenshots/{pending,sent,configure,...}.png.

Builds a throw-away instance (SQLite + embedded Redis in a temp dir), seeds the demo
data, sends a few files through the real pipeline, serves the app on 127.0.0.1 and
photographs the pages with headless Chromium (Debian's /usr/bin/chromium).

    .venv/bin/python scripts/screenshots.py [--out docs/screenshots] [--only dashboard,lead-trace]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import threading
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def build_app(tmp: Path):
    from cryptography.fernet import Fernet

    from app import create_app
    from app.devinstance import ensure_embedded_redis
    from app.extensions import db

    app = create_app(
        {
            "SECRET_KEY": "screenshots",
            "CREDENTIAL_KEYS": Fernet.generate_key().decode(),
            "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp / 'bm.db'}",
            "REDIS_URL": ensure_embedded_redis(str(tmp / "redis.sock")),
            "STORAGE_URL": f"file://{tmp / 'files'}",
            "LOCAL_DELIVERY_ROOT": str(tmp / "outbox"),
            "RATELIMIT_ENABLED": False,
            # The paused integration's SFTP partner is a closed loopback port (see seed_paused).
            "DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8",
            "SEND_RETRY_INTERVALS": [],
        }
    )
    with app.app_context():
        db.create_all()
    return app


def seed(app) -> None:
    """Demo data, then a few files: most delivered, one still in flight."""
    from sqlalchemy import select

    from app.models import BatchCsvIntegration, User
    from app.services import demo, sending
    from jobs.worker import run_burst

    with app.app_context():
        demo.seed(leads=3000)
        manager = demo.db.session.scalar(select(User).where(User.email == "manager@demo.local"))
        ids = list(demo.db.session.scalars(select(BatchCsvIntegration.id).order_by(BatchCsvIntegration.id)))
        sending.batch_now(ids[:6], manager)
        run_burst(app, in_thread=False)
        seed_paused(app, ids[7], manager)
        sending.batch_now(ids[6:7], manager)  # left in flight: shows the live status badge


def spread_history(app) -> str:
    """Give the dashboard a month to draw: the files just sent are dated over the last weeks and
    two of them failed (the demo sends everything in one minute). Returns an external id to
    trace: a lead delivered by one integration and still pending in another."""
    from datetime import timedelta

    from sqlalchemy import select

    from app.extensions import db
    from app.models import BatchCsvIntegration, Lead, QueueEntry, SentBatch, User
    from app.models.types import utcnow
    from app.services import queue_files, sending
    from jobs.worker import run_burst

    with app.app_context():
        manager = db.session.scalar(select(User).where(User.email == "manager@demo.local"))
        ids = list(db.session.scalars(select(BatchCsvIntegration.id).order_by(BatchCsvIntegration.id)))
        sending.batch_now(ids[8:20], manager)
        run_burst(app, in_thread=False)
        files = list(
            db.session.scalars(select(SentBatch).where(SentBatch.status == "delivered").order_by(SentBatch.id))
        )
        now = utcnow()
        for n, batch in enumerate(files):
            when = now - timedelta(days=(n * 5) % 27, hours=n % 7)
            batch.created_at = batch.sent_at = batch.updated_at = when
        for batch in files[-2:]:
            batch.status, batch.sent_at, batch.last_error = "failed", None, "connection refused by the partner's server"
        db.session.commit()
        pending = select(QueueEntry.lead_id).where(queue_files.entry_is_pending())
        lead_id = db.session.scalar(
            select(QueueEntry.lead_id)
            .where(~queue_files.entry_is_pending(), QueueEntry.lead_id.in_(pending))
            .order_by(QueueEntry.lead_id)
            .limit(1)
        )
        return db.session.get(Lead, lead_id).external_id if lead_id else "demo-1-0"


def seed_paused(app, integration_id: int, manager) -> None:
    """One integration whose partner refuses connections: two failed files, auto-paused."""
    from app.models import BatchCsvIntegration
    from app.services import alert_settings, credentials, demo, sending
    from app.services.intake import ingest_leads
    from jobs.worker import run_burst

    integration = demo.db.session.get(BatchCsvIntegration, integration_id)
    credential = credentials.create_credential(integration.enterprise_id, "Partner SFTP login", "password", "pw")
    integration.delivery_method, integration.credential_id = "sftp", credential.id
    integration.delivery = {
        "host": "127.0.0.1",
        "port": 9,
        "username": "leads",
        "remoteDir": "/inbound",
        "hostKey": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl",
    }
    integration.pause_after_failures = 2
    demo.db.session.commit()
    admin = demo.db.session.scalar(demo.db.select(type(manager)).where(type(manager).email == "admin@demo.local"))
    alert_settings.save(admin, {"emailRecipients": ["ops@demo.local"]})
    for round_ in range(2):
        leads = [{"externalId": f"paused-{round_}-{i}", "status": "valid", "fields": {}} for i in range(5)]
        ingest_leads(integration.campaign, leads)
        sending.batch_now([integration_id], manager)
        run_burst(app, in_thread=False)
    ingest_leads(
        integration.campaign, [{"externalId": f"waiting-{i}", "status": "valid", "fields": {}} for i in range(7)]
    )


def serve(app):
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Quiet(WSGIRequestHandler):
        def log_request(self, *args, **kwargs) -> None:
            pass

    server = make_server("127.0.0.1", 0, app, threaded=True, request_handler=Quiet)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def shoot(base: str, out: Path, only: set[str] | None = None, trace_id: str = "") -> list[Path]:
    from playwright.sync_api import sync_playwright

    out.mkdir(parents=True, exist_ok=True)
    shots = []
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1440, "height": 900}, device_scale_factor=1)
        page.goto(f"{base}/login")
        page.fill("input[name=email]", "admin@demo.local")
        page.fill("input[name=password]", "demo-password")
        page.click("button[type=submit]")
        page.wait_for_url("**/pending-batch/**")
        pages = [
            ("pending", "/v2/system/campaign-lead-batch/pending-batch/", False),
            ("sent", "/v2/system/campaign-lead-batch/sent-batches/", False),
            ("configure", "/admin/integrations/edit/?id=1", True),
            ("pending-view", "/v2/system/campaign-lead-batch/pending-batch/view/10", False),
            ("credentials", "/admin/credentials/new/", False),
            ("audit", "/admin/audit/", False),
            ("dashboard", "/admin/", True),
            ("lead-trace", f"/admin/lead-trace/?by=externalId&q={trace_id}", False),
            ("paused", "/v2/system/campaign-lead-batch/pending-batch/?flt0_health_is=paused", False),
            ("paused-view", "/v2/system/campaign-lead-batch/pending-batch/view/8", False),
            ("alerts", "/admin/alerts/", False),
        ]
        for name, path, full_page in pages:
            if only and name not in only:
                continue
            page.goto(base + path)
            page.wait_for_load_state("networkidle")
            target = out / f"{name}.png"
            page.screenshot(path=str(target), full_page=full_page)
            shots.append(target)
        browser.close()
    return shots


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "screenshots"))
    parser.add_argument("--only", default="", help="comma-separated names, e.g. dashboard,lead-trace")
    args = parser.parse_args()
    only = {name.strip() for name in args.only.split(",") if name.strip()}
    with tempfile.TemporaryDirectory(prefix="bm-shots-", dir="/tmp") as tmp:
        app = build_app(Path(tmp))
        seed(app)
        trace_id = spread_history(app) if not only or only & {"dashboard", "lead-trace"} else ""
        server, base = serve(app)
        try:
            for path in shoot(base, Path(args.out), only, trace_id):
                print(path)
        finally:
            server.shutdown()
            from redis import Redis

            Redis.from_url(app.config["REDIS_URL"]).shutdown(nosave=True)


if __name__ == "__main__":
    main()
