"""Real processes for the I/O benchmarks: a fresh small database, gunicorn, an RQ worker.

Intake and batch now run against their own database (`bm_bench_io`, recreated each
run), so they never disturb the big generated data set and always start the same.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import requests

from bench import common

# Beside the data set's database (bm_bench_io by default): two checkouts benching at once with
# their own BENCH_PG_DB do not recreate each other's IO database mid-run.
IO_DB = f"{common.PG_DB}_io"


def fresh_io_app(backend: str = "postgresql"):
    """An app on a new, migrated, empty IO database."""
    from flask_migrate import upgrade

    from app.extensions import db

    if backend == "postgresql":
        common.ensure_pg_database(IO_DB, drop=True)
    else:
        path = Path(common.db_url(backend, IO_DB).removeprefix("sqlite:///"))
        for suffix in ("", "-wal", "-shm"):
            Path(str(path) + suffix).unlink(missing_ok=True)
    app = common.make_app(common.db_url(backend, IO_DB))
    with app.app_context():
        upgrade()
        db.session.remove()
    return app


def process_env(database_url: str, **extra: str) -> dict[str, str]:
    """The environment a gunicorn or worker process reads its Config from."""
    cfg = common.app_config(database_url)
    env = dict(os.environ)
    env.update(
        {
            "DATABASE_URL": database_url,
            "REDIS_URL": cfg["REDIS_URL"],
            "STORAGE_URL": cfg["STORAGE_URL"],
            "LOCAL_DELIVERY_ROOT": cfg["LOCAL_DELIVERY_ROOT"],
            "DELIVERY_ALLOWED_NETWORKS": cfg["DELIVERY_ALLOWED_NETWORKS"],
            "SECRET_KEY": cfg["SECRET_KEY"],
            "CREDENTIAL_KEYS": cfg["CREDENTIAL_KEYS"],
            "RATELIMIT_ENABLED": "false",
            "LOG_LEVEL": "WARNING",
            **extra,
        }
    )
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _bin(name: str) -> str:
    return str(Path(sys.executable).parent / name)


@contextmanager
def gunicorn(
    database_url: str,
    workers: int | None = 2,
    *,
    threads: int | None = None,
    config: bool = False,
    root: Path | None = None,
):
    """gunicorn serving wsgi:app on a loopback port; yields its base URL.

    config=True starts it as `make run` does (scripts/gunicorn.conf.py); workers/threads given
    override the config's. `root` serves another checkout (a before/after comparison).
    """
    root = root or common.ROOT
    port = free_port()
    log = open(common.RESULTS / "gunicorn.log", "w")  # noqa: SIM115 - closed below
    args = [_bin("gunicorn"), "-b", f"127.0.0.1:{port}", "--timeout", "120", "--no-control-socket"]
    if config:
        args += ["--config", str(common.ROOT / "scripts" / "gunicorn.conf.py"), "--access-logfile", "/dev/null"]
    if workers:
        args += ["-w", str(workers)]
    if threads:
        args += ["--threads", str(threads)]
    proc = subprocess.Popen(
        [*args, "wsgi:app"],
        cwd=root,
        env=process_env(database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        _wait_http(f"{base}/healthz", proc, timeout=180)  # workers boot slowly on a busy machine
        yield base
    finally:
        _stop(proc)
        log.close()


@contextmanager
def rq_worker(database_url: str):
    """One `flask --app wsgi rq worker` process (forking work horses, as in production)."""
    log = open(common.RESULTS / "worker.log", "w")  # noqa: SIM115 - closed below
    proc = subprocess.Popen(
        [_bin("flask"), "--app", "wsgi", "rq", "worker"],
        cwd=common.ROOT,
        env=process_env(database_url),
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        time.sleep(1.0)
        if proc.poll() is not None:
            raise RuntimeError(f"worker exited: {(common.RESULTS / 'worker.log').read_text()[-2000:]}")
        yield proc
    finally:
        _stop(proc)
        log.close()


def _wait_http(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{proc.args[0]} exited with {proc.returncode}")
        try:
            if requests.get(url, timeout=1).status_code < 500:
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer in {timeout}s")


def _stop(proc: subprocess.Popen) -> None:
    """Stop a process this module started (by its own pid), then wait for it."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


def tenant(prefix: str = "io"):
    """A manager with a token, an advertiser and a campaign in the IO database."""
    from app.extensions import db
    from app.models import Advertiser, Campaign
    from app.services import accounts

    user = accounts.create_user(f"{prefix}-manager@bench.example.com", "manager", f"{prefix} enterprise", "x" * 12)
    adv = Advertiser(enterprise_id=user.enterprise_id, name=f"{prefix} advertiser")
    db.session.add(adv)
    db.session.flush()
    camp = Campaign(enterprise_id=user.enterprise_id, advertiser_id=adv.id, name=f"{prefix} campaign")
    db.session.add(camp)
    db.session.commit()
    token = accounts.create_token(user, "bench")[1]
    return user, camp, token
