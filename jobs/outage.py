"""Riding out a Redis outage: the worker and the cron scheduler wait and reconnect.

RQ 2.12's Worker retries a refused connection only while it waits for a job
(`dequeue_job_and_maintain_ttl`); a Redis error anywhere else in its loop (the
heartbeat after a job, the job's status updates, maintenance, the suspension check)
or any Redis timeout ends `rq worker` ("found an unhandled exception, quitting"),
and RQ's CronScheduler has no retry at all. The overrides below wait for Redis at
those points instead, with one log line when it goes and one when it is back. The
jobs themselves need no Redis: the database holds every batch's state and lease.
"""

from __future__ import annotations

import logging
import time

from redis import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq.cron import CronScheduler

REDIS_DOWN = (RedisConnectionError, RedisTimeoutError)
# Between two pings while Redis is away: short, so work resumes soon after it is back.
MAX_PAUSE = 5.0


def wait_for_redis(connection: Redis, log: logging.Logger, who: str, error: Exception) -> None:
    """Block until Redis answers a PING, logging once when it is lost and once when it is back."""
    log.warning("%s: Redis is unreachable (%s); waiting for it", who, error)
    started = time.monotonic()
    pause = 0.5
    while True:
        time.sleep(pause)
        try:
            connection.ping()
        except REDIS_DOWN:
            pause = min(pause * 2, MAX_PAUSE)
            continue
        log.warning("%s: Redis is back after %.0f s; reconnected", who, time.monotonic() - started)
        return


class RedisOutageMixin:
    """Worker overrides: wait for Redis where RQ would quit (see the module docstring)."""

    connection: Redis
    log: logging.Logger
    name: str
    # RQ's own retry while dequeuing doubles its pause up to this (RQ's default is 60 s).
    max_connection_wait_time = MAX_PAUSE

    def _ride_out(self, error: Exception) -> None:
        if getattr(self, "_stop_requested", False):  # stopping anyway: do not wait for Redis
            raise error
        wait_for_redis(self.connection, self.log, f"Worker {self.name}", error)

    def heartbeat(self, timeout=None, pipeline=None):
        while True:
            try:
                return super().heartbeat(timeout, pipeline)  # type: ignore[misc]
            except REDIS_DOWN as exc:
                if pipeline is not None:
                    raise
                self._ride_out(exc)

    def maintain_heartbeats(self, job) -> None:
        # Called while the work horse runs: waiting here only pauses the monitoring,
        # the horse goes on (and its own timer still enforces the job timeout).
        while True:
            try:
                return super().maintain_heartbeats(job)  # type: ignore[misc]
            except REDIS_DOWN as exc:
                self._ride_out(exc)

    def check_for_suspension(self, burst: bool) -> None:
        while True:
            try:
                return super().check_for_suspension(burst)  # type: ignore[misc]
            except REDIS_DOWN as exc:
                self._ride_out(exc)

    def run_maintenance_tasks(self) -> None:
        try:
            super().run_maintenance_tasks()  # type: ignore[misc]
        except REDIS_DOWN as exc:
            self._ride_out(exc)  # the registries are cleaned next time

    def dequeue_job_and_maintain_ttl(self, timeout, max_idle_time=None):
        while True:
            try:
                return super().dequeue_job_and_maintain_ttl(timeout, max_idle_time)  # type: ignore[misc]
            except REDIS_DOWN as exc:  # RQ retries refused connections itself, not timeouts
                self._ride_out(exc)

    def execute_job(self, job, queue) -> None:
        self._forked = False
        try:
            super().execute_job(job, queue)  # type: ignore[misc]
        except REDIS_DOWN as exc:
            if getattr(self, "_horse_pid", 0):
                self.wait_for_horse()  # type: ignore[attr-defined]
            self._ride_out(exc)
            if not self._forked:  # taken off the queue but never started: put it back
                queue.enqueue_job(job)
                self.log.warning("Worker %s: job %s was put back on %s", self.name, job.id, queue.name)
            else:  # RQ may still list it as started; the database knows what the job did
                self.log.warning("Worker %s: the RQ status of job %s may be stale", self.name, job.id)

    def fork_work_horse(self, job, queue) -> None:
        self._forked = True
        super().fork_work_horse(job, queue)  # type: ignore[misc]


class OutageTolerantCronScheduler(CronScheduler):
    """RQ's CronScheduler, waiting for Redis instead of exiting when it is away."""

    _stopping = False

    def _request_stop(self, signum, frame):
        # A second stop signal (Ctrl-C after SIGTERM) must not break the clean exit of the first.
        if not self._stopping:
            self._stopping = True
            super()._request_stop(signum, frame)

    def _retrying(self, step, *args):
        while True:
            try:
                return step(*args)
            except REDIS_DOWN as exc:
                wait_for_redis(self.connection, self.log, f"CronScheduler {self.name}", exc)

    def register_birth(self) -> None:
        self._retrying(super().register_birth)

    def enqueue_jobs(self):
        # A job enqueued before the error has its time set; the retry enqueues the rest.
        return self._retrying(super().enqueue_jobs)

    def save(self, pipeline=None) -> None:
        if pipeline is not None:  # part of a caller's pipeline: the caller retries
            return super().save(pipeline)
        return self._retrying(super().save)

    def heartbeat(self) -> None:
        return self._retrying(super().heartbeat)

    def register_death(self, pipeline=None) -> None:
        try:
            super().register_death(pipeline)
        except REDIS_DOWN as exc:  # stopping anyway; its registry entry expires by itself
            self.log.warning("CronScheduler %s: could not register its stop: %s", self.name, exc)
