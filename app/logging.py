"""Logging with the request id or RQ job id on every line."""

from __future__ import annotations

import logging
import uuid

from flask import Flask, g, has_request_context, request


class ContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = "-"
        if has_request_context():
            record.request_id = getattr(g, "request_id", "-")
        else:
            from rq import get_current_job

            job = get_current_job()
            if job is not None:
                record.request_id = f"job:{job.id}"
        return True


def init_app(app: Flask) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"))
    handler.addFilter(ContextFilter())
    root = logging.getLogger("app")
    root.handlers[:] = [handler]
    root.setLevel(app.config.get("LOG_LEVEL", "INFO"))
    for name in ("jobs", "admin_views"):
        logging.getLogger(name).handlers[:] = [handler]
        logging.getLogger(name).setLevel(app.config.get("LOG_LEVEL", "INFO"))

    @app.before_request
    def assign_request_id() -> None:
        g.request_id = request.headers.get("X-Request-ID") or uuid.uuid4().hex[:16]

    @app.after_request
    def echo_request_id(response):
        response.headers.setdefault("X-Request-ID", getattr(g, "request_id", ""))
        return response
