"""The admin's home page (/admin/): the enterprise's day at a glance, every number a link to
the filtered table behind it (the filters are in admin_views/filters.py and the tables' views).

The charts are drawn by Chart.js (vendored in app/static/vendor) from a JSON script tag: the
app's CSP runs scripts from 'self' only, so the page carries data, never inline code.
"""

from __future__ import annotations

from datetime import date, datetime

from flask import url_for
from flask_admin import expose
from flask_login import current_user

from admin_views.base import SecuredIndexView
from app.services import dashboard

SENT = "sent_batches.index_view"
PENDING = "pending_batches.index_view"


def sent_link(status: str, period: str, by: str = "sent") -> str:
    """Sent Batches with this status whose sent (or last updated) time is in the UTC period."""
    return url_for(SENT, flt0_status_equals=status, **{f"flt1_{by}_in_period_utc": period})


def sent_of(integration_id: int, status: str | None = None) -> str:
    args = {"flt0_integration_id_equals": integration_id}
    if status:
        args["flt1_status_equals"] = status
    return url_for(SENT, **args)


def pending_of(integration_id: int) -> str:
    return url_for(PENDING, flt0_integration_id_equals=integration_id)


def pending_in_hour(hour: datetime) -> str:
    return url_for(PENDING, flt0_next_run_in_period_utc=hour.strftime("%Y-%m-%dT%H"))


def _day(value: date) -> str:
    return value.isoformat()


def chart_data(board: dashboard.Dashboard) -> dict:
    """What static/bm/dashboard.js draws: labels, values and the link of each bar."""
    days = [_day(d.day) for d in board.days]
    return {
        "delivered": {
            "labels": days,
            "files": [d.files for d in board.days],
            "leads": [d.leads for d in board.days],
            "links": [sent_link("delivered", day) for day in days],
        },
        "failed": {
            "labels": days,
            "files": [d.failed for d in board.days],
            "links": [sent_link("failed", day, by="updated") for day in days],
        },
        "scheduled": {
            "labels": [hour.strftime("%H:00") for hour, _ in board.hours],
            "titles": [hour.strftime("%Y-%m-%d %H:00 UTC") for hour, _ in board.hours],
            "sends": [count for _, count in board.hours],
            "links": [pending_in_hour(hour) for hour, _ in board.hours],
        },
    }


class DashboardView(SecuredIndexView):
    """Files and leads per day, failures, the next 24 hours, failing integrations, biggest queues."""

    def is_visible(self) -> bool:
        return True

    @expose("/")
    def index(self):
        board = dashboard.build(current_user.enterprise_id)
        period = f"{_day(board.days[0].day)}/{_day(board.days[-1].day)}"
        links = {
            "files": sent_link("delivered", period),
            "leads": sent_link("delivered", period),
            "failed": sent_link("failed", period, by="updated"),
            "pending": url_for(PENDING),
            "scheduled": url_for(
                PENDING,
                flt0_next_run_in_period_utc=f"{board.hours[0][0]:%Y-%m-%dT%H}/{board.hours[-1][0]:%Y-%m-%dT%H}",
            ),
        }
        return self.render(
            "admin/bm/dashboard.html",
            board=board,
            links=links,
            charts=chart_data(board),
            sent_of=sent_of,
            pending_of=pending_of,
            sent_link=sent_link,
            period=period,
        )
