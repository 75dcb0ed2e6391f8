"""Signed webhook POSTs, through the same egress policy as deliveries.

The receiver checks `X-BatchManager-Signature: t=<unix seconds>,v1=<hex>` where v1 is
HMAC-SHA256(secret, f"{t}.{body}") (Stripe's scheme): the timestamp is signed with the
body so a captured request cannot be replayed later with a new time. Only HTTPS: TLS is
verified against the system CAs, plus WEBHOOK_CA_FILE (or DELIVERY_CA_FILE) for a
private CA. The connection goes to the address egress.resolve checked, never to the name
again; the certificate is still checked against the name. Redirects are not followed
(a redirect could point inside), and a receiver's answer is recorded by status only.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ssl
import time
from urllib.parse import urlsplit

from flask import current_app

from app.errors import DeliveryError
from app.services import egress
from app.services.transports.base import delivery_timeout, network_error

SIGNATURE_HEADER = "X-BatchManager-Signature"
USER_AGENT = "BatchManager-Webhooks/1"


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """The signature header value for this body at this time."""
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def verify(secret: str, header: str, body: bytes, *, tolerance: int = 300, now: float | None = None) -> bool:
    """What a receiver does (and what the tests do): check the signature and the timestamp's age."""
    try:
        parts = dict(item.split("=", 1) for item in header.split(","))
        timestamp = int(parts["t"])
    except (ValueError, KeyError):
        return False
    if abs((now or time.time()) - timestamp) > tolerance:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), f"t={timestamp},v1={parts.get('v1', '')}")


def check_url(url: str) -> str | None:
    """The problem with a webhook URL being saved, or None (HTTPS, a host, egress policy)."""
    try:
        parts = urlsplit(url)
        port = parts.port or 443
    except ValueError:
        return "is not a valid URL"
    if parts.scheme != "https":
        return "must start with https://"
    if not parts.hostname:
        return "has no host"
    if parts.username or parts.password:
        return "must not carry a user or password (the body is signed instead)"
    return egress.check_on_save(parts.hostname, port)


def _tls_context() -> ssl.SSLContext:
    cafile = current_app.config.get("WEBHOOK_CA_FILE") or current_app.config.get("DELIVERY_CA_FILE")
    return ssl.create_default_context(cafile=cafile or None)


class _PinnedHTTPSConnection(http.client.HTTPSConnection):
    """Connects to the checked address; TLS (SNI and certificate) still uses the URL's name."""

    def __init__(self, destination: egress.Destination, **kwargs) -> None:
        super().__init__(destination.host, destination.port, **kwargs)
        self._destination = destination

    def connect(self) -> None:
        self.sock = egress.connect(self._destination, self.timeout)
        self.sock = self._context.wrap_socket(self.sock, server_hostname=self.host)


def post(url: str, body: bytes, secret: str, headers: dict[str, str]) -> int:
    """POST a signed JSON body; returns the HTTP status (DeliveryError if it never got one)."""
    parts = urlsplit(url)
    port = parts.port or 443
    where = f"{parts.hostname}:{port}"
    destination = egress.resolve(parts.hostname or "", port, what="webhook")
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    connection = _PinnedHTTPSConnection(destination, timeout=delivery_timeout(), context=_tls_context())
    all_headers = {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        SIGNATURE_HEADER: sign(secret, int(time.time()), body),
        **headers,
    }
    try:
        connection.request("POST", path, body=body, headers=all_headers)
        response = connection.getresponse()
        response.read(64 * 1024)  # drained, never stored: a receiver's text is not ours to echo
        return response.status
    except (OSError, http.client.HTTPException) as exc:
        if isinstance(exc, http.client.HTTPException):
            raise DeliveryError(f"webhook: {where} did not answer as an HTTP server", transient=True) from None
        raise network_error(exc, where, what="webhook") from None
    finally:
        connection.close()
