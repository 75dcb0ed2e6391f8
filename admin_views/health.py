"""The Pending table's health column: last file, failure streak, paused; and its filter."""

from __future__ import annotations

from flask_admin.contrib.sqla.filters import BaseSQLAFilter
from markupsafe import Markup

from admin_views import formatting as fmt
from app.models import BatchCsvIntegration
from app.services import integration_health

Ints = BatchCsvIntegration
PAUSED = Markup('<span class="badge badge-danger bm-paused"><span class="fa fa-pause"></span> Paused</span>')


def cell(view, context, model, name) -> Markup:
    """'Paused' / 'N failed in a row', then the last file's status and when it ended."""
    parts = []
    if model.paused_at is not None:
        parts.append(PAUSED)
    if model.consecutive_failures:
        parts.append(
            Markup('<span class="badge badge-warning bm-failures">{} failed in a row</span>').format(
                model.consecutive_failures
            )
        )
    if model.last_file_status:
        last = Markup('<small class="text-muted d-block">last file {} {}</small>').format(
            model.last_file_status, fmt.when(model.last_file_at)
        )
    else:
        last = Markup('<small class="text-muted d-block">no file yet</small>')
    if not parts and model.last_file_status == "delivered":
        parts.append(Markup('<span class="badge badge-success">Healthy</span>'))
    return Markup(" ").join(parts) + last


def label_cell(view, context, model, name) -> Markup:
    """The label, with a Paused badge beside it so a paused feed stands out in any column set."""
    if model.paused_at is None:
        return Markup("{}").format(model.label)
    return Markup("{} {}").format(model.label, PAUSED)


class HealthFilter(BaseSQLAFilter):
    """Health is: paused, failing (a failure streak, not paused), healthy (last file delivered), new."""

    OPTIONS = (("paused", "Paused"), ("failing", "Failing"), ("healthy", "Healthy"), ("new", "No file yet"))

    def __init__(self, column, name: str) -> None:
        super().__init__(column, name, options=self.OPTIONS)

    def apply(self, query, value, alias=None):
        if value not in integration_health.HEALTH_STATES:
            return query.filter(Ints.id.is_(None))
        return query.filter(integration_health.health_criterion(value))

    def operation(self) -> str:
        return "is"
