"""Error pages for people: a title, one sentence, a link back, in the admin layout when it can be drawn.

The admin (admin_views) installs the layout renderer with `set_layout`; this module only
knows that a callable draws a page. When the layout cannot be drawn (no admin in this app,
or the error's cause breaks the menu too, as a 500 may), the same words go out on a plain
page that needs neither the database nor Redis, like the 503 page (errors/unavailable.html).
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from flask import Flask, Response, current_app, g, render_template, url_for

log = logging.getLogger(__name__)

LAYOUT = "bm_error_layout"
TEMPLATE = "admin/bm/error.html"
# Title and sentence per status; other statuses use the HTTP reason and a general sentence.
WORDS = {
    400: ("This request could not be understood", "Go back, reload the page and try again."),
    403: (
        "You cannot open this page",
        "Your role does not allow it. An admin of your enterprise can change your role if you need it.",
    ),
    404: (
        "Page not found",
        "There is nothing at this address: it may be mistyped, or what it pointed to no longer exists.",
    ),
    410: ("This is no longer available", "What this address pointed to has been removed or has expired."),
    500: (
        "Something went wrong on our side",
        "The error was logged and nothing you did caused it. Try again; if it happens again, "
        "tell the platform operators and give them the request id below.",
    ),
}


def set_layout(app: Flask, render: Callable[..., str]) -> None:
    """Install the function that draws an error page inside the admin layout."""
    app.extensions[LAYOUT] = render


def _back() -> tuple[str, str]:
    from flask_login import current_user

    try:
        signed_in = bool(current_user.is_authenticated)
    except Exception:  # the user could not be loaded (the error may be the database itself)
        signed_in = False
    if signed_in:
        return url_for("admin.index"), "Back to Batch Manager"
    return url_for("auth.login"), "Log in"


def error_page(status: int, sentence: str | None = None, title: str | None = None, name: str = "Error") -> Response:
    """The HTML response for an error a person sees."""
    default_title, default_sentence = WORDS.get(status, (name, "Go back and try again."))
    context = {
        "status": status,
        "title": title or default_title,
        "sentence": sentence or default_sentence,
        "request_id": getattr(g, "request_id", None) if status >= 500 else None,
    }
    try:
        context["back_url"], context["back_label"] = _back()
        layout = current_app.extensions.get(LAYOUT)
        if layout is not None:
            return _html(layout(TEMPLATE, **context), status)
    except Exception:
        log.exception("the admin layout could not be drawn for a %s page; sending the plain page", status)
    context.setdefault("back_url", "/")
    context.setdefault("back_label", "Back to Batch Manager")
    return _html(render_template("errors/error.html", **context), status)


def _html(page: str, status: int) -> Response:
    return current_app.response_class(page, status=status, mimetype="text/html")


def sentence_from(text: str | None) -> str | None:
    """A message as a sentence: capital first letter, a full stop."""
    if not text:
        return None
    text = text.strip()
    text = text[:1].upper() + text[1:]
    return text if text.endswith((".", "!", "?")) else text + "."
