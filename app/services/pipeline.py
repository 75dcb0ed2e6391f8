"""Process one SentBatch: build -> store -> deliver. The state machine of a file.

    claimed --build+store--> stored --deliver--> delivered
        \\                      \\
         `--permanent error----`--> failed  (leads stay attached; retry/requeue are manual)

Every stage is idempotent and restartable (invariant 4): the database row says where a
batch is, each transition is a conditional UPDATE from the expected status, the file
is stored under a key made from ids (re-building writes the same key atomically), and
transports upload to a temporary name then rename (re-delivery replaces, never
duplicates). The batch's lease (app.services.lease) keeps two jobs of one batch from
running at once; a killed job's lease expires about a minute after its last heartbeat,
and the reconciler then hands the batch to a new job.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import BinaryIO

from flask import current_app
from rq.timeouts import JobTimeoutException
from sqlalchemy import Row, Update, bindparam, inspect, select
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from app.errors import DeliveryError, DomainError
from app.extensions import db
from app.models import BatchCsvIntegration, BatchStatus, SentBatch
from app.models.types import utcnow
from app.services import alerts, copy_csv, integration_health
from app.services import lease as leases
from app.services.credentials import protection_secret_for, secret_for
from app.services.files import FileSettings, inner_file_name, render_file_name
from app.services.lease import Lease, LeaseLost
from app.services.storage import StoredFileUnreadable, get_store
from app.services.transports import DeliverySource, get_transport

log = logging.getLogger(__name__)

MAX_ERROR = 2000


class RetryLater(Exception):
    """A transient failure with RQ retries left: the job raises it so RQ retries with backoff."""


def process_batch(batch_id: int, *, final_attempt: bool = True, retry_in: int | None = None) -> str:
    """Take a batch as far as it goes; returns its status ("busy" if another job holds it).

    A transient delivery error raises RetryLater when `final_attempt` is False (RQ then
    retries the job with backoff, `retry_in` seconds later, which the row records for the
    Jobs view); on the final attempt the batch is marked failed.
    """
    lease = leases.acquire(batch_id)
    if lease is None:
        batch = db.session.get(SentBatch, batch_id)
        if batch is None:
            log.warning("batch %s does not exist", batch_id)
            return "missing"
        if batch.in_flight:
            log.info("batch %s is being processed by another job", batch_id)
            return "busy"
        return batch.status
    return process_leased(lease, final_attempt=final_attempt, retry_in=retry_in)


def process_leased(
    lease: Lease, *, final_attempt: bool = True, retry_in: int | None = None, held: SentBatch | None = None
) -> str:
    """process_batch for a batch whose lease this job already holds (taken with its claim).

    `held`: the batch as the claim left it in this session (lease.LeaseOffer.kept), used
    as it is when it and its integration are still loaded (_held), else read again.
    """
    batch_id = lease.batch_id
    lease.start()
    try:
        batch = _held(held, batch_id) or _load(batch_id)
        known: str | None = None  # the status our own last write proved, so the row is not read again
        try:
            counted = False
            if batch.status == BatchStatus.CLAIMED.value:
                counted = _build_and_store(batch, lease)
            if batch.status == BatchStatus.STORED.value:
                known = _deliver(batch, lease, just_stored=counted)
        except (RetryLater, LeaseLost):
            raise
        except Exception as exc:
            settle_failure(lease, exc, final_attempt=final_attempt, retry_in=retry_in)
        if known is not None:
            return known
        db.session.refresh(batch)
        return batch.status
    except LeaseLost as exc:
        # Another job has (or may now take) the batch: leave its state to that job. The
        # lease is left to expire (release() frees only a valid one), so the reconciler
        # re-enqueues the batch within a lease if nobody has taken it yet.
        db.session.rollback()
        log.warning("batch %s: %s; leaving it to the next job", batch_id, exc)
        return "lost"
    finally:
        db.session.rollback()
        # A rollback outside a transaction expires nothing, and _commit_keeping left the batch
        # and integration unexpired: no read of this job outlives it (a group job sends many
        # files in one session).
        db.session.expire_all()
        lease.release()


def settle_failure(lease: Lease, exc: Exception, *, final_attempt: bool, retry_in: int | None) -> None:
    """What a failed build or delivery leaves on its batch: a retry noted (RetryLater raised) or failed.

    LeaseLost instead when the lease lapsed meanwhile (a transport may wrap the LeaseLost
    its upload stream raised). Rolls back first: the caller's transaction has failed.
    """
    db.session.rollback()
    if not lease.valid:
        raise LeaseLost(f"batch {lease.batch_id}: the lease lapsed during the send") from exc
    transient = not isinstance(exc, DomainError) or (isinstance(exc, DeliveryError) and exc.transient)
    message = _message(exc)
    if transient and not final_attempt:
        _note_error(lease, message, retry_in)
        raise RetryLater(message) from exc
    _fail(lease, message)
    log.warning("batch %s failed: %s", lease.batch_id, message)


def _message(exc: Exception) -> str:
    if isinstance(exc, JobTimeoutException):
        return f"the send took longer than the job timeout ({current_app.config['SEND_JOB_TIMEOUT']} s)"
    if isinstance(exc, DomainError):
        text = exc.message
        if isinstance(exc.details, dict) and exc.details:
            text += ": " + "; ".join(f"{k}: {', '.join(map(str, v))}" for k, v in exc.details.items())
    else:
        # Unexpected errors: the type and text, which carry no secret (secrets never
        # reach exception messages in our transports), for the people reading the row.
        text = f"internal error ({type(exc).__name__}): {exc}"
    return text[:MAX_ERROR]


def _load(batch_id: int) -> SentBatch:
    """The batch with its integration, in one query (the claim's commit expired both)."""
    return db.session.execute(
        select(SentBatch)
        .options(joinedload(SentBatch.integration))
        .where(SentBatch.id == batch_id)
        .execution_options(populate_existing=True)
    ).scalar_one()


def _held(batch: SentBatch | None, batch_id: int) -> SentBatch | None:
    """`batch` if this session holds it and its integration fully loaded, else None (read them again).

    A scheduled send's claim commits without expiring the batch it inserted and the
    integration it read under the row lock (sending._commit_unexpired), and the lease was
    taken in that transaction, so no other writer has touched the batch since: reading
    both back would only repeat them (one query and ~1.4 ms of ORM loading per file).
    """
    if batch is None or batch.id != batch_id or batch not in db.session:
        return None
    state = inspect(batch)
    if state.expired_attributes:
        return None
    # The columns the claim's INSERT left out hold NULL: they have no default of either kind.
    columns = state.mapper.columns
    unset = [key for key in state.unloaded if key in columns]
    if any(columns[key].default is not None or columns[key].server_default is not None for key in unset):
        return None
    for key in unset:
        set_committed_value(batch, key, None)
    integration = db.session.identity_map.get(db.session.identity_key(BatchCsvIntegration, batch.integration_id))
    if integration is None:
        return None
    loaded = inspect(integration)
    if loaded.expired_attributes or any(key in loaded.mapper.columns for key in loaded.unloaded):
        return None
    return batch


def _commit_keeping(batch: SentBatch, row: Row) -> None:
    """Commit, keeping the loaded batch and integration as they are, with `row` written on the batch.

    `row` is what our own conditional UPDATE wrote (its RETURNING), and the lease keeps
    every other writer off the batch, so reading it back would only repeat these values.
    The integration stays as read at the start of this job (its delivery settings are
    used for the delivery this job counted). The job's last commit (or rollback) expires
    everything as usual.
    """
    for key, value in row._mapping.items():
        set_committed_value(batch, key, value)
    leases.commit_keeping_rows()


def _mine(lease: Lease):
    """The WHERE clause of a write only the lease holder may make."""
    table = SentBatch.__table__
    return (table.c.id == lease.batch_id) & (table.c.lease_owner == lease.token)


def _transition(lease: Lease, expected: str, *, count_attempt: bool = False, **values) -> Row | None:
    """Move a batch from `expected` to new values (not committed); `count_attempt`: attempts + 1 too.

    Returns the values as written (RETURNING), or None if someone else moved it first.
    """
    values["updated_at"] = utcnow()
    statement = _transition_statement(expected, tuple(values), count_attempt)
    params = {f"new_{key}": value for key, value in values.items()}
    return db.session.execute(statement, {"batch_id": lease.batch_id, "token": lease.token, **params}).first()


@functools.lru_cache(maxsize=64)
def _transition_statement(expected: str, keys: tuple[str, ...], count_attempt: bool) -> Update:
    """The UPDATE of _transition, built once per shape with bind parameters.

    Built afresh per call, this statement and its cache key cost ~0.6 ms of CPU a file's
    transition (two per file); a statement object keeps its cache key, so SQLAlchemy
    finds the compiled form at once.
    """
    table = SentBatch.__table__
    values = {key: bindparam(f"new_{key}", type_=table.c[key].type) for key in keys}
    if count_attempt:
        values["attempts"] = table.c.attempts + 1
    return (
        table.update()
        .where(
            table.c.id == bindparam("batch_id"),
            table.c.lease_owner == bindparam("token"),
            table.c.status == expected,
        )
        .values(**values)
        .returning(*(table.c[key] for key in values))
    )


def _note_error(lease: Lease, message: str, retry_in: int | None) -> None:
    table = SentBatch.__table__
    now = utcnow()
    next_at = now + timedelta(seconds=retry_in) if retry_in is not None else None
    db.session.execute(
        table.update().where(_mine(lease)).values(last_error=message, next_attempt_at=next_at, updated_at=now)
    )
    db.session.commit()


def _fail(lease: Lease, message: str) -> None:
    table = SentBatch.__table__
    failed = db.session.execute(
        table.update()
        .where(_mine(lease), table.c.status.in_((BatchStatus.CLAIMED.value, BatchStatus.STORED.value)))
        .values(status=BatchStatus.FAILED.value, last_error=message, next_attempt_at=None, updated_at=utcnow())
    ).rowcount
    # The failure streak, auto-pause and alerts commit with the failure itself.
    events = integration_health.file_failed(lease.batch_id) if failed else []
    db.session.commit()
    alerts.dispatch(events)


def _build_and_store(batch: SentBatch, lease: Lease) -> bool:
    """Build and store the file; True when its delivery attempt was counted with it (one commit)."""
    values = stored_values(batch, lease)
    # The delivery that follows at once is counted with the store, in one commit (the attempt
    # is still counted before it starts, so a crash mid-upload shows).
    counted = "delivery_method" in values
    stored_row = _transition(lease, BatchStatus.CLAIMED.value, count_attempt=counted, **values)
    if stored_row is not None:
        _commit_keeping(batch, stored_row)
    else:
        db.session.commit()
        db.session.refresh(batch)
    return counted


def stored_values(batch: SentBatch, lease: Lease) -> dict:
    """Build the claimed batch's file into the store; the values its move to stored writes (not written).

    With `delivery_method` among them when the integration still exists: the delivery that
    follows is then counted with the store (attempts + 1 in the same UPDATE).
    """
    integration = db.session.get(BatchCsvIntegration, batch.integration_id)
    settings = FileSettings.from_snapshot(batch.file_settings)
    # Named from the claim time, so a rebuild after a crash gives the same name and bytes.
    file_name = render_file_name(
        settings,
        advertiser_id=batch.advertiser_id,
        campaign_id=batch.campaign_id,
        integration_id=batch.integration_id,
        batch_id=batch.id,
        label=batch.label,
        sent_at=batch.created_at,
        timezone=integration.timezone if integration else "UTC",
    )
    protection_secret = None
    if settings.protection != "none":
        if integration is None:
            raise DeliveryError("the integration of a protected file no longer exists", transient=False)
        protection_secret = protection_secret_for(integration, settings.protection)
    store = get_store()
    key = store.key_for(batch.enterprise_id, batch.id, file_name)
    store.discard_temp_files(key)  # left by a killed attempt; we hold the lease, so nobody writes there
    stored, rows = copy_csv.build_and_store_batch(
        batch,
        settings,
        store,
        key,
        member_name=inner_file_name(file_name),
        protection_secret=protection_secret,
        guard=lease.guard,
    )
    if rows != batch.lead_count:
        raise DeliveryError(f"the file has {rows} rows but the batch holds {batch.lead_count} leads", transient=False)
    return {
        "status": BatchStatus.STORED.value,
        "file_name": file_name,
        "storage_key": stored.key,
        "size_bytes": stored.size,
        "sha256": stored.sha256,
        "row_count": rows,
        "stored_at": utcnow(),
        **({"delivery_method": integration.delivery_method} if integration is not None else {}),
    }


def _attempt_values(integration: BatchCsvIntegration) -> dict:
    return {"attempts": SentBatch.__table__.c.attempts + 1, "delivery_method": integration.delivery_method}


def _deliver(batch: SentBatch, lease: Lease, *, just_stored: bool = False) -> str | None:
    """Deliver the stored file; `just_stored`: this job wrote it (and counted the attempt) a moment ago.

    Returns "delivered" when this job delivered it, else None (someone else moved the batch).
    """
    store = get_store()
    if not just_stored:
        # Invariant 3: what goes out is exactly what was recorded. A file this job has just
        # written was hashed and measured by the writer itself; reading it again proves
        # nothing more (the destination's reported size is still checked below).
        _verify_stored(batch, store)
    integration = db.session.get(BatchCsvIntegration, batch.integration_id)
    send = delivery(batch, lease, integration)
    if not just_stored:
        # The attempt is counted before it starts, so a crash mid-upload still shows.
        table = SentBatch.__table__
        counted = db.session.execute(
            table.update()
            .where(_mine(lease))
            .values(updated_at=utcnow(), **_attempt_values(integration))
            .returning(table.c.attempts, table.c.delivery_method, table.c.updated_at)
        ).first()
        if counted is not None:
            _commit_keeping(batch, counted)
        else:
            db.session.commit()
    send()
    now = utcnow()
    # Delivered, the integration's last send and health, and the lease freed: one commit.
    delivered = _transition(
        lease,
        BatchStatus.STORED.value,
        status=BatchStatus.DELIVERED.value,
        sent_at=now,
        last_error=None,
        next_attempt_at=None,
        **leases.FREE,
    )
    if delivered is None:
        db.session.commit()
        return None
    events = integration_health.file_delivered(batch, sent_at=now)
    db.session.commit()
    lease.mark_freed()
    alerts.dispatch(events)
    return BatchStatus.DELIVERED.value


def delivery(batch: SentBatch, lease: Lease, integration: BatchCsvIntegration) -> Callable[[], None]:
    """The upload of the stored file to the integration's destination, ready to call; it writes no row.

    Transport and secret are resolved here, before the caller counts the attempt; the call
    raises DeliveryError when the destination does not hold what was stored.
    """
    store = get_store()
    transport = get_transport(integration.delivery_method)
    secret = secret_for(integration)
    key = batch.storage_key

    def opener() -> BinaryIO:
        return lease.guard_stream(store.open(key))  # type: ignore[return-value]

    source = DeliverySource(
        file_name=batch.file_name,
        size=batch.size_bytes,
        sha256=batch.sha256,
        opener=opener,
        batch_id=batch.id,
        enterprise_id=batch.enterprise_id,
        lead_count=batch.lead_count,
        advertiser_id=batch.advertiser_id,
        campaign_id=batch.campaign_id,
        integration_id=batch.integration_id,
        label=batch.label,
        sent_at=batch.created_at,
        timezone=integration.timezone,
    )
    settings = dict(integration.delivery or {})

    def send() -> None:
        receipt = transport.deliver(source, settings, secret)
        # Invariant 3: the size the destination reports holding must be the stored size. E-mail (and
        # an FTP server without SIZE) cannot report one (remote_size None): there the guard is the
        # server accepting the whole message or transfer, and nothing more is claimed.
        if receipt.remote_size is not None and receipt.remote_size != batch.size_bytes:
            raise DeliveryError(
                f"the destination reports {receipt.remote_size} bytes for {batch.file_name}, "
                f"but the file has {batch.size_bytes}",
                transient=True,
            )

    return send


def _verify_stored(batch: SentBatch, store) -> None:
    if not batch.storage_key or not store.exists(batch.storage_key):
        raise DeliveryError(f"the stored file of batch {batch.id} is missing", transient=False)
    try:
        size = store.size(batch.storage_key)
        matches = size == batch.size_bytes and store.sha256(batch.storage_key) == batch.sha256
    except StoredFileUnreadable as exc:
        raise DeliveryError(f"the stored file of batch {batch.id} cannot be read: {exc}", transient=False) from None
    if not matches:
        raise DeliveryError(f"the stored file of batch {batch.id} does not match its recorded checksum", False)
