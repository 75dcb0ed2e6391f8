"""An aiosmtpd SMTP server (Controller thread) that keeps every message it receives."""

from __future__ import annotations

import email
import email.policy
import warnings
from dataclasses import dataclass
from email.message import EmailMessage

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from tests.servers.common import HOST, TlsCert, free_port, wait_closed


@dataclass(frozen=True)
class Received:
    mail_from: str
    rcpt_tos: list[str]
    data: bytes

    @property
    def message(self) -> EmailMessage:
        return email.message_from_bytes(self.data, policy=email.policy.default)  # type: ignore[return-value]

    def attachments(self) -> dict[str, bytes]:
        """Attachments by file name, as the bytes that went over the wire (base64 decoded)."""
        return {part.get_filename(): part.get_payload(decode=True) for part in self.message.iter_attachments()}


class _Collector:
    def __init__(self) -> None:
        self.received: list[Received] = []

    async def handle_DATA(self, server, session, envelope) -> str:
        self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
        return "250 Message accepted"


class _Controller(Controller):
    def factory(self):
        # Login over implicit TLS needs auth_require_tls=False (aiosmtpd only counts STARTTLS
        # as TLS), which makes aiosmtpd warn on every connection; warnings are errors here.
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)
            return super().factory()


class SmtpServer:
    """`security`: "none", "ssl" (implicit TLS) or "starttls"; with `username` login is required."""

    def __init__(
        self,
        *,
        username: str | None = None,
        password: str | None = None,
        security: str = "none",
        cert: TlsCert | None = None,
    ) -> None:
        self.host = HOST
        self.port = free_port()
        self.username = username
        self.password = password
        self.security = security
        self.cert = cert
        self._collector = _Collector()
        self._controller: Controller | None = None

    @property
    def messages(self) -> list[Received]:
        return list(self._collector.received)

    def url(self, username: str | None = None, password: str | None = None) -> str:
        """The SMTP_URL for this server (with the given or the server's login)."""
        scheme = {"none": "smtp", "ssl": "smtps", "starttls": "smtp+starttls"}[self.security]
        user = username if username is not None else self.username
        secret = password if password is not None else self.password
        login = f"{user}:{secret}@" if user else ""
        return f"{scheme}://{login}{self.host}:{self.port}"

    def _authenticate(self, server, session, envelope, mechanism, auth_data) -> AuthResult:
        ok = (
            isinstance(auth_data, LoginPassword)
            and auth_data.login.decode() == self.username
            and auth_data.password.decode() == self.password
        )
        return AuthResult(success=ok, handled=False)

    def start(self) -> None:
        kwargs: dict = {}
        if self.username:
            kwargs.update(
                authenticator=self._authenticate,
                auth_required=True,
                auth_require_tls=self.security == "starttls",
            )
        if self.security == "ssl":
            kwargs["ssl_context"] = self.cert.server_context()
        elif self.security == "starttls":
            kwargs.update(tls_context=self.cert.server_context(), require_starttls=True)
        self._controller = _Controller(self._collector, hostname=self.host, port=self.port, **kwargs)
        self._controller.start()

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None
            wait_closed(self.port)

    shutdown = stop
