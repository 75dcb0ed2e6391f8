"""RQ workers that run every job inside the Flask app context.

The app is built once per worker process (like Redash's `cli/rq.py`). Two modes
(config WORKER_MODE, README "Workers"):

simple (default)  AppWorkerPool: a parent process keeps WORKER_PROCESSES long-lived
                  worker processes, forked once each, and starts a new one when one
                  dies. Each runs its jobs in its own process (RQ's SimpleWorker), so a
                  job pays no fork, no import and no SQL compilation (SQLAlchemy's
                  compiled cache lives as long as the process). The job timeout is RQ's
                  SIGALRM death penalty in the process's main thread.
fork              AppWorker: RQ's forking Worker, a work horse per job, which drops the
                  database connections it inherited so no socket is shared between
                  processes.
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
from collections.abc import Sequence

from flask import Flask
from rq import Queue, SimpleWorker, Worker
from rq.timeouts import TimerDeathPenalty
from rq.worker_pool import ForkProcess, WorkerPool

from app.extensions import db
from app.services.queueing import DEFAULT_QUEUES

# The job modules, imported with the worker so it loads them (and through their top-level
# imports the pipeline, fsspec and paramiko) once, before it forks: a work horse importing
# them itself spent ~0.5 s of each 1,000-lead send.
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
    """WORKER_MODE=fork: forks a work horse per job, and waits out Redis outages."""


class AppSimpleWorker(AppContextMixin, SimpleWorker):
    """Runs jobs in this process (tests, and a thread-safe death penalty for non-main threads)."""


class AppLongLivedWorker(RedisOutageMixin, AppContextMixin, SimpleWorker):
    """WORKER_MODE=simple: one process of the pool, running each job itself; waits out Redis outages."""

    def perform_job(self, job, queue) -> bool:  # type: ignore[override]
        # The job has started: after a Redis error it is not put back on the queue
        # (RedisOutageMixin.execute_job); the database knows what it did.
        self._forked = True
        return super().perform_job(job, queue)


def make_worker(app: Flask, queues: Sequence[str] | None = None, *, simple: bool = False, **kwargs) -> Worker:
    """A worker for `queues` (default: tick, alerts, send) bound to `app` and its Redis.

    simple=True: AppSimpleWorker (tests, the CLI's --simple); otherwise the worker of
    WORKER_MODE's one process (AppLongLivedWorker or AppWorker).
    """
    connection = app.extensions["redis"]
    if simple:
        worker_class = AppSimpleWorker
    else:
        worker_class = AppLongLivedWorker if app.config.get("WORKER_MODE", "simple") == "simple" else AppWorker
    worker = worker_class(
        [Queue(name, connection=connection) for name in (queues or DEFAULT_QUEUES)], connection=connection, **kwargs
    )
    worker.app = app
    return worker


def run_burst(app: Flask, queues: Sequence[str] | None = None, *, in_thread: bool = False) -> bool:
    """Run every queued job in this process until the queues are empty (tests, the CLI)."""
    worker = make_worker(app, queues, simple=True)
    if in_thread:
        worker.death_penalty_class = TimerDeathPenalty  # SIGALRM only works in the main thread
    return worker.work(burst=True, with_scheduler=False)


# prctl(2) option: the signal this process gets when the thread that forked it dies.
PR_SET_PDEATHSIG = 1


def _stop_with_parent(parent_pid: int) -> None:
    """SIGTERM this pool process when its parent dies, so it finishes the job in hand and exits.

    A parent killed with -9 (the OOM killer, a supervisor's last resort) cannot stop its pool;
    without this, each pool process lived on as a worker nobody managed (a restarted parent
    then ran beside it). Linux only (prctl); the parent forks from its main thread, which
    lives as long as it does.
    """
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != parent_pid:  # it died before the prctl took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _run_pool_process(
    app: Flask, queues: Sequence[str], name: str, burst: bool, with_scheduler: bool, level: str, parent_pid: int
):
    """The body of one pool process: its own database connections, then jobs until told to stop."""
    # The parent's stop handlers are the parent's; RQ's worker installs this process's own.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    _stop_with_parent(parent_pid)
    with app.app_context():
        db.engine.dispose(close=False)  # connections inherited from the parent stay the parent's
    worker = make_worker(app, queues, name=name)
    worker.log.info("Worker %s: long-lived worker process %s started", name, os.getpid())
    worker.work(burst=burst, with_scheduler=with_scheduler, logging_level=level)


class AppWorkerPool(WorkerPool):
    """RQ's WorkerPool of AppLongLivedWorker processes, forked from this process (which has
    the app and every job module loaded). A process that dies (killed, out of memory) is
    started again within a second; its batch's lease expires and the reconciler hands the
    batch to another job, as for a killed work horse. SIGTERM or SIGINT: each process
    finishes its job (a warm shutdown), then the pool exits. The parent itself killed
    (-9): each process gets SIGTERM (_stop_with_parent) and does the same."""

    def __init__(self, app: Flask, queues: Sequence[str] | None, num_workers: int, with_scheduler: bool) -> None:
        super().__init__(list(queues or DEFAULT_QUEUES), connection=app.extensions["redis"], num_workers=num_workers)
        self.app = app
        self.with_scheduler = with_scheduler
        # From now on, not only once the processes are started (RQ installs them after): a
        # stop that arrives meanwhile is a clean stop, not death by SIGTERM.
        self._install_signal_handlers()

    def get_worker_process(self, name: str, burst: bool, _sleep: float = 0, logging_level: str = "INFO"):
        return ForkProcess(
            target=_run_pool_process,
            args=(self.app, self._queue_names, name, burst, self.with_scheduler, logging_level, os.getpid()),
            name=f"Worker {name} (WorkerPool {self.name})",
        )
