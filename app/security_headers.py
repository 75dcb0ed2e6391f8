"""Headers on every response: no framing, no MIME sniffing, a same-origin referrer, and a
Content-Security-Policy that runs only this site's scripts and styles.

Inline <script> blocks are allowed only with this request's nonce (Flask-Admin passes
it on through `csp_nonce_generator`, our templates through `csp_nonce()`); no script,
style, font or image is loaded from another origin. Style *attributes* stay allowed
(`style-src-attr 'unsafe-inline'`): Flask-Admin, rq-dashboard, Bootstrap's and
Swagger UI's scripts set them, and an attribute can restyle an element but neither run
script nor load anything from elsewhere (img-src, font-src and connect-src stay 'self').
"""

from __future__ import annotations

import secrets

from flask import Flask, Response, request

NONCE_KEY = "bm.csp_nonce"
EVAL_KEY = "bm.csp_eval"
HTML_POLICY = (
    "default-src 'self'; "
    "script-src 'self' 'nonce-{nonce}'{eval}; "
    "style-src 'self' 'nonce-{nonce}'; "
    "style-src-elem 'self' 'nonce-{nonce}'; "
    "style-src-attr 'unsafe-inline'; "
    "img-src 'self' data:; "
    "font-src 'self'; "
    "connect-src 'self'; "
    "object-src 'none'; "
    "base-uri 'self'; "
    "form-action 'self'; "
    "frame-ancestors 'none'"
)
# JSON, files and static assets are never documents to run anything in.
OTHER_POLICY = "default-src 'none'; frame-ancestors 'none'"


def init_app(app: Flask) -> None:
    app.after_request(add_headers)
    app.jinja_env.globals["csp_nonce"] = csp_nonce


def csp_nonce() -> str:
    """This request's CSP nonce (one per request, kept on the WSGI environ, not on g)."""
    return request.environ.setdefault(NONCE_KEY, secrets.token_urlsafe(18))


def allow_eval() -> None:
    """Let this response's scripts compile strings (rq-dashboard's underscore templates need it)."""
    request.environ[EVAL_KEY] = True


def add_headers(response: Response) -> Response:
    headers = response.headers
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("X-Content-Type-Options", "nosniff")
    # Download links carry their token in the path: never send a path to another site.
    headers.setdefault("Referrer-Policy", "same-origin")
    if response.mimetype == "text/html":
        evaluate = " 'unsafe-eval'" if request.environ.get(EVAL_KEY) else ""
        headers["Content-Security-Policy"] = HTML_POLICY.format(nonce=csp_nonce(), eval=evaluate)
    else:
        headers.setdefault("Content-Security-Policy", OTHER_POLICY)
    return response
