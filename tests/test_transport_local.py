"""Local folder delivery (confined to LOCAL_DELIVERY_ROOT) and the transport registry."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from app.errors import DeliveryError, ValidationError
from app.services.transports import METHODS, get_transport
from tests.servers.common import make_source, sample_bytes

local = get_transport("local")


@pytest.fixture
def app(delivery_app):
    """These tests need the app's config, not database rows."""
    return delivery_app


@pytest.fixture
def root(app, tmp_path) -> Path:
    path = tmp_path / "outbox"
    path.mkdir()
    app.config["LOCAL_DELIVERY_ROOT"] = str(path)
    return path


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_delivery_creates_the_directory_and_writes_identical_bytes(root):
    data = sample_bytes()

    receipt = local.deliver(make_source(data, "acme.csv"), {"directory": "acme/daily"}, None)

    assert listing(root / "acme" / "daily") == {"acme.csv": data}
    assert receipt.remote == str(root / "acme" / "daily" / "acme.csv")
    assert receipt.remote_size == len(data)


def test_absolute_directory_inside_the_root_is_accepted(root):
    local.deliver(make_source(b"a\r\n"), {"directory": str(root / "abs")}, None)
    assert listing(root / "abs") == {"leads.csv": b"a\r\n"}


def test_redelivery_replaces_the_file_never_duplicates(root):
    local.deliver(make_source(b"first\r\n"), {"directory": "x"}, None)
    local.deliver(make_source(b"second version\r\n"), {"directory": "x"}, None)
    assert listing(root / "x") == {"leads.csv": b"second version\r\n"}


@pytest.mark.parametrize("directory", ["../elsewhere", "/etc", "a/../../b"])
def test_directories_outside_the_root_are_refused_when_configured(root, directory):
    with pytest.raises(ValidationError) as caught:
        local.validate_settings({"directory": directory})
    assert caught.value.details == {"delivery.directory": [f"must be inside the local delivery root {root}"]}


def test_symlink_escape_is_refused_at_validation_and_at_delivery(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    os.symlink(outside, root / "sneaky")
    with pytest.raises(ValidationError):
        local.validate_settings({"directory": "sneaky"})

    # A link planted after the settings were saved is caught when delivering.
    local.validate_settings({"directory": "later"})
    os.symlink(outside, root / "later")
    with pytest.raises(DeliveryError) as caught:
        local.deliver(make_source(b"leads"), {"directory": "later"}, None)
    assert caught.value.transient is False
    assert caught.value.message.endswith(f"must be inside the local delivery root {root}")
    assert list(outside.iterdir()) == []


def test_file_names_with_separators_are_refused(root):
    with pytest.raises(DeliveryError, match="not a plain file name"):
        local.deliver(make_source(b"x", "../escape.csv"), {"directory": "x"}, None)


def test_a_file_where_the_directory_should_be_is_a_permanent_failure(root):
    (root / "taken").write_bytes(b"not a directory")
    with pytest.raises(DeliveryError) as caught:
        local.deliver(make_source(b"x"), {"directory": "taken"}, None)
    assert caught.value.transient is False
    assert caught.value.message == f"{root / 'taken'} is not a usable directory"


def test_stored_settings_that_no_longer_validate_fail_the_delivery_permanently(app):
    from app.services.transports import Secret

    with pytest.raises(DeliveryError) as caught:
        get_transport("sftp").deliver(make_source(b"x"), {"host": "sftp.example.com"}, Secret("password", "pw"))
    assert caught.value.transient is False
    assert caught.value.message == (
        "invalid sftp delivery settings: delivery.username: required; delivery.hostKey: required"
    )


def test_test_connection_ok_and_not_ok(root):
    ok = local.test_connection({"directory": "probe"}, None)
    assert (ok.ok, ok.message) == (True, f"{root / 'probe'} is writable.")
    assert listing(root / "probe") == {}

    outside = local.test_connection({"directory": "../../etc"}, None)
    assert outside.ok is False
    assert (
        outside.message
        == f"invalid local delivery settings: delivery.directory: must be inside the local delivery root {root}"
    )


def test_every_method_has_a_transport_and_unknown_methods_are_a_validation_error(app):
    assert METHODS == ("sftp", "email", "ftp", "s3", "local")
    for method in METHODS:
        transport = get_transport(method)
        assert transport.method == method
        assert transport is get_transport(method)
    assert get_transport("sftp").credential_kinds == ("password", "ssh_private_key")
    assert get_transport("s3").credential_kinds == ("s3_keys",)
    assert get_transport("email").credential_kinds == get_transport("local").credential_kinds == ()

    with pytest.raises(ValidationError) as caught:
        get_transport("carrier-pigeon")
    assert caught.value.details == {"delivery.method": ["must be one of sftp, email, ftp, s3, local"]}


def test_settings_that_are_not_an_object_are_a_validation_error(app):
    for method in METHODS:
        with pytest.raises(ValidationError) as caught:
            get_transport(method).validate_settings(["not", "an", "object"])  # type: ignore[arg-type]
        assert caught.value.details["delivery"] == ["must be an object"]


@pytest.mark.parametrize("name", ["../up.csv", "a/b.csv", "x.csv\r\nDELE important", ""])
def test_no_transport_sends_a_file_name_that_is_not_plain(app, name):
    from app.services.transports import Secret

    host_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode()
    settings = {
        "sftp": {"host": "h", "username": "u", "hostKey": host_key},
        "ftp": {"host": "h"},
        "s3": {"bucket": "leads"},
        "local": {"directory": "x"},
        "email": {"recipients": ["a@b.example"]},
    }
    for method in METHODS:
        transport = get_transport(method)
        secret = Secret(transport.credential_kinds[0], "pw") if transport.credential_kinds else None
        with pytest.raises(DeliveryError, match="not a plain file name") as caught:
            transport.deliver(make_source(b"x", name), settings[method], secret)
        assert caught.value.transient is False
