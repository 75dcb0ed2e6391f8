"""The lease of a batch: the one job allowed to work on it, kept alive by a heartbeat.

A job takes the lease with a conditional UPDATE (free, or expired) before touching a
batch, and a heartbeat thread pushes `lease_until` SEND_LEASE_SECONDS ahead every
SEND_HEARTBEAT_SECONDS while the job runs, however long the send takes. A killed work
horse stops renewing: once its lease has expired the reconciler hands the batch to a
new job, within about a minute instead of after the job timeout.

Never two jobs on one batch: the holder stops by itself (LeaseLost, raised from the
build and from the upload stream) once it has gone a lease's length minus one heartbeat
without a renewal (database away), which is before anyone may take the lease over, and
its state changes are conditional on still owning it. This holds while the clocks of
the hosts agree to within a heartbeat (NTP).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import BinaryIO, TypeVar

from flask import current_app
from sqlalchemy import or_

from app.extensions import db
from app.models import IN_FLIGHT, SentBatch
from app.models.types import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

# The values that free a batch's lease, for a holder's last write on it.
FREE = {"lease_owner": None, "lease_until": None}


class LeaseLost(Exception):
    """This job may no longer work on the batch: its lease lapsed or was taken over."""


class Lease:
    """A held lease; `start()` runs its heartbeat, `check()` raises once it is no longer safe to work."""

    def __init__(self, batch_id: int, token: str, ttl: float, interval: float, taken_at: float) -> None:
        self.batch_id = batch_id
        self.token = token
        self.ttl = ttl
        self.interval = interval
        # Local deadline, on the monotonic clock, from the start of the last renewal
        # that succeeded: one heartbeat short of lease_until, for clock skew.
        self._safe_until = taken_at + ttl - interval
        self._taken_over = False
        self._freed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def valid(self) -> bool:
        return not self._taken_over and time.monotonic() < self._safe_until

    def check(self) -> None:
        if self._taken_over:
            raise LeaseLost(f"batch {self.batch_id} was taken over by another job")
        if time.monotonic() >= self._safe_until:
            raise LeaseLost(
                f"the lease of batch {self.batch_id} could not be renewed for {self.ttl - self.interval:.0f} s"
            )

    def renew(self) -> bool:
        """Push lease_until forward; False if the lease is no longer ours (or the database is away)."""
        started = time.monotonic()
        table = SentBatch.__table__
        try:
            with db.engine.begin() as conn:
                owned = conn.execute(
                    table.update()
                    .where(table.c.id == self.batch_id, table.c.lease_owner == self.token)
                    .values(lease_until=utcnow() + timedelta(seconds=self.ttl))
                ).rowcount
        except Exception as exc:  # the database is away: keep trying until the local deadline
            log.warning("could not renew the lease of batch %s: %s", self.batch_id, exc)
            return False
        self._renewed(started, bool(owned))
        return bool(owned)

    def _renewed(self, started: float, owned: bool) -> None:
        if owned:
            self._safe_until = started + self.ttl - self.interval
        else:
            self._taken_over = True

    def _beat(self, app) -> None:
        with app.app_context():
            while not self._stop.wait(self.interval):
                if not self.renew() and self._taken_over:
                    log.warning("batch %s was taken over; this job stops", self.batch_id)
                    return

    def start(self) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._beat, args=(app,), name=f"lease-{self.batch_id}", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Stop the heartbeat, leaving the lease to expire: the reconciler then re-enqueues the batch."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def release(self) -> None:
        """Stop the heartbeat and free the batch, if the lease is still ours and valid.

        A lease that lapsed is left to expire (we cannot be sure it is still ours): the
        reconciler then re-enqueues the batch if it is still in flight.
        """
        self.stop()
        if self._freed or not self.valid:
            return
        table = SentBatch.__table__
        db.session.execute(
            table.update()
            .where(table.c.id == self.batch_id, table.c.lease_owner == self.token)
            .values(lease_owner=None, lease_until=None)
        )
        db.session.commit()

    def mark_freed(self) -> None:
        """The holder's last write freed the lease (with FREE): release() then writes nothing."""
        self._freed = True

    def guard(self, items: Iterable[T]) -> Iterator[T]:
        """Yield `items`, stopping with LeaseLost as soon as the lease is no longer safe."""
        for item in items:
            if not self.valid:
                self.check()
            yield item

    def guard_stream(self, raw: BinaryIO) -> GuardedReader:
        return GuardedReader(raw, self)


class GuardedReader:
    """A file being uploaded that stops the upload (LeaseLost) once the lease is no longer safe."""

    def __init__(self, raw: BinaryIO, lease: Lease) -> None:
        self._raw = raw
        self._lease = lease

    def read(self, size: int = -1) -> bytes:
        self._lease.check()
        return self._raw.read(size)

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __enter__(self) -> GuardedReader:
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()


class LeaseOffer:
    """A lease taken in the same transaction that creates the batch (a scheduled send's claim).

    `values()` go into the new batch row; once the claim commits, `lease(batch_id)` is the
    held lease, with its safe deadline counted from before the claim began.
    """

    def __init__(self) -> None:
        self.ttl = float(current_app.config["SEND_LEASE_SECONDS"])
        self.interval = float(current_app.config["SEND_HEARTBEAT_SECONDS"])
        self.token = uuid.uuid4().hex
        self.started = time.monotonic()
        self.until = utcnow() + timedelta(seconds=self.ttl)
        self.kept: list = []

    def keep(self, *rows) -> None:
        """Hold the rows of the claim (the batch, its integration) for the job that goes on with it.

        The session holds its clean rows only weakly; these references keep them in its
        identity map until the file's job uses them (pipeline.process_leased `held`).
        """
        self.kept = list(rows)

    def values(self) -> dict:
        return {"lease_owner": self.token, "lease_until": self.until}

    def lease(self, batch_id: int) -> Lease:
        return Lease(batch_id, self.token, self.ttl, self.interval, self.started)


class LeaseGroup:
    """The leases of a group's files (one LeaseOffer's token), renewed by ONE heartbeat.

    A scheduled group (app.services.group_send) leases all its files in its claim and then
    works through them one after another; a heartbeat per file would be a thread and a
    renewal per file. Each file keeps its own Lease (its checks, guards and conditional
    writes are per batch); this heartbeat renews those still held in one UPDATE and marks
    the ones it no longer owns as taken over. A killed worker stops it: every file of the
    group then expires together and the reconciler hands each to a process job.
    """

    def __init__(self, offer: LeaseOffer, batch_ids: Iterable[int]) -> None:
        self.leases = {batch_id: offer.lease(batch_id) for batch_id in batch_ids}
        self.interval = offer.interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _held(self) -> list[Lease]:
        return [lease for lease in self.leases.values() if not lease._freed and not lease._taken_over]

    def renew(self) -> None:
        """Push lease_until forward on every file still held (the database away: try again next beat)."""
        held = self._held()
        if not held:
            return
        started = time.monotonic()
        token = held[0].token
        table = SentBatch.__table__
        try:
            with db.engine.begin() as conn:
                owned = set(
                    conn.scalars(
                        table.update()
                        .where(table.c.id.in_([lease.batch_id for lease in held]), table.c.lease_owner == token)
                        .values(lease_until=utcnow() + timedelta(seconds=held[0].ttl))
                        .returning(table.c.id)
                    )
                )
        except Exception as exc:
            log.warning("could not renew the leases of %s batches: %s", len(held), exc)
            return
        for lease in held:
            lease._renewed(started, lease.batch_id in owned)

    def _beat(self, app) -> None:
        with app.app_context():
            while not self._stop.wait(self.interval):
                self.renew()

    def start(self) -> None:
        app = current_app._get_current_object()  # type: ignore[attr-defined]
        self._thread = threading.Thread(target=self._beat, args=(app,), name="lease-group", daemon=True)
        self._thread.start()

    def release(self) -> None:
        """Stop the heartbeat and free the files still held (each as Lease.release would), in one UPDATE."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        held = [lease for lease in self._held() if lease.valid]
        if not held:
            return
        table = SentBatch.__table__
        db.session.execute(
            table.update()
            .where(table.c.id.in_([lease.batch_id for lease in held]), table.c.lease_owner == held[0].token)
            .values(**FREE)
        )
        db.session.commit()
        for lease in held:
            lease.mark_freed()


def acquire(batch_id: int) -> Lease | None:
    """Take the batch for this job if it is in flight and nobody holds a live lease on it."""
    ttl = float(current_app.config["SEND_LEASE_SECONDS"])
    interval = float(current_app.config["SEND_HEARTBEAT_SECONDS"])
    token = uuid.uuid4().hex
    started = time.monotonic()
    now = utcnow()
    table = SentBatch.__table__
    won = db.session.execute(
        table.update()
        .where(
            table.c.id == batch_id,
            table.c.status.in_(IN_FLIGHT),
            or_(table.c.lease_until.is_(None), table.c.lease_until < now),
        )
        .values(lease_owner=token, lease_until=now + timedelta(seconds=ttl))
    ).rowcount
    db.session.commit()
    if not won:
        return None
    return Lease(batch_id, token, ttl, interval, started)


def commit_keeping_rows() -> None:
    """Commit, leaving the rows this job loaded and wrote unexpired in the session.

    For a job that holds the lease of the batches it goes on with: the lease keeps every
    other writer off them, so the rows as this job wrote them are still the truth, and
    reading them again (a query and ~1.4 ms of ORM loading per file in a herd) would only
    cost. The job's last plain commit or rollback expires everything as usual.
    """
    session = db.session()
    expire = session.expire_on_commit
    session.expire_on_commit = False
    try:
        session.commit()
    finally:
        session.expire_on_commit = expire
