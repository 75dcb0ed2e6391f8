"""pytest fixtures for the loopback servers (loaded by tests/conftest.py `pytest_plugins`).

    def test_x(app, sftp_server):          # started, stopped after the test
        transport.deliver(source, sftp_server.settings(), Secret("password", sftp_server.password))

Every server has stop()/start() on the same port, for "destination down, then back".
`tls_cert` is trusted by the app through DELIVERY_CA_FILE (set by `trust_test_ca`).
"""

from __future__ import annotations

import pytest

from tests.servers.common import TlsCert, make_tls_cert
from tests.servers.sftp import SftpServer, generate_keypair
from tests.servers.smtp import SmtpServer


@pytest.fixture(scope="session")
def _delivery_app_once(session_dir, database_url, redis_url):
    from app import create_app
    from tests.conftest import make_config

    return create_app(make_config(session_dir, database_url, redis_url))


@pytest.fixture
def delivery_app(_delivery_app_once):
    """An app context for transport tests that need config but no database rows.

    One app for the session (building one per test is the slow part); each test gets a
    fresh context and its config changes are undone afterwards. Transport test modules
    alias it as `app`, so the fixtures below see the same app.
    """
    app = _delivery_app_once
    saved = dict(app.config)
    with app.app_context():
        yield app
    app.config.clear()
    app.config.update(saved)


@pytest.fixture(scope="session")
def tls_cert(tmp_path_factory) -> TlsCert:
    return make_tls_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def trust_test_ca(app, tls_cert) -> TlsCert:
    """Make the app trust the test servers' self-signed certificate."""
    app.config["DELIVERY_CA_FILE"] = str(tls_cert.cert_path)
    return tls_cert


@pytest.fixture(scope="session")
def client_keypair() -> tuple[str, str]:
    """(OpenSSH private key, public key line) for SFTP public-key login."""
    return generate_keypair()


def _serve(server):
    server.start()
    try:
        yield server
    finally:
        server.shutdown()


@pytest.fixture
def sftp_server(tmp_path, client_keypair):
    """SFTP on loopback: password and public-key login, /upload exists and is empty."""
    server = SftpServer(tmp_path / "sftp-root", authorized_keys=(client_keypair[1],))
    (server.root / "upload").mkdir()
    yield from _serve(server)


@pytest.fixture
def smtp_server():
    """Plain SMTP, no login (the zero-setup dev mail catcher)."""
    yield from _serve(SmtpServer())


@pytest.fixture
def smtp_auth_server(tls_cert):
    """SMTP with STARTTLS required and a login."""
    yield from _serve(SmtpServer(username="mailer", password="mail-Pa55", security="starttls", cert=tls_cert))


@pytest.fixture
def smtps_server(tls_cert):
    """SMTP over implicit TLS with a login."""
    yield from _serve(SmtpServer(username="mailer", password="mail-Pa55", security="ssl", cert=tls_cert))


def _ftp_server_class():
    # Imported on first use: pyftpdlib pulls in asyncore/asynchat, whose import-time
    # DeprecationWarning would otherwise fail every test run (warnings are errors).
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        from tests.servers.ftp import FtpServer
    return FtpServer


@pytest.fixture
def ftp_server(tmp_path):
    server = _ftp_server_class()(tmp_path / "ftp-root")
    (server.root / "upload").mkdir()
    yield from _serve(server)


@pytest.fixture
def ftps_server(tmp_path, tls_cert):
    """FTPS (explicit AUTH TLS, protected data channel required)."""
    server = _ftp_server_class()(tmp_path / "ftps-root", cert=tls_cert)
    (server.root / "upload").mkdir()
    yield from _serve(server)


@pytest.fixture(scope="session")
def _moto_server():
    from tests.servers.s3 import MotoS3Server

    server = MotoS3Server()
    server.start()
    yield server
    server.set_auth(False)
    server.shutdown()


@pytest.fixture
def s3_server(_moto_server):
    """A bucket on the shared moto server, and an IAM user's keys; credentials are checked."""
    if _moto_server._server is None:
        _moto_server.start()
    from tests.servers.s3 import S3Destination

    _moto_server.set_auth(False)
    destination = S3Destination.create(_moto_server)
    _moto_server.set_auth(True)
    yield destination
    if _moto_server._server is None:  # a test left it down
        _moto_server.start()
    _moto_server.set_auth(False)
