"""FTP / FTPS delivery (ftplib, passive mode): upload to a temporary name, then rename."""

from __future__ import annotations

import ftplib
import io
import secrets
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from app.errors import DeliveryError
from app.services import egress
from app.services.transports.base import (
    COPY_CHUNK,
    DeliveryReceipt,
    DeliverySource,
    Secret,
    SettingsErrors,
    Transport,
    check_host,
    delivery_timeout,
    join_remote,
    network_error,
    plain_file_name,
    temp_name,
    tls_context,
)

_FTP_ERRORS = (ftplib.Error, OSError, EOFError)


class FtpTransport(Transport):
    method = "ftp"
    label = "FTP"
    # Optional: without a credential the login is anonymous.
    credential_kinds = ("password",)

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("host", "port", "username", "remoteDir", "tls"))
        host = check_host(errors)
        port = errors.port("port", 21)
        username = errors.text("username", required=False, default="anonymous", max_length=100)
        remote_dir = errors.remote_dir()
        # FTPS unless plain FTP is asked for by name: a request that omits `tls` gets TLS.
        tls = errors.boolean("tls", True)
        errors.raise_if_any()
        return {"host": host, "port": port, "username": username, "remoteDir": remote_dir, "tls": tls}

    def check_secret(self, secret: Secret | None) -> None:
        if secret is not None:
            super().check_secret(secret)

    def destinations(self, settings: dict) -> list[tuple[str, str, int]]:
        return [("host", settings["host"], settings["port"])]

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        self.check_secret(secret)
        final = join_remote(settings["remoteDir"], source.file_name)
        partial = join_remote(settings["remoteDir"], temp_name(source.file_name, source.batch_id))
        with _session(settings, secret) as (ftp, where):
            try:
                with source.open() as fh:
                    ftp.storbinary(f"STOR {partial}", fh, blocksize=COPY_CHUNK)
                _check_size(ftp, partial, source.size, where)
                _replace(ftp, partial, final)
                remote_size = _size(ftp, final)
            except _FTP_ERRORS as exc:
                with suppress(*_FTP_ERRORS):
                    ftp.delete(partial)
                raise _ftp_error(exc, where, settings) from None
        return DeliveryReceipt(remote=final, remote_size=remote_size)

    def test_connection(self, settings: dict, secret: Secret | None, enterprise_id: int | None = None):
        def attempt() -> str:
            clean = self.validate_settings(settings)
            probe = join_remote(clean["remoteDir"], f".batch-manager-probe-{secrets.token_hex(4)}")
            with _session(clean, secret) as (ftp, where):
                try:
                    ftp.storbinary(f"STOR {probe}", io.BytesIO(b""))
                    ftp.delete(probe)
                except _FTP_ERRORS as exc:
                    raise _ftp_error(exc, where, clean) from None
            security = "FTPS" if clean["tls"] else "FTP"
            return f"Connected to {where} ({security}) as {clean['username']}; {clean['remoteDir']} is writable."

        return self.run_test(attempt, settings, secret)


@contextmanager
def _session(settings: dict, secret: Secret | None) -> Iterator[tuple[ftplib.FTP, str]]:
    """A logged-in passive-mode session (TLS-protected control and data with `tls`)."""
    where = f"{settings['host']}:{settings['port']}"
    timeout = delivery_timeout()
    # FTPS (verified certificate) by default; plain FTP only when `tls` is false, for the
    # advertisers who still run it.
    if settings["tls"]:
        ftp: ftplib.FTP = ftplib.FTP_TLS(context=tls_context(), timeout=timeout)  # noqa: S321
    else:
        ftp = ftplib.FTP(timeout=timeout)  # noqa: S321
    # Egress policy, second pass: connect to the address just checked. ftplib then uses
    # `host` for the TLS name (AUTH TLS and every data channel), so the certificate is still
    # verified against the configured name; passive data connections go to the peer address.
    destination = egress.resolve(settings["host"], settings["port"], what="FTP")
    try:
        ftp.connect(destination.address, destination.port, timeout=timeout)
        ftp.host = destination.host
        password = secret.value if secret is not None else ""
        ftp.login(settings["username"], password)
        if isinstance(ftp, ftplib.FTP_TLS):
            ftp.prot_p()
        ftp.set_pasv(True)
    except _FTP_ERRORS as exc:
        with suppress(*_FTP_ERRORS):
            ftp.close()
        raise _ftp_error(exc, where, settings, connecting=True) from None
    try:
        yield ftp, where
    finally:
        try:
            ftp.quit()
        except _FTP_ERRORS:
            with suppress(*_FTP_ERRORS):
                ftp.close()


def _size(ftp: ftplib.FTP, path: str) -> int | None:
    """The size the server reports for `path` (SIZE, RFC 3659), None if it does not support SIZE."""
    try:
        return ftp.size(path)
    except ftplib.error_perm:
        return None


def _check_size(ftp: ftplib.FTP, path: str, expected: int, where: str) -> None:
    """The server must hold every byte before the file is moved into place (SIZE is optional)."""
    size = _size(ftp, path)
    if size is not None and size != expected:
        raise DeliveryError(f"upload to {where} was cut short ({size} of {expected} bytes)", transient=True)


def _replace(ftp: ftplib.FTP, partial: str, final: str) -> None:
    try:
        ftp.rename(partial, final)
    except ftplib.error_perm:
        # Some servers refuse to rename onto an existing file: remove the old copy first.
        with suppress(ftplib.error_perm):
            ftp.delete(final)
        ftp.rename(partial, final)


def _ftp_error(exc: BaseException, where: str, settings: dict, *, connecting: bool = False) -> DeliveryError:
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, ftplib.error_perm):
        text = str(exc)
        if text.startswith("530") or (connecting and text[:3] in {"331", "332", "430"}):
            return DeliveryError(f"authentication failed for user {settings['username']!r} on {where}", transient=False)
        if connecting and text.startswith(("500", "502", "504", "534")) and settings["tls"]:
            return DeliveryError(f"FTP server {where} does not support TLS (AUTH TLS refused)", transient=False)
        if connecting:
            return DeliveryError(f"FTP server {where} refused the session", transient=False)
        return DeliveryError(f"FTP server {where} refused the upload to {settings['remoteDir']}", transient=False)
    # The server's own words are never passed on: they could be any service's banner.
    if isinstance(exc, ftplib.error_temp):
        return DeliveryError(f"FTP server {where} is temporarily unavailable", transient=True)
    if isinstance(exc, ftplib.Error):
        return DeliveryError(f"FTP server {where} gave an unexpected reply (is it an FTP server?)", transient=True)
    return network_error(exc, where, what="FTP")
