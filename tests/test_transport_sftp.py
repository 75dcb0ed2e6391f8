"""SFTP delivery against a real asyncssh server on loopback."""

from __future__ import annotations

import socket
import threading

import asyncssh
import pytest

from app.errors import DeliveryError, ValidationError
from app.services.transports import Secret, get_transport
from tests.servers.common import make_source, sample_bytes

sftp = get_transport("sftp")


@pytest.fixture
def app(delivery_app):
    """These tests need the app's config, not database rows."""
    return delivery_app


def password(server) -> Secret:
    return Secret("password", server.password)


def test_delivered_file_is_byte_identical_and_no_temporary_file_is_left(app, sftp_server):
    data = sample_bytes()

    receipt = sftp.deliver(make_source(data, "leads_1.csv"), sftp_server.settings(), password(sftp_server))

    assert sftp_server.files() == {"leads_1.csv": data}
    assert receipt.remote == "/upload/leads_1.csv"
    assert receipt.remote_size == len(data)


def test_private_key_login_openssh_text_and_encrypted_key_with_passphrase(app, sftp_server, client_keypair):
    private_key = client_keypair[0]
    sftp.deliver(make_source(b"a,b\r\n", "plain.csv"), sftp_server.settings(), Secret("ssh_private_key", private_key))

    encrypted = asyncssh.generate_private_key("ecdsa-sha2-nistp256")
    sftp_server.authorized_keys.append(encrypted.export_public_key("openssh").decode())
    secret = Secret(
        "ssh_private_key",
        {
            "privateKey": encrypted.export_private_key(
                "openssh", passphrase="k3y-pass", rounds=2, ignore_few_rounds=True
            ).decode(),
            "passphrase": "k3y-pass",
        },
    )
    sftp.deliver(make_source(b"c,d\r\n", "encrypted.csv"), sftp_server.settings(), secret)

    assert sftp_server.files() == {"encrypted.csv": b"c,d\r\n", "plain.csv": b"a,b\r\n"}


@pytest.mark.parametrize("posix_rename", [True, False], ids=["posix-rename", "plain-rename"])
def test_redelivery_replaces_the_file_never_duplicates(app, sftp_server, posix_rename):
    sftp_server.posix_rename = posix_rename
    sftp.deliver(make_source(b"first\r\n", "same.csv"), sftp_server.settings(), password(sftp_server))
    sftp.deliver(make_source(b"second version\r\n", "same.csv"), sftp_server.settings(), password(sftp_server))

    assert sftp_server.files() == {"same.csv": b"second version\r\n"}


def test_wrong_password_is_a_permanent_failure_with_a_clear_message(app, sftp_server):
    with pytest.raises(DeliveryError) as caught:
        sftp.deliver(make_source(b"x"), sftp_server.settings(), Secret("password", "not-the-Pa55"))

    assert caught.value.transient is False
    assert caught.value.message == f"authentication failed for user 'bm' on 127.0.0.1:{sftp_server.port}"
    assert "not-the-Pa55" not in str(caught.value)
    assert sftp_server.files() == {}


def test_server_down_is_transient_and_delivery_works_once_it_is_back(app, sftp_server):
    sftp_server.stop()
    with pytest.raises(DeliveryError) as caught:
        sftp.deliver(make_source(b"x"), sftp_server.settings(), password(sftp_server))
    assert caught.value.transient is True
    assert caught.value.message == f"connection refused by 127.0.0.1:{sftp_server.port}"

    sftp_server.start()
    sftp.deliver(make_source(b"back\r\n"), sftp_server.settings(), password(sftp_server))
    assert sftp_server.files() == {"leads.csv": b"back\r\n"}


def test_connection_lost_mid_upload_is_transient_and_leaves_no_file_under_the_final_name(app, sftp_server):
    data = sample_bytes(5000)
    sftp_server.write_gate = threading.Event()
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            # The egress allowlist is app config: outside an app context nothing private is reached.
            with app.app_context():
                sftp.deliver(make_source(data), sftp_server.settings(), password(sftp_server))
        except BaseException as exc:
            outcome.append(exc)

    sender = threading.Thread(target=send)
    sender.start()
    assert sftp_server.write_seen.wait(10)
    sftp_server.stop()  # drops the live connection while the first write is held
    sftp_server.write_gate.set()
    sender.join(30)

    [error] = outcome
    assert isinstance(error, DeliveryError) and error.transient is True
    assert error.message == f"SFTP connection to 127.0.0.1:{sftp_server.port} was lost during the upload"
    assert "leads.csv" not in sftp_server.files()

    # The retry reuses the same temporary name, so nothing is left over once it succeeds.
    sftp_server.write_gate = None
    sftp_server.start()
    sftp.deliver(make_source(data), sftp_server.settings(), password(sftp_server))
    assert sftp_server.files() == {"leads.csv": data}


def test_changed_host_key_is_refused_and_nothing_is_uploaded(app, sftp_server):
    configured = sftp_server.settings()
    sftp_server.replace_host_key()

    with pytest.raises(DeliveryError) as caught:
        sftp.deliver(make_source(b"secret leads"), configured, password(sftp_server))

    assert caught.value.transient is False
    assert f"SFTP host key for 127.0.0.1:{sftp_server.port} does not match the configured key" in caught.value.message
    assert sftp_server.files() == {}


def test_unknown_host_key_of_another_type_is_refused(app, sftp_server):
    other = asyncssh.generate_private_key("ecdsa-sha2-nistp256").export_public_key("openssh").decode()

    with pytest.raises(DeliveryError) as caught:
        sftp.deliver(make_source(b"x"), sftp_server.settings(hostKey=other), password(sftp_server))

    assert caught.value.transient is False
    assert "does not match the configured key" in caught.value.message
    assert sftp_server.files() == {}


def test_missing_remote_directory_is_a_permanent_failure(app, sftp_server):
    with pytest.raises(DeliveryError) as caught:
        sftp.deliver(make_source(b"x"), sftp_server.settings(remote_dir="/nowhere"), password(sftp_server))
    assert caught.value.transient is False
    assert caught.value.message == f"remote directory /nowhere does not exist on 127.0.0.1:{sftp_server.port}"


def test_server_that_never_answers_times_out_as_transient(app):
    app.config["DELIVERY_TIMEOUT"] = 1
    # Accepts TCP connections (the kernel does) but never sends an SSH banner.
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        port = silent.getsockname()[1]
        settings = {
            "host": "127.0.0.1",
            "port": port,
            "username": "bm",
            "remoteDir": "/",
            "hostKey": asyncssh.generate_private_key("ssh-ed25519").export_public_key("openssh").decode(),
        }
        with pytest.raises(DeliveryError) as caught:
            sftp.deliver(make_source(b"x"), settings, Secret("password", "pw"))
    assert caught.value.transient is True
    assert f"127.0.0.1:{port}" in caught.value.message


def test_missing_or_wrong_kind_of_credential_is_permanent(app, sftp_server):
    with pytest.raises(DeliveryError, match="needs a credential") as caught:
        sftp.deliver(make_source(b"x"), sftp_server.settings(), None)
    assert caught.value.transient is False
    with pytest.raises(DeliveryError, match="cannot use a s3_keys credential"):
        sftp.deliver(make_source(b"x"), sftp_server.settings(), Secret("s3_keys", {"accessKeyId": "a"}))


def test_test_connection_reports_success_and_each_kind_of_failure(app, sftp_server):
    ok = sftp.test_connection(sftp_server.settings(), password(sftp_server))
    assert ok.ok is True
    assert ok.message == f"Connected to 127.0.0.1:{sftp_server.port} as bm; /upload is writable."
    assert sftp_server.files() == {}  # the probe file is gone

    bad_password = sftp.test_connection(sftp_server.settings(), Secret("password", "nope"))
    assert (bad_password.ok, bad_password.message) == (
        False,
        f"authentication failed for user 'bm' on 127.0.0.1:{sftp_server.port}",
    )

    no_dir = sftp.test_connection(sftp_server.settings(remote_dir="/missing"), password(sftp_server))
    assert no_dir.ok is False and "/missing does not exist" in no_dir.message

    invalid = sftp.test_connection(sftp_server.settings(hostKey=""), password(sftp_server))
    assert invalid.ok is False and "delivery.hostKey: required" in invalid.message

    sftp_server.stop()
    down = sftp.test_connection(sftp_server.settings(), password(sftp_server))
    assert down.ok is False and down.message == f"connection refused by 127.0.0.1:{sftp_server.port}"


def test_settings_are_validated_and_normalised(app, sftp_server):
    key_line = sftp_server.host_key_line
    clean = sftp.validate_settings(
        {
            "method": "sftp",
            "credentialId": 7,
            "host": " sftp.example.com ",
            "port": "2222",
            "username": "acme",
            "remoteDir": "/in/",
            "hostKey": f"{key_line} ops@laptop",
        }
    )
    assert clean == {
        "host": "sftp.example.com",
        "port": 2222,
        "username": "acme",
        "remoteDir": "/in",
        "hostKey": " ".join(key_line.split()[:2]),
    }

    with pytest.raises(ValidationError) as caught:
        sftp.validate_settings(
            {"host": "a b", "port": 70000, "remoteDir": "/x/../etc", "hostKey": "ssh-ed25519 !!!", "extra": 1}
        )
    assert set(caught.value.details) == {
        "delivery.host",
        "delivery.port",
        "delivery.username",
        "delivery.remoteDir",
        "delivery.hostKey",
        "delivery.extra",
    }

    with pytest.raises(ValidationError) as caught:
        sftp.validate_settings({"host": "h", "username": "u"})
    assert caught.value.details == {"delivery.hostKey": ["required"]}
