"""The one delivery interface every transport implements, and what they share.

A transport knows nothing of HTTP, jobs or the database: it gets a stored file
(`DeliverySource`), the integration's non-secret settings and the revealed
secret, and either delivers or raises `DeliveryError(message, transient)`.
Messages are written for the people reading a failed batch; they never hold a
secret.
"""

from __future__ import annotations

import errno
import socket
import ssl
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, BinaryIO

from flask import current_app, has_app_context

from app.errors import DeliveryError, ValidationError

DEFAULT_TIMEOUT = 60
COPY_CHUNK = 1024 * 1024


@dataclass(frozen=True, repr=False)
class Secret:
    """A revealed credential: its kind and value. Its repr never shows the value."""

    kind: str
    value: Any

    def __repr__(self) -> str:
        return f"Secret(kind={self.kind!r}, value='***')"

    __str__ = __repr__

    def __reduce__(self):
        # Pickling would put the plain secret into Redis (RQ job args) or logs.
        raise TypeError("Secret is not picklable: pass the credential id and reveal it where it is used")


@dataclass(frozen=True)
class DeliverySource:
    """A stored file ready to go out; `opener` opens it from the file store."""

    file_name: str
    size: int
    sha256: str
    opener: Callable[[], BinaryIO]
    batch_id: int | None = None
    enterprise_id: int | None = None
    # Context for e-mail subjects and bodies (the same tokens as file names).
    lead_count: int = 0
    advertiser_id: int | None = None
    campaign_id: int | None = None
    integration_id: int | None = None
    label: str = ""
    sent_at: datetime | None = None
    timezone: str = "UTC"

    def open(self) -> BinaryIO:
        """Open the stored file for reading (binary)."""
        return self.opener()


@dataclass(frozen=True)
class DeliveryReceipt:
    """Where the file went (remote path, object key or message id) and the size the destination reports.

    `remote_size` is what the destination says it holds under the final name after the
    upload (SFTP stat, FTP SIZE, S3 HEAD, local stat), never the size we meant to send; None
    when the destination has no way to say (e-mail; an FTP server without SIZE).
    """

    remote: str
    remote_size: int | None


@dataclass(frozen=True)
class ConnectionResult:
    ok: bool
    message: str

    def to_dict(self) -> dict:
        return {"ok": self.ok, "message": self.message}


class Transport(ABC):
    """One delivery method. Instances are stateless and safe to share."""

    method: str = ""
    # Credential kinds this method accepts; empty means it takes no credential.
    credential_kinds: tuple[str, ...] = ()
    label: str = ""

    @property
    def needs_credential(self) -> bool:
        return bool(self.credential_kinds)

    @abstractmethod
    def validate_settings(self, settings: dict) -> dict:
        """Normalised settings; ValidationError with details keyed `delivery.<field>`."""

    def destinations(self, settings: dict) -> list[tuple[str, str, int]]:
        """(setting name, host, port) of each network destination the settings name (egress checks)."""
        return []

    @abstractmethod
    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        """Deliver the file (idempotently: a re-delivery replaces, never duplicates)."""

    @abstractmethod
    def test_connection(
        self, settings: dict, secret: Secret | None, enterprise_id: int | None = None
    ) -> ConnectionResult:
        """Connect, authenticate and check the destination; never raises for a bad destination.

        `enterprise_id` is whose destination it is (the local folder is per enterprise).
        """

    def check_secret(self, secret: Secret | None) -> None:
        """A clear, permanent error when the credential is missing or of the wrong kind."""
        if not self.credential_kinds:
            return
        kinds = " or ".join(self.credential_kinds)
        if secret is None:
            raise DeliveryError(f"{self.label or self.method} delivery needs a credential ({kinds})", transient=False)
        if secret.kind not in self.credential_kinds:
            raise DeliveryError(
                f"{self.label or self.method} delivery cannot use a {secret.kind} credential (needs {kinds})",
                transient=False,
            )

    def settings_for_delivery(self, settings: dict) -> dict:
        """Validated settings at send time; stored settings that became invalid fail the batch clearly."""
        try:
            return self.validate_settings(settings)
        except ValidationError as exc:
            raise DeliveryError(describe_validation(exc), transient=False) from None

    def run_test(self, attempt: Callable[[], str], settings: dict, secret: Secret | None) -> ConnectionResult:
        """Validate, then run `attempt`; its DeliveryError becomes a not-ok result."""
        try:
            self.validate_settings(settings)
            self.check_secret(secret)
            return ConnectionResult(True, attempt())
        except ValidationError as exc:
            return ConnectionResult(False, describe_validation(exc))
        except DeliveryError as exc:
            return ConnectionResult(False, exc.message)


# --- settings validation -----------------------------------------------------------------


def describe_validation(exc: ValidationError) -> str:
    """One line: the message and each offending field."""
    details = exc.details if isinstance(exc.details, dict) else {}
    problems = "; ".join(f"{k}: {', '.join(v)}" for k, v in details.items())
    return f"{exc.message}: {problems}" if problems else exc.message


class SettingsErrors:
    """Collects problems keyed `delivery.<field>`, raised together as one ValidationError."""

    IGNORED = ("method", "credentialId")

    def __init__(self, method: str, settings: Any, known: Iterable[str]) -> None:
        self.method = method
        self.errors: dict[str, list[str]] = {}
        if not isinstance(settings, dict):
            self.add("", "must be an object")
            self.settings: dict = {}
        else:
            self.settings = settings
            for key in settings:
                if key not in known and key not in self.IGNORED:
                    self.add(str(key), f"unknown setting for {method} delivery")

    def add(self, name: str, message: str) -> None:
        key = f"delivery.{name}" if name else "delivery"
        self.errors.setdefault(key, []).append(message)

    def text(self, name: str, *, required: bool = True, default: str = "", max_length: int = 1000) -> str:
        value = self.settings.get(name)
        if value is None or (isinstance(value, str) and not value.strip()):
            if required:
                self.add(name, "required")
            return default
        if not isinstance(value, str):
            self.add(name, "must be a string")
            return default
        value = value.strip()
        if len(value) > max_length:
            self.add(name, f"at most {max_length} characters")
        if any(c in value for c in "\r\n\x00"):
            self.add(name, "must be a single line")
        return value

    def port(self, name: str, default: int) -> int:
        value = self.settings.get(name)
        if value is None or value == "":
            return default
        if isinstance(value, bool) or not isinstance(value, int | str):
            self.add(name, "must be a number between 1 and 65535")
            return default
        try:
            number = int(value)
        except ValueError:
            self.add(name, "must be a number between 1 and 65535")
            return default
        if not 1 <= number <= 65535:
            self.add(name, "must be a number between 1 and 65535")
        return number

    def boolean(self, name: str, default: bool) -> bool:
        value = self.settings.get(name)
        if value is None:
            return default
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false", "1", "0", "yes", "no", "on", "off"}:
            return value.lower() in {"true", "1", "yes", "on"}
        self.add(name, "must be true or false")
        return default

    def remote_dir(self, name: str = "remoteDir") -> str:
        value = self.text(name, required=False, default="/") or "/"
        if ".." in value.split("/"):
            self.add(name, "must not contain '..'")
        return value.rstrip("/") or "/"

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationError(f"invalid {self.method} delivery settings", self.errors)


def check_host(errors: SettingsErrors, name: str = "host") -> str:
    host = errors.text(name, max_length=253)
    if host and (any(c.isspace() for c in host) or "/" in host or "@" in host):
        errors.add(name, "must be a host name or IP address")
    return host


# --- runtime helpers -------------------------------------------------------------------------


def delivery_timeout() -> int:
    """Seconds for connecting and for each network operation (config DELIVERY_TIMEOUT)."""
    if has_app_context():
        return int(current_app.config.get("DELIVERY_TIMEOUT") or DEFAULT_TIMEOUT)
    return DEFAULT_TIMEOUT


def tls_context() -> ssl.SSLContext:
    """A verifying TLS context; DELIVERY_CA_FILE adds a private CA (or a self-signed server cert)."""
    cafile = current_app.config.get("DELIVERY_CA_FILE") if has_app_context() else None
    return ssl.create_default_context(cafile=cafile or None)


def network_error(exc: BaseException, where: str, *, what: str = "") -> DeliveryError:
    """Turn a socket-level failure into a clear DeliveryError; these are all worth retrying."""
    prefix = f"{what}: " if what else ""
    if isinstance(exc, ssl.SSLCertVerificationError):
        reason = exc.verify_message or "certificate not trusted"
        return DeliveryError(f"{prefix}TLS certificate of {where} could not be verified ({reason})", transient=False)
    if isinstance(exc, ConnectionRefusedError) or getattr(exc, "errno", None) == errno.ECONNREFUSED:
        return DeliveryError(f"{prefix}connection refused by {where}", transient=True)
    if isinstance(exc, socket.timeout | TimeoutError):
        return DeliveryError(f"{prefix}timed out talking to {where}", transient=True)
    if isinstance(exc, socket.gaierror):
        return DeliveryError(f"{prefix}cannot resolve host of {where}", transient=True)
    if isinstance(exc, ssl.SSLError):
        return DeliveryError(f"{prefix}TLS failure with {where} ({exc.reason or exc})", transient=True)
    if isinstance(exc, ConnectionResetError | BrokenPipeError | EOFError):
        return DeliveryError(f"{prefix}connection to {where} was closed unexpectedly", transient=True)
    if isinstance(exc, OSError) and exc.strerror:
        return DeliveryError(f"{prefix}network error with {where}: {exc.strerror}", transient=True)
    return DeliveryError(f"{prefix}network error with {where}: {type(exc).__name__}", transient=True)


def plain_file_name(name: str) -> str:
    """The file name, if it is a plain name; path separators or control characters never reach a server."""
    if (
        not name
        or name in (".", "..")
        or any(c in name for c in "/\\")
        or any(ord(c) < 32 or ord(c) == 127 for c in name)
    ):
        raise DeliveryError(f"not a plain file name: {name!r}", transient=False)
    return name


def temp_name(file_name: str, batch_id: int | None) -> str:
    """The hidden name a file is uploaded under before its atomic rename."""
    return f".{file_name}.{batch_id or 0}.part"


def join_remote(directory: str, name: str) -> str:
    return f"{directory.rstrip('/')}/{name}" if directory not in ("", "/") else f"/{name}"
