"""How values read on the admin pages: humanised counts and times, badges, schedules."""

from __future__ import annotations

from datetime import UTC, date, datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import humanize
from flask import g, has_request_context, request
from flask_login import current_user
from markupsafe import Markup, escape

from app.services import scheduling

STATUS_BADGES = {
    "claimed": ("secondary", "fa-hourglass-start", "Claimed"),
    "stored": ("info", "fa-hourglass-half", "Stored"),
    "delivered": ("success", "fa-check", "Delivered"),
    "failed": ("danger", "fa-exclamation-triangle", "Failed"),
    "empty": ("light", "fa-circle-o", "Empty run"),
}
TRIGGER_LABELS = {
    "schedule": ("fa-clock-o", "Schedule"),
    "batch_now": ("fa-bolt", "Batch now"),
    "resend": ("fa-repeat", "Resend"),
    "campaign_end": ("fa-flag-checkered", "Campaign end"),
}
DASH = Markup('<span class="text-muted">&mdash;</span>')


def relative(value: datetime) -> str:
    """'3 minutes ago' or 'in 2 hours' (plain text)."""
    now = datetime.now(UTC)
    return humanize.naturaltime(value, when=now) if value <= now else "in " + humanize.naturaldelta(value - now)


@lru_cache(maxsize=64)
def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")  # a zone removed from tzdata since it was chosen


def user_zone() -> ZoneInfo:
    """The zone the signed-in person reads times in (My account); UTC without one."""
    if not has_request_context():
        return _zone("UTC")
    # Once a request: a list page asks for every time cell, each through the current_user proxy.
    # Kept with the user it was read for (a request may sign someone in or out part way).
    user = g.get("_login_user")
    cached = request.environ.get("bm.zone")
    if cached is not None and user is not None and cached[0] is user:
        return cached[1]
    zone = _zone(getattr(current_user, "timezone", None) or "UTC") if current_user.is_authenticated else _zone("UTC")
    if user is not None:
        request.environ["bm.zone"] = (user, zone)
    return zone


def exact(value: datetime) -> str:
    """The time in the person's zone, to the second, with the zone's abbreviation ('2026-01-31 07:00:00 CET')."""
    return value.astimezone(user_zone()).strftime("%Y-%m-%d %H:%M:%S %Z")


def when(value: datetime | None, empty: Markup | str = DASH) -> Markup | str:
    """'3 minutes ago' / 'in 2 hours', with the exact time in the person's zone on hover."""
    if value is None:
        return empty
    zone = user_zone()
    return Markup('<time datetime="{iso}" title="{exact} ({zone})">{words}</time>').format(
        iso=value.isoformat(), exact=exact(value), zone=zone.key, words=relative(value)
    )


def stamp(value: datetime | None, empty: Markup | str = DASH) -> Markup | str:
    """The exact time in the person's zone, zone shown, then how long ago in small print."""
    if value is None:
        return empty
    zone = user_zone()
    shown = value.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")
    return Markup(
        '<time class="bm-stamp" datetime="{iso}" title="{zone}">{shown}</time>'
        ' <small class="text-muted d-block">{words}</small>'
    ).format(iso=value.isoformat(), zone=zone.key, shown=shown, words=relative(value))


def day(value: date | None) -> Markup | str:
    """A date as '12 Mar 2027' with how far away it is."""
    if value is None:
        return DASH
    delta = (value - date.today()).days
    if delta == 0:
        hint = "today"
    elif delta > 0:
        hint = f"in {humanize.naturaldelta(delta * 86400)}"
    else:
        hint = f"{humanize.naturaldelta(-delta * 86400)} ago"
    css = "text-danger" if delta < 0 else ("text-warning" if delta <= 7 else "")
    return Markup('<span class="{css}" title="{hint}">{text}</span>').format(
        css=css, hint=hint, text=value.strftime("%d %b %Y")
    )


def count(value: int | None) -> str:
    return "0" if value is None else humanize.intcomma(value)


def size(value: int | None) -> Markup | str:
    return DASH if value is None else humanize.naturalsize(value, binary=True)


# A handful of statuses and triggers: each badge is built once (Markup.format per cell was a
# visible share of a Sent page's CPU).
@lru_cache(maxsize=64)
def status_badge(status: str) -> Markup:
    css, icon, label = STATUS_BADGES.get(status, ("light", "fa-question", status))
    spinning = " fa-spin" if status in ("claimed", "stored") else ""
    if spinning:
        icon = "fa-circle-o-notch"
    return Markup(
        '<span class="badge badge-{css} bm-status" data-status="{status}">'
        '<span class="fa {icon}{spin}"></span> {label}</span>'
    ).format(css=css, status=status, icon=icon, spin=spinning, label=label)


@lru_cache(maxsize=64)
def trigger_label(trigger: str) -> Markup:
    icon, label = TRIGGER_LABELS.get(trigger, ("fa-question", trigger))
    return Markup('<span class="text-nowrap"><span class="fa {icon} text-muted"></span> {label}</span>').format(
        icon=icon, label=label
    )


@lru_cache(maxsize=4096)
def _describe(cron: str, timezone: str) -> str:
    # cron-descriptor takes ~1 ms per call and a page shows many rows with few distinct schedules.
    return scheduling.describe(cron, timezone)


def schedule(cron: str, timezone: str, next_run: datetime | None) -> Markup:
    """The schedule in words, then when it next runs."""
    words = _describe(cron, timezone)
    return Markup('<div>{words}</div><small class="text-muted">next {nxt}</small>').format(
        words=words, nxt=when(next_run, "not scheduled")
    )


def mono(value: Any, length: int | None = None) -> Markup | str:
    if value in (None, ""):
        return DASH
    text = str(value)
    short = text if length is None or len(text) <= length else text[:length] + "…"
    return Markup('<code title="{full}">{short}</code>').format(full=text, short=short)


def formatter(fn):
    """Adapt a one-value function to Flask-Admin's (view, context, model, name) formatter."""

    def inner(view, context, model, name):
        value = model
        for part in name.split("."):
            value = getattr(value, part, None) if value is not None else None
        return fn(value)

    return inner


def text(value: Any) -> str:
    return "" if value is None else escape(str(value))
