"""Batch now of 1,000 leads to a loopback SFTP server: time from the API call until the
batch is delivered, p50 over 20 runs, with a real `flask rq worker` process.

Each run queues 1,000 fresh leads (not timed), then POSTs batch-manager-batch-now and
polls the SentBatch row every 5 ms until it is delivered; the file is then checked on
the server (1,000 rows plus the header). The SFTP server is the asyncssh server the
transport tests use (tests/servers/sftp.py), in a thread of this process.
"""

from __future__ import annotations

import time

import click
from sqlalchemy import text

from bench import common, services
from bench.common import Result

BAR_MS = 1000.0
LEADS = 1000


def run(backend: str = "postgresql", *, runs: int = 20, warmup: int = 2) -> list[Result]:
    from tests.servers.sftp import SftpServer

    server = SftpServer(common.RESULTS / "sftp-root")
    (server.root / "upload").mkdir(parents=True, exist_ok=True)
    for old in (server.root / "upload").iterdir():
        old.unlink()
    server.start()
    app = services.fresh_io_app(backend)
    app.extensions["redis"].flushdb()  # our own Redis db: no job left from an earlier run
    try:
        with app.app_context():
            integration_id, campaign_id, token = _setup(server)
            with services.rq_worker(common.db_url(backend, services.IO_DB)):
                client = app.test_client()
                samples = [_one(client, campaign_id, integration_id, token, i) for i in range(runs + warmup)]
        files = sorted(p for p in (server.root / "upload").iterdir() if not p.name.startswith("."))
    finally:
        server.shutdown()
    ms = samples[warmup:]
    stages = STAGES[warmup:]
    rows = {p.read_bytes().count(b"\n") for p in files}
    p50 = common.p50(ms)
    click.echo(f"[batch_now] {backend}: p50 {p50:.0f} ms, p95 {common.percentile(ms, 95):.0f} ms", err=True)
    details = {
        "runs": runs,
        "p95_ms": round(common.percentile(ms, 95), 1),
        "min_ms": round(min(ms), 1),
        "max_ms": round(max(ms), 1),
        "files_on_server": len(files),
        "lines_per_file": sorted(rows),
        **{f"{k}_p50": round(common.p50([s[k] for s in stages]), 1) for k in stages[0]},
    }
    common.write_json(f"batch_now-{backend}.json", {**details, "ms": ms})
    ok = len(files) == runs + warmup and rows == {LEADS + 1}
    return [
        Result(
            "batch now 1,000 leads -> SFTP delivered (p50 ms)",
            backend,
            round(p50, 1),
            "ms",
            bar=f"p50 <= {BAR_MS:g} ms",
            passed=ok and p50 <= BAR_MS,
            details=details,
        )
    ]


def _setup(server) -> tuple[int, int, str]:
    from app.extensions import db
    from app.services import credentials
    from tests import factories

    user, camp, token = services.tenant("batchnow")
    cred = credentials.create_credential(user.enterprise_id, "bench sftp", "password", server.password)
    integ = factories.integration(
        camp,
        "SFTP feed",
        delivery_method="sftp",
        delivery=server.settings("/upload"),
        credential_id=cred.id,
    )
    ids = integ.id, camp.id
    db.session.remove()
    return ids[0], ids[1], token


def _one(client, campaign_id: int, integration_id: int, token: str, run: int) -> float:
    from app.extensions import db
    from app.models import Campaign
    from tests import factories

    factories.leads(db.session.get(Campaign, campaign_id), LEADS, prefix=f"run{run}")
    db.session.remove()
    start = time.perf_counter()
    response = client.post(
        "/api/v4/batch-manager-batch-now",
        json={"integrationIds": [integration_id]},
        headers={"Authorization": f"Bearer {token}"},
    )
    if response.status_code != 202:
        raise RuntimeError(f"batch now answered {response.status_code}: {response.get_data(as_text=True)[:300]}")
    api_ms = (time.perf_counter() - start) * 1000
    outcome = response.get_json()["data"][0]
    if outcome["status"] != "queued" or outcome["leadCount"] != LEADS:
        raise RuntimeError(f"unexpected batch now outcome {outcome}")
    status = _wait_delivered(outcome["batchId"])
    elapsed = (time.perf_counter() - start) * 1000
    if status != "delivered":
        raise RuntimeError(f"batch {outcome['batchId']} ended {status}")
    with db.engine.connect() as conn:
        created, stored, sent = conn.execute(
            text("SELECT created_at, stored_at, sent_at FROM sent_batches WHERE id = :i"), {"i": outcome["batchId"]}
        ).one()
    STAGES.append(
        {
            "api_ms": api_ms,
            "claim_to_stored_ms": _ms(stored, created),
            "stored_to_delivered_ms": _ms(sent, stored),
        }
    )
    return elapsed


STAGES: list[dict] = []


def _ms(later, earlier) -> float:
    if isinstance(later, str):  # SQLite hands back text
        from datetime import datetime

        later, earlier = datetime.fromisoformat(later), datetime.fromisoformat(earlier)
    return (later - earlier).total_seconds() * 1000


def _wait_delivered(batch_id: int, timeout: float = 60) -> str:
    from app.extensions import db

    deadline = time.monotonic() + timeout
    with db.engine.connect() as conn:
        while time.monotonic() < deadline:
            status = conn.execute(text("SELECT status FROM sent_batches WHERE id = :i"), {"i": batch_id}).scalar()
            conn.rollback()  # a fresh snapshot on the next read
            if status in ("delivered", "failed"):
                return status
            time.sleep(0.005)
    return "timeout"
