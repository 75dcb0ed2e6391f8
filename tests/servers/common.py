"""Helpers shared by the loopback servers: free ports, a self-signed certificate, sources."""

from __future__ import annotations

import hashlib
import io
import ipaddress
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app.services.transports import DeliverySource

HOST = "127.0.0.1"


def free_port() -> int:
    """A port nothing listens on right now (the server binds it again with SO_REUSEADDR)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return sock.getsockname()[1]


def wait_closed(port: int, attempts: int = 200) -> None:
    """Block until connecting to the port is refused (the listener is really gone)."""
    import time

    for _ in range(attempts):
        try:
            with socket.create_connection((HOST, port), timeout=0.2):
                pass
        except OSError:
            return
        time.sleep(0.01)
    raise RuntimeError(f"port {port} still accepts connections")


@dataclass(frozen=True)
class TlsCert:
    cert_path: Path
    key_path: Path
    combined_path: Path  # certificate + key in one PEM (pyftpdlib wants that)

    def server_context(self):
        import ssl

        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert_path, self.key_path)
        return ctx


def make_tls_cert(directory: Path) -> TlsCert:
    """A self-signed certificate valid for 127.0.0.1 and localhost."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "batch-manager test server")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(HOST)), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_pem = cert.public_bytes(serialization.Encoding.PEM)
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    directory.mkdir(parents=True, exist_ok=True)
    paths = TlsCert(directory / "cert.pem", directory / "key.pem", directory / "combined.pem")
    paths.cert_path.write_bytes(cert_pem)
    paths.key_path.write_bytes(key_pem)
    paths.combined_path.write_bytes(cert_pem + key_pem)
    return paths


def make_source(data: bytes, file_name: str = "leads.csv", batch_id: int = 1, **context) -> DeliverySource:
    """A DeliverySource over bytes in memory, as the file store would hand it over."""
    return DeliverySource(
        file_name=file_name,
        size=len(data),
        sha256=hashlib.sha256(data).hexdigest(),
        opener=lambda: io.BytesIO(data),
        batch_id=batch_id,
        enterprise_id=context.pop("enterprise_id", 1),
        **context,
    )


def sample_bytes(rows: int = 200) -> bytes:
    """CSV-like bytes with awkward content: unicode, quotes, CRLF, a NUL and high bytes."""
    lines = [b"Lead ID,Email,Name\r\n"]
    for i in range(rows):
        lines.append(f'{i},person{i}@example.com,"Zoë ""Q"" {i}, Ünïcødé"\r\n'.encode())
    return b"".join(lines) + bytes(range(256))
