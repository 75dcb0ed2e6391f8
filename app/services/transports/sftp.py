"""SFTP delivery with paramiko: verified host key, upload to a temporary name, atomic rename."""

from __future__ import annotations

import base64
import binascii
import errno
import io
import os
import secrets
import socket
import stat
from collections.abc import Iterator
from contextlib import contextmanager, suppress

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from app.errors import DeliveryError
from app.services import egress
from app.services.transports.base import (
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
)

KNOWN_KEY_TYPES = {
    "ssh-ed25519",
    "ssh-rsa",
    "ecdsa-sha2-nistp256",
    "ecdsa-sha2-nistp384",
    "ecdsa-sha2-nistp521",
}


def parse_host_key(text: str) -> paramiko.PKey:
    """A public key from `type base64 [comment]` (a known_hosts line's host part is skipped)."""
    tokens = text.split()
    for index, token in enumerate(tokens[:-1]):
        if token in KNOWN_KEY_TYPES:
            try:
                blob = base64.b64decode(tokens[index + 1], validate=True)
                key = paramiko.PKey.from_type_string(token, blob)
            except (binascii.Error, ValueError, paramiko.SSHException, paramiko.UnknownKeyType):
                raise ValueError("not a valid public key: expected e.g. 'ssh-ed25519 AAAA…'") from None
            if key.get_name() != token:
                raise ValueError("key type does not match the key data")
            return key
    raise ValueError(f"must be a public key line starting with one of: {', '.join(sorted(KNOWN_KEY_TYPES))}")


def fingerprint(key: paramiko.PKey) -> str:
    return key.fingerprint  # "SHA256:…", as ssh-keygen -l shows it


def load_private_key(text: str, passphrase: str | None = None) -> paramiko.PKey:
    """A paramiko key from PEM / OpenSSH private key text; ValueError with a clear reason.

    cryptography parses (and decrypts) the key, then it is handed to paramiko in the
    unencrypted format paramiko reads best for its type.
    """
    data = text.strip().encode() + b"\n"
    password = passphrase.encode() if passphrase else None
    try:
        loaded = _parse_private_key(data, password)
    except TypeError as exc:
        if password is not None and "not encrypted" in str(exc):
            loaded = _parse_private_key(data, None)
        else:
            raise ValueError("the private key is encrypted: give its passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        if password is not None:
            raise ValueError("the private key could not be decrypted: wrong passphrase?") from None
        raise ValueError("not an SSH private key in PEM or OpenSSH format (ed25519, ecdsa or rsa)") from None
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        key_class, fmt = paramiko.Ed25519Key, serialization.PrivateFormat.OpenSSH
    elif isinstance(loaded, ec.EllipticCurvePrivateKey):
        key_class, fmt = paramiko.ECDSAKey, serialization.PrivateFormat.TraditionalOpenSSL
    elif isinstance(loaded, rsa.RSAPrivateKey):
        key_class, fmt = paramiko.RSAKey, serialization.PrivateFormat.TraditionalOpenSSL
    else:
        raise ValueError("unsupported key type: use ed25519, ecdsa or rsa")
    plain = loaded.private_bytes(serialization.Encoding.PEM, fmt, serialization.NoEncryption()).decode()
    return key_class.from_private_key(io.StringIO(plain))


def _parse_private_key(data: bytes, password: bytes | None):
    if b"OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, password=password)
    return serialization.load_pem_private_key(data, password=password)


class SftpTransport(Transport):
    method = "sftp"
    label = "SFTP"
    credential_kinds = ("password", "ssh_private_key")

    def validate_settings(self, settings: dict) -> dict:
        errors = SettingsErrors(self.method, settings, ("host", "port", "username", "remoteDir", "hostKey"))
        host = check_host(errors)
        port = errors.port("port", 22)
        username = errors.text("username", max_length=100)
        remote_dir = errors.remote_dir()
        host_key = errors.text("hostKey", max_length=16_384)
        if host_key:
            try:
                key = parse_host_key(host_key)
                host_key = f"{key.get_name()} {key.get_base64()}"
            except ValueError as exc:
                errors.add("hostKey", str(exc))
        errors.raise_if_any()
        return {"host": host, "port": port, "username": username, "remoteDir": remote_dir, "hostKey": host_key}

    def destinations(self, settings: dict) -> list[tuple[str, str, int]]:
        return [("host", settings["host"], settings["port"])]

    def deliver(self, source: DeliverySource, settings: dict, secret: Secret | None) -> DeliveryReceipt:
        settings = self.settings_for_delivery(settings)
        plain_file_name(source.file_name)
        self.check_secret(secret)
        where = f"{settings['host']}:{settings['port']}"
        final = join_remote(settings["remoteDir"], source.file_name)
        partial = join_remote(settings["remoteDir"], temp_name(source.file_name, source.batch_id))
        with _session(settings, secret) as sftp:
            try:
                with source.open() as fh:
                    sftp.putfo(fh, partial, file_size=source.size, confirm=True)
                _replace(sftp, partial, final)
                remote_size = sftp.stat(final).st_size
            except Exception as exc:
                _discard(sftp, partial)
                raise _transfer_error(exc, where, settings["remoteDir"], _closed(sftp)) from exc
        return DeliveryReceipt(remote=final, remote_size=remote_size)

    def test_connection(self, settings: dict, secret: Secret | None, enterprise_id: int | None = None):
        def attempt() -> str:
            clean = self.validate_settings(settings)
            where = f"{clean['host']}:{clean['port']}"
            probe = join_remote(clean["remoteDir"], f".batch-manager-probe-{secrets.token_hex(4)}")
            with _session(clean, secret) as sftp:
                try:
                    if not stat.S_ISDIR(sftp.stat(clean["remoteDir"]).st_mode or 0):
                        raise DeliveryError(f"{clean['remoteDir']} on {where} is not a directory", transient=False)
                    with sftp.open(probe, "wb") as fh:
                        fh.write(b"")
                    sftp.remove(probe)
                except DeliveryError:
                    raise
                except Exception as exc:
                    raise _transfer_error(exc, where, clean["remoteDir"], _closed(sftp)) from exc
            return f"Connected to {where} as {clean['username']}; {clean['remoteDir']} is writable."

        return self.run_test(attempt, settings, secret)


@contextmanager
def _session(settings: dict, secret: Secret | None) -> Iterator[paramiko.SFTPClient]:
    """An authenticated SFTP session, or a DeliveryError saying why not."""
    host, port, username = settings["host"], settings["port"], settings["username"]
    where = f"{host}:{port}"
    timeout = delivery_timeout()
    client = paramiko.SSHClient()
    # Only the configured key is trusted: never the user's known_hosts, never auto-add.
    client.set_missing_host_key_policy(paramiko.RejectPolicy())
    key = parse_host_key(settings["hostKey"])
    client.get_host_keys().add(host if port == 22 else f"[{host}]:{port}", key.get_name(), key)
    auth: dict = {}
    if secret is not None and secret.kind == "password":
        auth["password"] = secret.value
    elif secret is not None:
        value = secret.value if isinstance(secret.value, dict) else {"privateKey": secret.value}
        try:
            auth["pkey"] = load_private_key(value["privateKey"], value.get("passphrase"))
        except ValueError as exc:
            raise DeliveryError(f"SFTP private key unusable: {exc}", transient=False) from None
    # Egress policy, second pass: the socket goes to the address just checked; paramiko gets
    # the configured name only to look up the host key.
    destination = egress.resolve(host, port, what="SFTP")
    try:
        sock = egress.connect(destination, timeout)
    except OSError as exc:
        client.close()
        raise network_error(exc, where) from None
    try:
        client.connect(
            host,
            port=port,
            sock=sock,
            username=username,
            timeout=timeout,
            banner_timeout=timeout,
            auth_timeout=timeout,
            channel_timeout=timeout,
            allow_agent=False,
            look_for_keys=False,
            **auth,
        )
        sftp = client.open_sftp()
        sftp.get_channel().settimeout(timeout)
    except paramiko.BadHostKeyException as exc:
        client.close()
        sock.close()
        raise DeliveryError(
            f"SFTP host key for {where} does not match the configured key "
            f"(server offered {exc.key.get_name()} {fingerprint(exc.key)})",
            transient=False,
        ) from None
    except paramiko.AuthenticationException:
        client.close()
        sock.close()
        raise DeliveryError(f"authentication failed for user {username!r} on {where}", transient=False) from None
    except paramiko.SSHException as exc:
        client.close()
        sock.close()
        if "known_hosts" in str(exc) or "host key" in str(exc).lower():
            raise DeliveryError(
                f"SFTP host key for {where} does not match the configured key", transient=False
            ) from None
        # paramiko's text can quote what the server sent (its banner): never pass it on.
        raise DeliveryError(
            f"SSH handshake with {where} failed (not an SSH server, or no algorithm in common)", transient=True
        ) from None
    except (OSError, EOFError) as exc:
        client.close()
        sock.close()
        raise network_error(exc, where, what="SFTP") from None
    try:
        yield sftp
    finally:
        client.close()


def _replace(sftp: paramiko.SFTPClient, partial: str, final: str) -> None:
    """Move the upload into place, replacing any earlier delivery of the same file."""
    try:
        sftp.posix_rename(partial, final)
        return
    except OSError as exc:
        # paramiko drops the status code: "unsupported" arrives as an OSError without errno
        # (a missing directory or denied permission keep theirs, and are real failures).
        if exc.errno is not None:
            raise
    # Without posix-rename, plain SFTP rename refuses to overwrite: remove the old copy first.
    try:
        sftp.remove(final)
    except FileNotFoundError:
        pass
    except OSError as exc:
        if exc.errno != errno.ENOENT:
            raise
    sftp.rename(partial, final)


def _discard(sftp: paramiko.SFTPClient, partial: str) -> None:
    # Best effort: the connection may be gone already.
    with suppress(Exception):
        sftp.remove(partial)


def _closed(sftp: paramiko.SFTPClient) -> bool:
    """Whether the SFTP session is gone (the server dropped the connection)."""
    channel = sftp.get_channel()
    return channel is None or channel.closed


def _transfer_error(exc: Exception, where: str, remote_dir: str, closed: bool = False) -> DeliveryError:
    """A failure during the transfer, as a DeliveryError that says whether to retry.

    `closed`: the session was gone by then. A server that drops the connection may first
    answer the pending write with a bare failure status (paramiko raises an OSError without
    errno) or not at all (EOFError), depending on timing; both are a lost connection.
    """
    if isinstance(exc, DeliveryError):
        return exc
    if isinstance(exc, socket.timeout | TimeoutError):
        return network_error(exc, where, what="SFTP")
    if isinstance(exc, OSError) and exc.errno == errno.ENOENT:
        return DeliveryError(f"remote directory {remote_dir} does not exist on {where}", transient=False)
    if isinstance(exc, OSError) and exc.errno == errno.EACCES:
        return DeliveryError(f"permission denied writing to {remote_dir} on {where}", transient=False)
    if isinstance(exc, paramiko.SSHException | EOFError | ConnectionError) or (
        closed and isinstance(exc, OSError) and exc.errno is None
    ):
        return DeliveryError(f"SFTP connection to {where} was lost during the upload", transient=True)
    if isinstance(exc, OSError):
        # The server's status text is not passed on; the error number says what failed in our words.
        reason = os.strerror(exc.errno) if exc.errno else "the server reported a failure"
        return DeliveryError(f"SFTP upload to {where} failed ({reason})", transient=True)
    return DeliveryError(f"SFTP upload to {where} failed: {type(exc).__name__}", transient=True)
