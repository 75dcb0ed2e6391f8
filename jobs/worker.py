"""RQ workers that run every job inside the Flask app context.

The app is built once per worker process (like Redash's `cli/rq.py`); the forking
Worker gives each job a fresh work horse, which drops the database connections it
inherited so no socket is shared between processes.
"""

from __future__ import annotations

from collections.abc import Sequence

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty

from app.extensions import db
from app.services.queueing import DEFAULT_QUEUES

# The job modules, imported with the worker so it loads them (and through their top-level
# imports the pipeline, fsspec and paramiko) once, before it forks a work horse per job:
# a horse importing them itself spent ~0.5 s of each 1,000-lead send.
from jobs import alerts, send, tick  # noqa: F401
from jobs.outage import RedisOutageMixin


class AppContextMixin:
    app: Flask

    def perform_job(self, job, queue) -> bool:  # type: ignore[override]
        with self.app.app_context():
            if getattr(self, "_is_horse", False):
                db.engine.dispose(close=False)  # connections from the parent stay the parent's
            try:
                return super().perform_job(job, queue)  # type: ignore[misc]
            finally:
                db.session.remove()


class AppWorker(RedisOutageMixin, AppContextMixin, Worker):
    """The production worker: forks a work horse per job, and waits out Redis outages."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in this process (tests, and a thread-safe death penalty for non-main threads)."""


def make_worker(app: Flask, queues: Sequence[str] | None = None, *, simple: bool = False) -> Worker:
    """A worker for `queues` (default: tick, send) bound to `app` and its Redis."""
    connection = app.extensions["redis"]
    worker_class = AppSimpleWorker if simple else AppWorker
    worker = worker_class(
        [Queue(name, connection=connection) for name in (queues or DEFAULT_QUEUES)], connection=connection
    )
    worker.app = app
    return worker


def run_burst(app: Flask, queues: Sequence[str] | None = None, *, in_thread: bool = False) -> bool:
    """Run every queued job in this process until the queues are empty (tests, the CLI)."""
    worker = make_worker(app, queues, simple=True)
    if in_thread:
        worker.death_penalty_class = TimerDeathPenalty  # SIGALRM only works in the main thread
    return worker.work(burst=True, with_scheduler=False)
