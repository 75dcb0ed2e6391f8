"""FTP and FTPS delivery against real pyftpdlib servers on loopback."""

from __future__ import annotations

import pytest

from app.errors import DeliveryError, ValidationError
from app.services.transports import Secret, get_transport
from tests.servers.common import make_source, sample_bytes

ftp = get_transport("ftp")


@pytest.fixture
def app(delivery_app):
    """These tests need the app's config, not database rows."""
    return delivery_app


def password(server) -> Secret:
    return Secret("password", server.password)


def test_ftp_delivery_is_byte_identical_and_leaves_no_temporary_file(app, ftp_server):
    data = sample_bytes()

    receipt = ftp.deliver(make_source(data, "leads 1.csv"), ftp_server.settings(), password(ftp_server))

    assert ftp_server.files() == {"leads 1.csv": data}
    assert (receipt.remote, receipt.remote_size) == ("/upload/leads 1.csv", len(data))


def test_ftps_delivery_with_protected_data_channel(app, ftps_server, trust_test_ca):
    data = sample_bytes(50)

    ftp.deliver(make_source(data), ftps_server.settings(), password(ftps_server))

    assert ftps_server.files() == {"leads.csv": data}


def test_ftps_with_an_untrusted_certificate_is_refused(app, ftps_server):
    with pytest.raises(DeliveryError) as caught:
        ftp.deliver(make_source(b"x"), ftps_server.settings(), password(ftps_server))
    assert caught.value.transient is False
    assert f"TLS certificate of 127.0.0.1:{ftps_server.port} could not be verified" in caught.value.message
    assert ftps_server.files() == {}


@pytest.mark.parametrize("refuse_overwrite", [False, True], ids=["rename-overwrites", "server-refuses-overwrite"])
def test_redelivery_replaces_the_file_never_duplicates(app, ftp_server, refuse_overwrite):
    if refuse_overwrite:
        ftp_server.stop()
        ftp_server.refuse_overwrite = True
        ftp_server.start()
    ftp.deliver(make_source(b"first\r\n"), ftp_server.settings(), password(ftp_server))
    ftp.deliver(make_source(b"second version\r\n"), ftp_server.settings(), password(ftp_server))

    assert ftp_server.files() == {"leads.csv": b"second version\r\n"}


def test_wrong_password_is_a_permanent_failure(app, ftp_server):
    with pytest.raises(DeliveryError) as caught:
        ftp.deliver(make_source(b"x"), ftp_server.settings(), Secret("password", "wrong-Pa55"))
    assert caught.value.transient is False
    assert caught.value.message == f"authentication failed for user 'bm' on 127.0.0.1:{ftp_server.port}"
    assert "wrong-Pa55" not in str(caught.value)


def test_server_down_is_transient_and_delivery_works_once_it_is_back(app, ftp_server):
    ftp_server.stop()
    with pytest.raises(DeliveryError) as caught:
        ftp.deliver(make_source(b"x"), ftp_server.settings(), password(ftp_server))
    assert caught.value.transient is True
    assert caught.value.message == f"FTP: connection refused by 127.0.0.1:{ftp_server.port}"

    ftp_server.start()
    ftp.deliver(make_source(b"back\r\n"), ftp_server.settings(), password(ftp_server))
    assert ftp_server.files() == {"leads.csv": b"back\r\n"}


def test_missing_remote_directory_is_a_permanent_failure_and_leaves_nothing(app, ftp_server):
    with pytest.raises(DeliveryError) as caught:
        ftp.deliver(make_source(b"x"), ftp_server.settings(remote_dir="/nowhere"), password(ftp_server))
    assert caught.value.transient is False
    assert caught.value.message.startswith(f"FTP server 127.0.0.1:{ftp_server.port} refused the upload to /nowhere")
    assert ftp_server.files() == {}


def test_test_connection_ok_and_not_ok(app, ftp_server, ftps_server, trust_test_ca):
    ok = ftp.test_connection(ftp_server.settings(), password(ftp_server))
    assert (ok.ok, ok.message) == (True, f"Connected to 127.0.0.1:{ftp_server.port} (FTP) as bm; /upload is writable.")
    assert ftp_server.files() == {}

    secure = ftp.test_connection(ftps_server.settings(), password(ftps_server))
    assert secure.ok is True and "(FTPS)" in secure.message

    wrong = ftp.test_connection(ftp_server.settings(), Secret("password", "nope"))
    assert wrong.ok is False and wrong.message.startswith("authentication failed")

    missing = ftp.test_connection(ftp_server.settings(remote_dir="/missing"), password(ftp_server))
    assert missing.ok is False and "refused the upload to /missing" in missing.message


def test_settings_are_validated_and_normalised(app):
    assert ftp.validate_settings({"method": "ftp", "host": "ftp.example.com", "tls": "true", "remoteDir": "in/"}) == {
        "host": "ftp.example.com",
        "port": 21,
        "username": "anonymous",
        "remoteDir": "in",
        "tls": True,
    }
    with pytest.raises(ValidationError) as caught:
        ftp.validate_settings({"port": 0, "tls": "maybe"})
    assert caught.value.details == {
        "delivery.host": ["required"],
        "delivery.port": ["must be a number between 1 and 65535"],
        "delivery.tls": ["must be true or false"],
    }
