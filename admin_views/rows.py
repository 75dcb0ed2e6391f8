"""The rows of the admin lists, rendered in Python once per page instead of by Jinja macros per button.

A cProfile of 20 Sent pages at bench scale put 86% of a page's CPU in Jinja, a third of it in the
five row buttons of each row: a macro call per button, `url_for` per button (151 a page), a role
check per button. Here every button's URL is built once per page (the id slotted into the URL
`url_for` gave for a sentinel id), roles are asked once per page, the CSRF token and return URL
are escaped once, and each row is one string joined in Python. The HTML is the same as the
macros in admin/bm/row_actions.html wrote before (tests/test_admin_tables.py and the browser
tests read it), and Flask-Admin's own list template still draws everything around the rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import request, url_for
from flask_admin.babel import gettext
from flask_wtf.csrf import generate_csrf
from jinja2 import pass_context
from markupsafe import Markup, escape

# An id no table reaches: url_for builds each button's URL once with it, and each row swaps in its own id.
_SENTINEL = 987_654_320_123
Text = Callable[[str, Any], str]


def _fixed(text: str) -> Text:
    return lambda row_id, row: text


@dataclass(frozen=True)
class Button:
    """One row button: a link, or a small POST form carrying the CSRF token and the page to return to."""

    endpoint: str  # ".edit_view": the request's blueprint's, as url_for reads it
    key: str  # the url_for argument the row id goes in
    icon: str
    title: Text
    label: str
    cls: str = ""
    css: str = ""  # the POST button's own classes
    post: bool = False
    confirm: Text | None = None
    shown: Callable[[Any], bool] | None = None  # only on rows it applies to
    return_url_arg: bool = False  # the link carries ?url=<this page> (Configure, Edit)
    status_marker: bool = False  # the hidden status span the Sent page's live updates read


def _requeue_confirm(row_id: str, row: Any) -> str:
    return (
        f"Put the {row.lead_count} leads of failed file #{row_id} back into the pending file? "
        "They will be sent with the next file."
    )


_REQUEUE_TITLE = _fixed("Requeue: put these leads back in the pending file")
_RETRY_TITLE = _fixed("Retry the failed delivery of this file")

# Keyed by the names the macros of admin/bm/row_actions.html had (MacroRowAction's first argument).
BUTTONS: dict[str, Button] = {
    "configure": Button(
        "admin_integrations.edit_view",
        "id",
        "fa-cog",
        _fixed("Configure this integration"),
        "Configure",
        "bm-act-configure",
        return_url_arg=True,
    ),
    "view_pending": Button(
        "pending_batches.leads_view", "integration_id", "fa-eye", _fixed("View queued leads"), "View", "bm-act-view"
    ),
    "batch_now": Button(
        "pending_batches.batch_now_view",
        "integration_id",
        "fa-bolt",
        _fixed("Batch now"),
        "Batch now",
        css="text-warning bm-batch-now",
        post=True,
        confirm=lambda row_id, row: (
            f'Send the {row.pending_count} pending leads of "{row.label}" now, ignoring the schedule?'
        ),
    ),
    "resume": Button(
        "pending_batches.resume_view",
        "integration_id",
        "fa-play",
        _fixed("Lift the pause and send the pending leads now"),
        "Resume",
        "bm-act-resume",
        "text-success",
        post=True,
        confirm=lambda row_id, row: f'Resume "{row.label}" and send its {row.pending_count} pending leads now?',
        shown=lambda row: bool(row.paused_at),
    ),
    "view_sent": Button(
        "sent_batches.leads_view",
        "batch_id",
        "fa-eye",
        _fixed("View leads in this file"),
        "View",
        "bm-act-view",
        status_marker=True,
    ),
    "download": Button(
        "sent_batches.download_view",
        "batch_id",
        "fa-download",
        lambda row_id, row: "Download " + (row.file_name or "file"),
        "Download",
        "bm-act bm-act-download",
    ),
    "retry": Button(
        "sent_batches.retry_view",
        "batch_id",
        "fa-refresh",
        _RETRY_TITLE,
        "Retry",
        "bm-act bm-act-retry",
        "text-danger",
        post=True,
    ),
    "resend": Button(
        "sent_batches.resend_view",
        "batch_id",
        "fa-paper-plane-o",
        _fixed("Deliver this file to its destination again"),
        "Resend",
        "bm-act bm-act-resend",
        post=True,
        confirm=lambda row_id, row: f"Deliver file #{row_id} ({row.lead_count} leads) to its destination again?",
    ),
    "requeue": Button(
        "sent_batches.requeue_view",
        "batch_id",
        "fa-undo",
        _REQUEUE_TITLE,
        "Requeue",
        "bm-act bm-act-requeue",
        "text-secondary",
        post=True,
        confirm=_requeue_confirm,
        shown=lambda row: not row.resend_of_id,
    ),
    "jobs_retry": Button(
        "admin_jobs.retry_view",
        "batch_id",
        "fa-refresh",
        _RETRY_TITLE,
        "Retry",
        "bm-job-retry",
        "text-danger",
        post=True,
        shown=lambda row: row.status == "failed",
    ),
    "jobs_requeue": Button(
        "admin_jobs.requeue_view",
        "batch_id",
        "fa-undo",
        _REQUEUE_TITLE,
        "Requeue",
        "bm-job-requeue",
        "text-secondary",
        post=True,
        confirm=_requeue_confirm,
        shown=lambda row: row.status == "failed" and not row.resend_of_id,
    ),
    "revoke_token": Button(
        "admin_api_tokens.revoke_view",
        "token_id",
        "fa-ban",
        _fixed("Revoke"),
        "Revoke",
        "bm-act-revoke",
        "text-danger",
        post=True,
        confirm=lambda row_id, row: f'Revoke the token "{row.name}"? Systems using it stop working at once.',
        shown=lambda row: not row.revoked_at,
    ),
    "end_sessions": Button(
        "admin_users.end_sessions_view",
        "user_id",
        "fa-sign-out",
        _fixed("Log out everywhere"),
        "Log out everywhere",
        css="text-danger",
        cls="bm-act bm-act-end-sessions",
        post=True,
        confirm=lambda row_id, row: f"Sign {row.email} out on every device?",
    ),
    "edit_row": Button(
        ".edit_view", "id", "fa-pencil", _fixed("Edit this record"), "Edit", "bm-act-edit", return_url_arg=True
    ),
}


class _Url:
    """A button's URL for any row id: built once by url_for, then the id slotted in (url_for per row if that fails)."""

    def __init__(self, endpoint: str, key: str, extra: dict[str, str]) -> None:
        self.endpoint, self.key, self.extra = endpoint, key, extra
        parts = url_for(endpoint, **{key: _SENTINEL}, **extra).split(str(_SENTINEL))
        self.parts = parts if len(parts) == 2 else None

    def __call__(self, row_id: str) -> Markup:
        if self.parts is not None and row_id.isdigit():
            return escape(self.parts[0] + row_id + self.parts[1])
        return escape(url_for(self.endpoint, **{self.key: row_id}, **self.extra))


class PageButtons:
    """The row buttons of one page, for one user: what is per page is computed here once."""

    def __init__(self, buttons: list[Button]) -> None:
        return_url = request.full_path
        self.return_url = escape(return_url)
        self.csrf = escape(generate_csrf()) if any(b.post for b in buttons) else Markup("")
        self.buttons = []
        for b in buttons:
            url = _Url(b.endpoint, b.key, {"url": return_url} if b.return_url_arg else {})
            self.buttons.append((b, url))

    def html(self, row_id: str, row: Any) -> Markup:
        out = []
        for b, url in self.buttons:
            if b.shown is not None and not b.shown(row):
                continue
            if b.status_marker:
                out.append(
                    f'<span class="bm-row-status d-none" data-id="{escape(row_id)}" data-status="{escape(row.status)}"></span>\n'
                )
            title = escape(b.title(row_id, row))
            icon = f'<span class="fa {b.icon}" aria-hidden="true"></span>'
            if not b.post:
                out.append(
                    f'<a class="icon bm-act-btn {b.cls}" href="{url(row_id)}" title="{title}">{icon} '
                    f'<span class="bm-act-label">{escape(b.label)}</span></a>\n'
                )
                continue
            confirm = f' data-confirm="{escape(b.confirm(row_id, row))}"' if b.confirm is not None else ""
            out.append(
                f'<form class="icon d-inline {b.cls}" method="POST" action="{url(row_id)}"{confirm}>\n'
                f'<input type="hidden" name="csrf_token" value="{self.csrf}">\n'
                f'<input type="hidden" name="url" value="{self.return_url}">\n'
                f'<button type="submit" class="btn btn-link p-0 bm-act-btn {b.css}" title="{title}">{icon} '
                f'<span class="bm-act-label">{escape(b.label)}</span></button>\n</form>\n'
            )
        return Markup("".join(out))  # noqa: S704 - every value in it went through escape() above


class PageRows:
    """Every <td> of a list page's rows: the select box, the buttons, then the user's columns.

    The same cells as Flask-Admin 2.2.1's `list_row` block (admin/model/list.html), which
    admin/bm/list.html replaces with one call per row (canary: tests/test_flask_admin_canary.py).
    """

    def __init__(self, view: Any, list_columns: list[tuple[str, str]], buttons: list[Button], checkbox: bool) -> None:
        self.view = view
        self.columns = [(name, f'<td class="col-{escape(name)}">') for name, _label in list_columns]
        self.buttons = PageButtons(buttons) if view.column_display_actions else None
        self.checkbox = f'title="{escape(gettext("Select record"))}"' if checkbox else None

    @pass_context
    def row(self, context: Any, row: Any) -> Markup:
        view = self.view
        row_id = str(view.get_pk_value(row))
        out = []
        if self.checkbox is not None:
            out.append(
                f'<td>\n<input type="checkbox" name="rowid" class="action-checkbox" value="{escape(row_id)}" '
                f"{self.checkbox} />\n</td>\n"
            )
        if self.buttons is not None:
            out.append(f'<td class="list-buttons-column">\n{self.buttons.html(row_id, row)}</td>')
        for name, cell in self.columns:
            # Flask-Admin's own formatting of a list cell (its column and type formatters).
            out.append(f"\n{cell}\n{escape(view.get_list_value(context, row, name))}\n</td>")
        return Markup("".join(out))  # noqa: S704 - every value in it went through escape() above
