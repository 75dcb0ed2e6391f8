"""Helpers shared by the engine tests (sending, pipeline, scheduler, reconciler, invariants)."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import threading
from pathlib import Path

from flask import current_app
from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, QueueEntry, SentBatch
from jobs.worker import run_burst

ROOT = Path(__file__).resolve().parent.parent


def drain(queues=None) -> None:
    """Run every queued job in this process until the queues are empty."""
    db.session.commit()
    run_burst(current_app._get_current_object(), queues)
    db.session.expire_all()


def batches(integration_id: int | None = None) -> list[SentBatch]:
    db.session.expire_all()
    query = select(SentBatch).order_by(SentBatch.id)
    if integration_id is not None:
        query = query.where(SentBatch.integration_id == integration_id)
    return list(db.session.scalars(query))


def files_holding(integration_id: int) -> dict[int, list[int]]:
    """Each queue entry of the integration -> the files whose id range holds it.

    Read from the rows themselves, not through app.services.queue_files: exactly once means
    one file for every claimed entry, none for a pending one.
    """
    db.session.expire_all()
    ranges = db.session.execute(
        select(SentBatch.id, SentBatch.entries_after, SentBatch.entries_through).where(
            SentBatch.integration_id == integration_id, SentBatch.entries_through.is_not(None)
        )
    ).all()
    entries = db.session.scalars(select(QueueEntry.id).where(QueueEntry.integration_id == integration_id))
    return {entry: [b for b, after, through in ranges if after < entry <= through] for entry in entries}


def assert_each_entry_in_one_place(integration_id: int) -> None:
    """No entry in two files; the entries in none are exactly those above claimed_through."""
    holding = files_holding(integration_id)
    assert all(len(files) <= 1 for files in holding.values()), {e: f for e, f in holding.items() if len(f) > 1}
    through = db.session.get(BatchCsvIntegration, integration_id).claimed_through
    assert {e for e, files in holding.items() if not files} == {e for e in holding if e > through}


def attached_lead_ids(batch_id: int) -> list[int]:
    batch = db.session.get(SentBatch, batch_id)
    held = [entry for entry, files in files_holding(batch.integration_id).items() if batch_id in files]
    return list(db.session.scalars(select(QueueEntry.lead_id).where(QueueEntry.id.in_(held)).order_by(QueueEntry.id)))


def pending_lead_ids(integration_id: int) -> list[int]:
    """The leads of the entries no file holds, in queue order."""
    held = [entry for entry, files in files_holding(integration_id).items() if not files]
    return list(db.session.scalars(select(QueueEntry.lead_id).where(QueueEntry.id.in_(held)).order_by(QueueEntry.id)))


def pending_count(integration_id: int) -> int:
    """The real number of pending entries (not the denormalised counter)."""
    return len(pending_lead_ids(integration_id))


def counter(integration_id: int) -> int:
    db.session.expire_all()
    return db.session.get(BatchCsvIntegration, integration_id).pending_count


def stored_bytes(batch: SentBatch) -> bytes:
    from app.services.storage import get_store

    with get_store().open(batch.storage_key) as f:
        return f.read()


def local_dir(enterprise_id: int, directory: str) -> Path:
    """Where an enterprise's local-folder deliveries land: <LOCAL_DELIVERY_ROOT>/<enterprise id>/<folder>."""
    from flask import current_app

    return Path(current_app.config["LOCAL_DELIVERY_ROOT"]) / str(enterprise_id) / directory


def delivered_files(directory: str | Path) -> list[Path]:
    """Visible files at a local destination (temporary upload names start with a dot)."""
    path = Path(directory)
    if not path.exists():
        return []
    return sorted(p for p in path.iterdir() if p.is_file() and not p.name.startswith("."))


def csv_rows(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))


def worker_env(session_dir: Path, database_url: str, redis_url: str, **extra: str) -> dict[str, str]:
    """Environment for a real `flask --app wsgi rq worker` subprocess using the test's DB, Redis and files."""
    from tests.conftest import CREDENTIAL_KEY, LOOPBACK_NETWORKS

    env = {k: v for k, v in os.environ.items() if not k.startswith(("TEST_", "BM_TEST_"))}
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "STORAGE_URL": f"file://{session_dir / 'files'}",
            "LOCAL_DELIVERY_ROOT": str(session_dir / "outbox"),
            "DELIVERY_ALLOWED_NETWORKS": LOOPBACK_NETWORKS,
            "SECRET_KEY": "test-secret",
            "CREDENTIAL_KEYS": CREDENTIAL_KEY,
            "FILE_KEYS": CREDENTIAL_KEY,
            "INSTANCE_PATH": str(session_dir / "worker-instance"),
            "RATELIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def run_worker(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """Run a real forking worker in burst mode until the queues are empty (or it is killed)."""
    return subprocess.run(
        [sys.executable, "-m", "flask", "--app", "wsgi", "rq", "worker", "--burst", "--without-scheduler", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_hooked_worker(env: dict[str, str], *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """run_worker with the test hooks of tests/hooked_worker.py armed by HOOK_* variables in env."""
    return subprocess.run(
        [sys.executable, "-m", "tests.hooked_worker", "rq", "worker", "--burst", "--without-scheduler", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_concurrently(app, workers: list) -> list[BaseException]:
    """Start every callable in its own thread with its own app context (own DB session)."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(workers))

    def wrap(fn):
        def run():
            with app.app_context():
                try:
                    barrier.wait()
                    fn()
                except BaseException as exc:  # reported by the test
                    errors.append(exc)
                finally:
                    db.session.remove()

        return run

    threads = [threading.Thread(target=wrap(fn)) for fn in workers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return errors
