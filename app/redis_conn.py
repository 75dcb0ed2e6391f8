"""The Redis connection of the app: a client for REDIS_URL, made at app creation.

Connecting is lazy, so creating the app starts nothing; in development REDIS_URL defaults to
the embedded server that `flask --app wsgi dev bootstrap` starts (app/devinstance.py).
"""

from __future__ import annotations

import redis
from flask import Flask, current_app


def init_app(app: Flask) -> None:
    app.extensions["redis"] = redis.Redis.from_url(app.config["REDIS_URL"], socket_timeout=30, socket_connect_timeout=5)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]
