"""Shared plumbing for the benchmarks: where the data lives, app factories, results."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import statistics
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from flask import Flask

ROOT = Path(__file__).absolute().parent.parent
RESULTS = Path(os.environ.get("BENCH_RESULTS", ROOT / "bench" / "results"))
PG_BASE = os.environ.get("BENCH_PG_BASE", "postgresql+psycopg://postgres@127.0.0.1:5432")
PG_DB = os.environ.get("BENCH_PG_DB", "bm_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
# A fixed key: the bench databases hold no real secrets, and every process of a run
# (gunicorn, workers) must agree on it.
CREDENTIAL_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"batch-manager-bench").digest()).decode()
ADMIN_EMAIL = "bench-admin@bench.example.com"
MANAGER_EMAIL = "bench-manager@bench.example.com"
PASSWORD = "bench-password-123"


def data_db_name(scale: float) -> str:
    """The generated data set's database: one per scale, so a quick run keeps the full one."""
    return PG_DB if scale == 1 else f"{PG_DB}_s{scale:g}".replace(".", "_").replace("-", "_")


def db_url(backend: str, name: str = PG_DB) -> str:
    """The database URL of a bench database: PostgreSQL by name, or a SQLite file in results/."""
    if backend == "postgresql":
        return f"{PG_BASE}/{name}"
    RESULTS.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{RESULTS / (name + '.sqlite')}"


def app_config(database_url: str, **extra) -> dict:
    """Config overrides for a bench app: its own database, Redis db, file store and outbox."""
    return {
        "SECRET_KEY": "bench-secret",
        "CREDENTIAL_KEYS": CREDENTIAL_KEY,
        "SQLALCHEMY_DATABASE_URI": database_url,
        "REDIS_URL": REDIS_URL,
        "STORAGE_URL": f"file://{RESULTS / 'files'}",
        "LOCAL_DELIVERY_ROOT": str(RESULTS / "outbox"),
        "DELIVERY_ALLOWED_NETWORKS": "127.0.0.0/8",  # the loopback SFTP server of the batch-now bench
        "RATELIMIT_ENABLED": False,
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def make_app(database_url: str, **extra) -> Flask:
    from app import create_app

    RESULTS.mkdir(parents=True, exist_ok=True)  # `make clean` removes it
    return create_app(app_config(database_url, **extra))


def ensure_pg_database(name: str, *, drop: bool = False) -> None:
    """Create (or recreate) a PostgreSQL database for the benchmarks."""
    import psycopg

    with psycopg.connect(PG_BASE.replace("postgresql+psycopg", "postgresql") + "/postgres", autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if exists and drop:
            conn.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
            exists = None
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def psycopg_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://")


@dataclass
class Result:
    """One line of the results table."""

    benchmark: str
    backend: str
    ours: float | None
    unit: str
    baseline: float | None = None
    baseline_name: str = ""
    bar: str = ""
    passed: bool | None = None
    details: dict = field(default_factory=dict)

    @property
    def ratio(self) -> float | None:
        if self.ours is None or not self.baseline:
            return None
        return self.ours / self.baseline

    def to_dict(self) -> dict:
        return {**asdict(self), "ratio": self.ratio}


def percentile(samples: list[float], pct: float) -> float:
    """The pct-th percentile (nearest rank), for small samples of latencies."""
    ordered = sorted(samples)
    if not ordered:
        return float("nan")
    rank = max(1, round(pct / 100 * len(ordered) + 0.5 - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def p50(samples: list[float]) -> float:
    return statistics.median(samples)


def timed(fn: Callable[[], object], runs: int, warmup: int = 1) -> list[float]:
    """Run fn warmup + runs times; the runs' wall times in milliseconds."""
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        out.append((time.perf_counter() - start) * 1000)
    return out


@contextmanager
def rss_sampler(interval: float = 0.01) -> Iterator[dict]:
    """Sample this process's RSS in a thread; yields a dict filled with start/peak/growth (bytes)."""
    import psutil

    proc = psutil.Process()
    stats = {"start": proc.memory_info().rss}
    stats["peak"] = stats["start"]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            stats["peak"] = max(stats["peak"], proc.memory_info().rss)
            stop.wait(interval)

    thread = threading.Thread(target=sample, daemon=True)
    thread.start()
    try:
        yield stats
    finally:
        stop.set()
        thread.join()
        stats["peak"] = max(stats["peak"], proc.memory_info().rss)
        stats["growth"] = stats["peak"] - stats["start"]


def write_json(name: str, payload: object) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / name
    path.write_text(json.dumps(payload, indent=2, default=str))
    return path
