"""E-mail delivery (smtplib): the file attached, or a signed download link when it is too big.

The SMTP server comes from SMTP_URL (smtp://, smtps:// for implicit TLS,
smtp+starttls://; optional user:password@), the sender from SMTP_FROM. E-mail has
no integration credential: the server login belongs to the deployment.
"""

from __future__ import annotations

import mimetypes
import re
import smtplib
import ssl
import string
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit
from zoneinfo import ZoneInfo

from flask import current_app

from app.errors import DeliveryError
from app.services import egress
from app.services.format_specs import spec_problem
from app.services.transports.base import (
    DeliveryReceipt,
    DeliverySource,
    Secret,
    SettingsErrors,
    Transport,
    delivery_timeout,
    network_error,
    plain_file_name,
    tls_context,
)

DEFAULT_SUBJECT = "Lead file {file_name} ({lead_count} leads)"
SUBJECT_TOKENS = (
    "advertiser_id",
    "campaign_id",
    "integration_id",
    "batch_id",
    "label",
    "sent_at",
    "file_name",
    "lead_count",
)
MAX_RECIPIENTS = 50
_ADDRESS = re.compile(r"^[^@\s<>,;\"()\[\]]+@[^@\s<>,;\"()\[\]]+$")
_PORTS = {"smtp": 25, "smtps": 465, "smtp+ssl": 465, "smtp+starttls": 587}


@dataclass(frozen=True, repr=False)
class SmtpServer:
    host: str
    port: int
    security: str  # "none" | "ssl" | "starttls"
    username: str | None
    password: str | None

    @property
    def where(self) -> str:
        return f"{self.host}:{self.port}"

    def __repr__(self) -> str:
        return f"SmtpServer({self.where}, {self.security}, user={self.username!r})"


def parse_smtp_url(url: str) -> SmtpServer:
    """SMTP_URL -> server; DeliveryError (not transient) if it is malformed."""
    parts = urlsplit(url or "")
    if parts.scheme not in _PORTS or not parts.hostname:
        raise DeliveryError(
            "SMTP_URL must look like smtp://host:port, smtps://host:port or smtp+starttls://host:port",
            transient=False,
        )
    try:
        port = parts.port or _PORTS[parts.scheme]
    except ValueError:
        raise DeliveryError("SMTP_URL has an invalid port", transient=False) from None
    security = {"smtps": "ssl", "smtp+ssl": "ssl", "smtp+starttls": "starttls"}.get(parts.scheme, "none")
    return SmtpServer(
        host=parts.hostname,
        port=port,
        security=security,
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else None,
    )


def check_subject(template: str) -> list[str]:
    """Problems with a subject template (unknown tokens, bad formats); empty when fine."""
    problems = []
    try:
        fields = [(name, spec, conv) for _, name, spec, conv in string.Formatter().parse(template) if name is not None]
    except ValueError as exc:
        return [f"not a valid template: {exc}"]
    sample = _sample_values()
    for name, spec, conv in fields:
        if name not in SUBJECT_TOKENS:
            problems.append(f"unknown token {{{name}}}; use {', '.join('{' + t + '}' for t in SUBJECT_TOKENS)}")
            continue
        if conv:
            problems.append(f"conversions like !{conv} are not allowed")
            continue
        if spec_problem(spec):
            problems.append(f"{{{name}}}: {spec_problem(spec)}")
            continue
        try:
            format(sample[name], spec or "")
        except (ValueError, TypeError):
            problems.append(f"bad format {spec!r} for {{{name}}}")
    return problems


def _sample_values() -> dict:
    return {
        "advertiser_id": 1,
        "campaign_id": 1,
        "integration_id": 1,
        "batch_id": 1,
        "label": "Label",
        "sent_at": datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        "file_name": "file.csv",
        "lead_count": 1,
    }


def render_subject(template: str, source: DeliverySource) -> str:
    """The subject for a file; dates in the integration's time zone, always a single line."""
    sent_at = source.sent_at or datetime.now(UTC)
    try:
        sent_at = sent_at.astimezone(ZoneInfo(source.timezone or "UTC"))
    except (KeyError, ValueError):
        sent_at = sent_at.astimezone(UTC)
    values = {
        "advertiser_id": source.advertiser_id or "",
        "campaign_id": source.campaign_id or "",
        "integration_id": source.integration_id or "",
        "batch_id": source.batch_id or "",
        "label": source.label,
        "sent_at": sent_at,
        "file_name": source.file_name,
        "lead_count": source.lead_count,
    }
    try:
        # A subject saved before widths were bounded must not allocate gigabytes now.
        if check_subject(template):
            raise ValueError("subject template no longer valid")
        subject = string.Formatter().vformat(template, (), values)
    except (ValueError, KeyError, IndexError, TypeError):
        subject = DEFAULT_SUBJECT.format(**values)
    return " ".join(subject.split())[:250]


def attachment_type(file_name: str) -> str:
    """The MIME type of an attached file; compressed files are never labelled as text."""
    kind, encoding = mimetypes.guess_type(file_name)
    if encoding == "gzip":
        return "application/gzip"
    if encoding is not None or kind is None:
        return "application/octet-stream"
    return kind


class EmailTransport(Transport):
    method = "email"
    label = "E-mail"
    credential_kinds = ()

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("recipients", "subject"))
        recipients = self._recipients(errors)
        subject = errors.text("subject", required=False, default=DEFAULT_SUBJECT, max_length=250)
        for problem in check_subject(subject):
            errors.add("subject", problem)
        errors.raise_if_any()
        return {"recipients": recipients, "subject": subject}

    @staticmethod
    def _recipients(errors: SettingsErrors) -> list[str]:
        value = errors.settings.get("recipients")
        if isinstance(value, str):
            value = [part for part in re.split(r"[,;\s]+", value) if part]
        if not isinstance(value, list) or not value:
            errors.add("recipients", "at least one e-mail address is required")
            return []
        clean: list[str] = []
        for index, address in enumerate(value):
            if not isinstance(address, str) or not _ADDRESS.match(address.strip()):
                errors.add(f"recipients.{index}", "not an e-mail address")
            elif address.strip().lower() not in (a.lower() for a in clean):
                clean.append(address.strip())
        if len(clean) > MAX_RECIPIENTS:
            errors.add("recipients", f"at most {MAX_RECIPIENTS} addresses")
        return clean

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        server = parse_smtp_url(current_app.config.get("SMTP_URL", ""))
        message = self.build_message(source, settings)
        with _smtp(server) as smtp:
            try:
                refused = smtp.send_message(message, to_addrs=settings["recipients"])
            except smtplib.SMTPException as exc:
                raise _smtp_error(exc, server) from None
            except OSError as exc:
                raise network_error(exc, server.where, what="SMTP") from None
        if refused:
            raise DeliveryError(
                f"the mail server refused some recipients: {', '.join(sorted(refused))}", transient=False
            )
        # An SMTP server accepts a message; it never reports what it stored, and the size of the
        # attachment as sent (base64, MIME parts) says nothing about the file received. So no
        # size is claimed: the check is the server's acceptance of every recipient, above.
        return DeliveryReceipt(remote=message["Message-ID"], remote_size=None)

    def build_message(self, source: DeliverySource, settings: dict) -> EmailMessage:
        """The e-mail for a file: attached when small enough, else a signed download link."""
        sender = current_app.config.get("SMTP_FROM") or "batch-manager@localhost"
        domain = sender.rsplit("@", 1)[-1].strip(">") or "localhost"
        message = EmailMessage()
        message["From"] = sender
        message["To"] = ", ".join(settings["recipients"])
        message["Subject"] = render_subject(settings["subject"], source)
        message["Date"] = format_datetime(datetime.now(UTC))
        # Stable per file: a retried send carries the same id, so mail clients can fold duplicates.
        message["Message-ID"] = f"<batch-{source.batch_id or 0}.{source.sha256[:16]}@{domain}>"
        facts = f"{source.file_name}: {source.lead_count} leads, {source.size} bytes, SHA-256 {source.sha256}."
        limit = int(current_app.config.get("EMAIL_ATTACHMENT_LIMIT") or 0)
        if source.size <= limit:
            message.set_content(f"Attached: {facts}\n")
            with source.open() as fh:
                data = fh.read()
            maintype, subtype = attachment_type(source.file_name).split("/")
            message.add_attachment(data, maintype=maintype, subtype=subtype, filename=source.file_name)
        else:
            from app.services import download_links

            if source.batch_id is None:
                raise DeliveryError("file too large to attach and has no batch to link to", transient=False)
            link = download_links.make_link(source.batch_id)
            days = max(1, download_links.max_age() // 86400)
            message.set_content(
                f"The file is too large to attach; download it within {days} days from:\n{link}\n\n{facts}\n"
            )
        return message

    def test_connection(self, settings: dict, secret: Secret | None, enterprise_id: int | None = None):
        def attempt() -> str:
            clean = self.validate_settings(settings)
            server = parse_smtp_url(current_app.config.get("SMTP_URL", ""))
            with _smtp(server) as smtp:
                try:
                    code, _text = smtp.noop()
                except smtplib.SMTPException as exc:
                    raise _smtp_error(exc, server) from None
                if code != 250:
                    raise _smtp_error(smtplib.SMTPResponseException(code, b""), server)
            login = f" as {server.username}" if server.username else ""
            return f"Connected to mail server {server.where}{login}; files will go to {len(clean['recipients'])} recipient(s)."

        return self.run_test(attempt, settings, secret)


class _PinnedSMTP(smtplib.SMTP):
    """Connects to the address the egress policy checked, not to the name again.

    smtplib keeps the configured name (`_host`) and verifies TLS (SMTPS and STARTTLS)
    against it; only the socket's target changes, in `_get_socket`, the hook smtplib's own
    SMTP_SSL overrides (Python 3.11-3.13).
    """

    def __init__(self, destination: egress.Destination, **kwargs) -> None:
        self._destination = destination
        super().__init__(**kwargs)

    def _get_socket(self, host, port, timeout):
        return super()._get_socket(self._destination.address, self._destination.port, timeout)


class _PinnedSMTPSSL(_PinnedSMTP, smtplib.SMTP_SSL):
    pass


@contextmanager
def _smtp(server: SmtpServer) -> Iterator[smtplib.SMTP]:
    """Connect, secure and log in; every failure becomes a DeliveryError."""
    timeout = delivery_timeout()
    client: smtplib.SMTP | None = None
    destination = egress.resolve(server.host, server.port, what="SMTP")
    try:
        # Given the name, smtplib connects at once (through _get_socket) and keeps the name for TLS.
        if server.security == "ssl":
            client = _PinnedSMTPSSL(
                destination, host=server.host, port=server.port, timeout=timeout, context=tls_context()
            )
        else:
            client = _PinnedSMTP(destination, host=server.host, port=server.port, timeout=timeout)
        # Raises on a server that does not answer EHLO/HELO as a mail server does.
        client.ehlo_or_helo_if_needed()
        if server.security == "starttls":
            client.starttls(context=tls_context())
            client.ehlo()
        if server.username:
            client.login(server.username, server.password or "")
    except (smtplib.SMTPException, OSError) as exc:
        if client is not None:
            with suppress(OSError):
                client.close()
        if isinstance(exc, smtplib.SMTPException):
            raise _smtp_error(exc, server) from None
        raise network_error(exc, server.where, what="SMTP") from None
    try:
        yield client
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            with suppress(OSError):
                client.close()


def _smtp_error(exc: smtplib.SMTPException, server: SmtpServer) -> DeliveryError:
    where = server.where
    if isinstance(exc, smtplib.SMTPAuthenticationError):
        return DeliveryError(f"SMTP authentication failed for user {server.username!r} on {where}", transient=False)
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return DeliveryError(f"mail server {where} does not support what SMTP_URL asks for", transient=False)
    if isinstance(exc, smtplib.SMTPConnectError):
        return DeliveryError(f"mail server {where} gave an unexpected greeting (is it a mail server?)", transient=True)
    if isinstance(exc, smtplib.SMTPServerDisconnected):
        return DeliveryError(f"mail server {where} closed the connection", transient=True)
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        transient = all(400 <= code < 500 for code in codes)
        return DeliveryError(
            f"mail server {where} refused the recipients: {', '.join(sorted(exc.recipients))}", transient=transient
        )
    # The reply code says enough; the server's text (its banner, say) is never passed on.
    code = getattr(exc, "smtp_code", None)
    if isinstance(code, int) and 400 <= code < 600:
        kind = "temporarily refused" if code < 500 else "refused"
        return DeliveryError(f"mail server {where} {kind} the request (reply {code})", transient=code < 500)
    if isinstance(exc, ssl.SSLError):  # pragma: no cover - smtplib wraps these as OSError
        return network_error(exc, where, what="SMTP")
    return DeliveryError(f"mail server {where} gave an unexpected reply", transient=True)


def open_smtp(server: SmtpServer):
    """A connected, secured, logged-in client of the platform's mail server (alerts send through it)."""
    return _smtp(server)
