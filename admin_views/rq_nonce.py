"""rq-dashboard under the Content-Security-Policy: its page script carries the nonce, and
its pages (only theirs) may eval, which its underscore.js row templates need.

rq-dashboard 0.9.0 renders all its page logic into one inline <script> in
rq_dashboard/base.html. Rather than copy that template, the template loader adds
`nonce="{{ csp_nonce() }}"` to that tag in the template *source*, so only the
dashboard's own script gets the nonce, never anything rendered into the page.
tests/test_security_headers.py fails if a new rq-dashboard version changes the tag.
"""

from __future__ import annotations

from flask import Flask, request
from jinja2 import BaseLoader, Environment

from app.security_headers import allow_eval

BLUEPRINT = "rq_dashboard"
TEMPLATE = "rq_dashboard/base.html"
INLINE_TAG = '<script type="text/javascript">'
NONCED_TAG = '<script type="text/javascript" nonce="{{ csp_nonce() }}">'


class NoncedDashboardLoader(BaseLoader):
    """Wraps the app's loader; changes only rq-dashboard's base template."""

    def __init__(self, inner: BaseLoader) -> None:
        self.inner = inner

    def get_source(self, environment: Environment, template: str):
        source, filename, uptodate = self.inner.get_source(environment, template)
        if template == TEMPLATE:
            source = source.replace(INLINE_TAG, NONCED_TAG)
        return source, filename, uptodate

    def list_templates(self) -> list[str]:
        return self.inner.list_templates()


def init_app(app: Flask) -> None:
    app.jinja_env.loader = NoncedDashboardLoader(app.jinja_env.loader)
    app.before_request(_dashboard_may_eval)


def _dashboard_may_eval() -> None:
    # underscore's _.template compiles each row template with new Function(); the pages are
    # for platform operators only, and every other page keeps eval refused.
    if request.blueprint == BLUEPRINT:
        allow_eval()
