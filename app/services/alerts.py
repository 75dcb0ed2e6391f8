"""Alert events and their delivery: e-mail to the enterprise's recipients, signed webhooks.

An event is a row with a unique key ("file_failed-42-3"): raising the same event twice
(a job run twice, two workers racing) inserts it once, so it goes out once. Delivery is
an RQ job per event (app.services.queueing.enqueue_alert) with retries and backoff;
every try at every target is an AlertAttempt row, and a target that already took the
event is skipped when the job runs again, so a retry never sends it twice.
"""

from __future__ import annotations

import json
import logging
import smtplib
from email.message import EmailMessage

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from app.errors import DeliveryError, DomainError
from app.extensions import db
from app.models import AlertAttempt, AlertEvent, BatchCsvIntegration, SentBatch
from app.services import alert_settings, queueing, webhooks

log = logging.getLogger(__name__)

TITLES = {
    "file_failed": "File #{batch} of {label} failed",
    "integration_paused": "{label} was paused after {failures} failed files in a row",
    "integration_recovered": "{label} delivers again (file #{batch}) after {failures} failed files",
    "file_empty": "File #{batch} of {label} was empty",
    "empty_run": "{label} had nothing to send at its {slot} run (empty run #{batch})",
    "stale": "{label}: nothing sent for {days} days while {pending} leads are pending",
}
MAX_ERROR = 1000


class AlertNotDelivered(Exception):
    """Some target did not take the event; the job raises it so RQ retries with backoff."""


def raise_event(
    kind: str,
    key: str,
    integration: BatchCsvIntegration,
    batch: SentBatch | None = None,
    **facts,
) -> int | None:
    """Add the event to the caller's transaction unless its key exists; its id, or None if it did.

    Optional kinds (file_empty, empty_run, stale) are raised only for enterprises that chose them.
    The caller commits, then passes the ids to dispatch().
    """
    settings = alert_settings.get(integration.enterprise_id)
    if kind in alert_settings.OPTIONAL_EVENTS and not (settings and kind in settings.optional_events):
        return None
    if db.session.scalar(select(AlertEvent.id).where(AlertEvent.key == key)) is not None:
        return None
    words = {"label": integration.label, "batch": batch.id if batch else None, **facts}
    payload = {
        "id": key,
        "type": kind,
        "message": TITLES[kind].format(**words),
        "integration": {
            "id": integration.id,
            "label": integration.label,
            "campaignId": integration.campaign_id,
            "paused": integration.paused_at is not None,
            "consecutiveFailures": integration.consecutive_failures,
        },
        **({"file": _file(batch)} if batch else {}),
        **{k: v for k, v in facts.items() if k not in ("label",)},
    }
    event = AlertEvent(
        key=key,
        enterprise_id=integration.enterprise_id,
        kind=kind,
        integration_id=integration.id,
        batch_id=batch.id if batch else None,
        payload=payload,
    )
    try:
        with db.session.begin_nested():  # a racing twin inserted it first: keep the caller's work
            db.session.add(event)
    except IntegrityError:
        return None
    payload["createdAt"] = _iso(event.created_at)
    event.payload = dict(payload)
    return event.id


def _iso(value) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def _file(batch: SentBatch) -> dict:
    error = (batch.last_error or "").strip()
    return {
        "id": batch.id,
        "status": batch.status,
        "fileName": batch.file_name,
        "leadCount": batch.lead_count,
        "attempts": batch.attempts,
        "error": error or None,
        "url": f"{current_app.config['PUBLIC_BASE_URL']}/v2/system/campaign-lead-batch/sent-batches/view/{batch.id}",
    }


def dispatch(event_ids: list[int | None]) -> None:
    """After commit: queue the delivery of each new event whose enterprise has somewhere to send it."""
    for event_id in filter(None, event_ids):
        event = db.session.get(AlertEvent, event_id)
        if event is None or not alert_settings.has_targets(alert_settings.get(event.enterprise_id)):
            continue
        try:
            queueing.enqueue_alert(event_id)
        except Exception:  # Redis away: the event row stays, with no attempt; logged for operators
            log.exception("could not queue alert %s", event.key)


def deliver(event_id: int) -> dict:
    """Send one event to every target that has not taken it yet; AlertNotDelivered if any failed."""
    event = db.session.get(AlertEvent, event_id)
    settings = alert_settings.get(event.enterprise_id) if event else None
    if event is None or settings is None:
        return {}
    done = set(
        db.session.scalars(select(AlertAttempt.target).where(AlertAttempt.event_id == event.id, AlertAttempt.ok))
    )
    targets: list[tuple[str, str]] = []
    if settings.email_recipients:
        targets.append(("email", ", ".join(settings.email_recipients)))
    targets += [("webhook", url) for url in settings.webhook_urls]
    results = {}
    for channel, target in targets:
        if target in done:
            results[target] = "already sent"
            continue
        attempt = AlertAttempt(event_id=event.id, channel=channel, target=target[:600])
        try:
            if channel == "email":
                _email(event, settings.email_recipients)
            else:
                attempt.status_code = _webhook(event, target, settings)
            attempt.ok = True
        except DomainError as exc:
            attempt.error = exc.message[:MAX_ERROR]
        except Exception as exc:  # recorded for the admin page; the job retries
            attempt.error = f"internal error ({type(exc).__name__})"
            log.exception("alert %s to %s", event.key, target)
        db.session.add(attempt)
        db.session.commit()
        results[target] = "sent" if attempt.ok else attempt.error
    failed = [t for t, r in results.items() if r not in ("sent", "already sent")]
    if failed:
        raise AlertNotDelivered(f"alert {event.key} not taken by {len(failed)} target(s)")
    return results


def _body(event: AlertEvent) -> bytes:
    return json.dumps(event.payload, sort_keys=True, separators=(",", ":")).encode()


def _webhook(event: AlertEvent, url: str, settings) -> int:
    secret = alert_settings.webhook_secret(settings)
    status = webhooks.post(
        url, _body(event), secret, {"X-BatchManager-Event": event.kind, "X-BatchManager-Event-Id": event.key}
    )
    if not 200 <= status < 300:
        raise DeliveryError(f"webhook answered HTTP {status}", transient=True)
    return status


def _email(event: AlertEvent, recipients: list[str]) -> None:
    from app.services.transports.email import open_smtp, parse_smtp_url

    payload = event.payload
    message = EmailMessage()
    message["From"] = current_app.config.get("SMTP_FROM") or "batch-manager@localhost"
    message["To"] = ", ".join(recipients)
    message["Subject"] = f"[Batch Manager] {payload['message']}"
    message["X-BatchManager-Event-Id"] = event.key
    lines = [payload["message"], ""]
    if "slot" in payload:  # an empty run: the scheduled slot that found nothing pending
        lines += [f"Scheduled slot: {payload['slot']} ({payload['slotAt']} UTC); nothing was pending, no file was sent"]
    if "file" in payload:
        file = payload["file"]
        lines += [f"File #{file['id']}: {file['status']}, {file['leadCount']} leads, {file['attempts']} attempts"]
        if file.get("error"):
            lines += [f"Error: {file['error']}"]
        lines += [f"Details: {file['url']}"]
    integration = payload["integration"]
    lines += [
        f"Integration #{integration['id']} ({integration['label']}): "
        + ("paused" if integration["paused"] else "active")
        + f", {integration['consecutiveFailures']} failed files in a row",
        "",
        f"Event id: {event.key}",
    ]
    message.set_content("\n".join(lines))
    server = parse_smtp_url(current_app.config.get("SMTP_URL", ""))
    with open_smtp(server) as smtp:
        try:
            smtp.send_message(message)
        except smtplib.SMTPException as exc:
            raise DeliveryError(f"mail server {server.where} refused the alert ({type(exc).__name__})") from None


def recent(enterprise_id: int, limit: int = 50) -> list[tuple[AlertEvent, list[AlertAttempt]]]:
    """The newest events of an enterprise with their attempts, for the settings page."""
    events = list(
        db.session.scalars(
            select(AlertEvent)
            .where(AlertEvent.enterprise_id == enterprise_id)
            .order_by(AlertEvent.id.desc())
            .limit(limit)
        )
    )
    attempts: dict[int, list[AlertAttempt]] = {e.id: [] for e in events}
    if events:
        for attempt in db.session.scalars(
            select(AlertAttempt).where(AlertAttempt.event_id.in_(list(attempts))).order_by(AlertAttempt.id)
        ):
            attempts[attempt.event_id].append(attempt)
    return [(e, attempts[e.id]) for e in events]
