"""Alert jobs: deliver one alert event (e-mail and webhooks); RQ retries what failed."""

from __future__ import annotations

import logging

from app.services import alerts

log = logging.getLogger(__name__)


def deliver_alert(event_id: int) -> dict:
    """Send the event to the targets that have not taken it; raises (RQ retries) if any failed."""
    results = alerts.deliver(event_id)
    log.info("alert %s: %s", event_id, results)
    return results
