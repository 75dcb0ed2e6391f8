"""The admin's home page in numbers, for one enterprise: files and leads delivered and files
failed per UTC day (last 30 days), sends scheduled in the next 24 hours, integrations whose
last file failed or that are switched off with leads waiting, and the largest pending queues.

Every query is bounded by an index that starts with enterprise_id (or by integration id for
the few integrations with recent failures), so the page stays fast at 200,000 files.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from sqlalchemy import ColumnElement, func, select

from app.extensions import db
from app.models import BatchCsvIntegration, BatchStatus, Campaign, SentBatch
from app.models.types import utcnow

DAYS = 30
TOP = 10
# The timeline lists this many sends by name; the hourly bars count all of them.
TIMELINE_ROWS = 20
# Integrations with a failed file in this window are candidates for "failing".
FAILING_WINDOW = timedelta(days=30)


@dataclass
class Day:
    day: date
    files: int = 0
    leads: int = 0
    failed: int = 0


@dataclass
class QueueRow:
    integration_id: int
    label: str
    campaign_name: str
    pending_count: int
    next_run_at: datetime | None
    enabled: bool = True


@dataclass
class FailingRow:
    integration_id: int
    label: str
    campaign_name: str
    enabled: bool
    pending_count: int
    # The last file's status and time; "disabled" rows may have delivered fine.
    last_status: str | None
    last_at: datetime | None
    failed_in_a_row: int


@dataclass
class Dashboard:
    now: datetime
    days: list[Day]
    hours: list[tuple[datetime, int]]
    scheduled: list[QueueRow]
    scheduled_total: int
    failing: list[FailingRow]
    failing_total: int
    largest: list[QueueRow]
    pending_total: int
    totals: dict[str, int] = field(default_factory=dict)


def _utc_day(column) -> ColumnElement:
    """The UTC calendar day of a UtcDateTime column, as 'YYYY-MM-DD' text on both backends."""
    if db.session.get_bind().dialect.name == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.substr(column, 1, 10)  # SQLite stores UTC text 'YYYY-MM-DD HH:MM:SS'


def build(enterprise_id: int, now: datetime | None = None) -> Dashboard:
    """Everything the dashboard shows for `enterprise_id`."""
    now = now or utcnow()
    today = now.date()
    days = {today - timedelta(days=n): Day(today - timedelta(days=n)) for n in range(DAYS - 1, -1, -1)}
    since = datetime.combine(today - timedelta(days=DAYS - 1), datetime.min.time(), tzinfo=now.tzinfo)
    delivered = _utc_day(SentBatch.sent_at)
    for day, files, leads in db.session.execute(
        select(delivered, func.count(), func.coalesce(func.sum(SentBatch.lead_count), 0))
        .where(SentBatch.enterprise_id == enterprise_id, SentBatch.sent_at >= since)
        .where(SentBatch.status == BatchStatus.DELIVERED.value)
        .group_by(delivered)
    ):
        if (bucket := days.get(date.fromisoformat(day))) is not None:
            bucket.files, bucket.leads = files, int(leads)
    # A failed file's last change is its last failed attempt; (enterprise, status, updated_at) is indexed.
    failed_on = _utc_day(SentBatch.updated_at)
    for day, failed in db.session.execute(
        select(failed_on, func.count())
        .where(SentBatch.enterprise_id == enterprise_id, SentBatch.status == BatchStatus.FAILED.value)
        .where(SentBatch.updated_at >= since)
        .group_by(failed_on)
    ):
        if (bucket := days.get(date.fromisoformat(day))) is not None:
            bucket.failed = failed
    hours, scheduled, scheduled_total = _scheduled(enterprise_id, now)
    failing, failing_total = _failing(enterprise_id, now)
    largest = _queues(
        select(BatchCsvIntegration)
        .where(BatchCsvIntegration.enterprise_id == enterprise_id, BatchCsvIntegration.enabled.is_(True))
        .where(BatchCsvIntegration.pending_count > 0)
        .order_by(BatchCsvIntegration.pending_count.desc(), BatchCsvIntegration.id)
        .limit(TOP)
    )
    pending_total = db.session.scalar(
        select(func.coalesce(func.sum(BatchCsvIntegration.pending_count), 0)).where(
            BatchCsvIntegration.enterprise_id == enterprise_id, BatchCsvIntegration.enabled.is_(True)
        )
    )
    board = Dashboard(
        now=now,
        days=list(days.values()),
        hours=hours,
        scheduled=scheduled,
        scheduled_total=scheduled_total,
        failing=failing,
        failing_total=failing_total,
        largest=largest,
        pending_total=int(pending_total or 0),
    )
    board.totals = {
        "files": sum(d.files for d in board.days),
        "leads": sum(d.leads for d in board.days),
        "failed": sum(d.failed for d in board.days),
    }
    return board


def _queues(query) -> list[QueueRow]:
    rows = db.session.execute(query.add_columns(Campaign.name).join(Campaign)).all()
    return [
        QueueRow(i.id, i.label, campaign_name, i.pending_count, i.next_run_at, i.enabled) for i, campaign_name in rows
    ]


def _scheduled(enterprise_id: int, now: datetime) -> tuple[list[tuple[datetime, int]], list[QueueRow], int]:
    """Sends due in the next 24 hours with leads waiting: (per hour, the first ones, how many)."""
    # 24 whole UTC hours from the current one, so each hour's bar is one filter of the Pending table.
    start = now.replace(minute=0, second=0, microsecond=0)
    due = (
        BatchCsvIntegration.enterprise_id == enterprise_id,
        BatchCsvIntegration.enabled.is_(True),
        BatchCsvIntegration.next_run_at >= start,
        BatchCsvIntegration.next_run_at < start + timedelta(hours=24),
        # As the Pending table counts them (it lists integrations with leads waiting), so each
        # hour's bar links to exactly its rows there.
        BatchCsvIntegration.pending_count > 0,
    )
    per_hour = dict.fromkeys((start + timedelta(hours=h) for h in range(24)), 0)
    for (when,) in db.session.execute(select(BatchCsvIntegration.next_run_at).where(*due)):
        per_hour[when.replace(minute=0, second=0, microsecond=0)] += 1
    first = _queues(
        select(BatchCsvIntegration)
        .where(*due)
        .order_by(BatchCsvIntegration.next_run_at, BatchCsvIntegration.id)
        .limit(TIMELINE_ROWS)
    )
    return list(per_hour.items()), first, sum(per_hour.values())


def _failing(enterprise_id: int, now: datetime) -> tuple[list[FailingRow], int]:
    """Integrations whose latest file failed, and switched-off ones with leads waiting: the TOP
    most recently failed (with their failure streak) and how many there are in all."""
    recent = (
        select(SentBatch.integration_id)
        .where(SentBatch.enterprise_id == enterprise_id, SentBatch.status == BatchStatus.FAILED.value)
        .where(SentBatch.updated_at >= now - FAILING_WINDOW)
        .distinct()
    )
    off = set(
        db.session.scalars(
            select(BatchCsvIntegration.id).where(
                BatchCsvIntegration.enterprise_id == enterprise_id,
                BatchCsvIntegration.enabled.is_(False),
                BatchCsvIntegration.pending_count > 0,
            )
        )
    )
    candidates = set(db.session.scalars(recent)) | off
    if not candidates:
        return [], 0
    # Each candidate's latest file: max(id) per integration reads ix_sent_integration only.
    latest_ids = (
        select(func.max(SentBatch.id))
        .where(SentBatch.integration_id.in_(candidates))
        .group_by(SentBatch.integration_id)
    )
    last = {
        integration_id: (status, updated_at)
        for integration_id, status, updated_at in db.session.execute(
            select(SentBatch.integration_id, SentBatch.status, SentBatch.updated_at).where(SentBatch.id.in_(latest_ids))
        )
    }
    failing = [i for i in candidates if i in off or last.get(i, ("",))[0] == BatchStatus.FAILED.value]
    failing.sort(key=lambda i: (last[i][1] if i in last else now, i), reverse=True)
    shown = failing[:TOP]
    if not shown:
        return [], 0
    # The failure streak of the shown ones: their last TOP files, in one statement.
    rank = func.row_number().over(partition_by=SentBatch.integration_id, order_by=SentBatch.id.desc()).label("n")
    files = (
        select(SentBatch.integration_id, SentBatch.status, rank).where(SentBatch.integration_id.in_(shown)).subquery()
    )
    history: dict[int, list[str]] = {}
    for integration_id, status, _n in db.session.execute(
        select(files).where(files.c.n <= TOP).order_by(files.c.integration_id, files.c.n)
    ):
        history.setdefault(integration_id, []).append(status)
    found = {
        integ.id: (integ, campaign_name)
        for integ, campaign_name in db.session.execute(
            select(BatchCsvIntegration, Campaign.name).join(Campaign).where(BatchCsvIntegration.id.in_(shown))
        )
    }
    rows = []
    for integration_id in shown:
        integ, campaign_name = found[integration_id]
        statuses = history.get(integration_id, [])
        in_a_row = next((n for n, status in enumerate(statuses) if status != BatchStatus.FAILED.value), len(statuses))
        last_status, last_at = last.get(integration_id, (None, None))
        rows.append(
            FailingRow(
                integ.id, integ.label, campaign_name, integ.enabled, integ.pending_count, last_status, last_at, in_a_row
            )
        )
    return rows, len(failing)
