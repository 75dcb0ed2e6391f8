"""Empty runs: a scheduled slot that found nothing to send is recorded, and may alert.

The run is a SentBatch row with status `empty`: the send-time snapshot (advertiser,
campaign, label), the slot as `counted_at`, no leads and no file. It is never processed,
so it never counts as delivered or failed (dashboard, health streaks, auto-pause), holds
nothing to download, retry or resend, and the Sent lists hide it unless asked
(README "Empty runs"). Enterprises that chose the optional `empty_run` alert are told
once per integration and slot.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select

from app.extensions import db
from app.models import BatchCsvIntegration, BatchStatus, SentBatch, Trigger
from app.services import alerts

EMPTY = BatchStatus.EMPTY.value


def applies(trigger: str, slot_key: str | None, send_empty: bool) -> bool:
    """Only a scheduled slot is an empty run; a send-empty integration sends an empty file instead."""
    return trigger == Trigger.SCHEDULE.value and slot_key is not None and not send_empty


def record(
    integration: BatchCsvIntegration, slot_key: str, at: datetime, new_row: Callable[[], SentBatch]
) -> tuple[int, list[int | None]]:
    """Record the slot's empty run in the caller's transaction (under the integration lock).

    Returns the run's id and the alert ids to dispatch after commit. A slot run twice (RQ
    may run a job twice) finds its earlier record and raises nothing new.
    """
    earlier = db.session.scalar(
        select(SentBatch.id).where(
            SentBatch.integration_id == integration.id,
            SentBatch.status == EMPTY,
            SentBatch.counted_at == at,
        )
    )
    if earlier is not None:
        return earlier, []
    run = new_row()
    run.status = EMPTY
    run.lead_count = 0
    db.session.flush()
    event = alerts.raise_event(
        "empty_run",
        f"empty_run-{integration.id}-{slot_key}",
        integration,
        run,
        slot=_slot_words(slot_key, integration.timezone),
        slotKey=slot_key,
        slotAt=at.isoformat().replace("+00:00", "Z"),
    )
    return run.id, [event]


def _slot_words(slot_key: str, timezone: str) -> str:
    """'2026-12-01 06:00 Europe/London' from the local slot key 202612010600."""
    return f"{slot_key[:4]}-{slot_key[4:6]}-{slot_key[6:8]} {slot_key[8:10]}:{slot_key[10:12]} {timezone}"
