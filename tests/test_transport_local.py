"""Local folder delivery (confined to LOCAL_DELIVERY_ROOT) and the transport registry."""

from __future__ import annotations

import os
from pathlib import Path

import asyncssh
import pytest

from app.errors import DeliveryError, ValidationError
from app.services import file_sync
from app.services.transports import METHODS, get_transport
from tests.servers.common import make_source, sample_bytes

local = get_transport("local")


@pytest.fixture
def app(delivery_app):
    """These tests need the app's config, not database rows."""
    return delivery_app


@pytest.fixture
def outbox(app, tmp_path) -> Path:
    path = tmp_path / "outbox"
    path.mkdir()
    app.config["LOCAL_DELIVERY_ROOT"] = str(path)
    return path


@pytest.fixture
def root(outbox) -> Path:
    """Enterprise 1's folder (make_source delivers for enterprise 1)."""
    return outbox / "1"


def listing(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.iterdir())}


def test_delivery_creates_the_directory_and_writes_identical_bytes(root):
    data = sample_bytes()

    receipt = local.deliver(make_source(data, "acme.csv"), {"directory": "acme/daily"}, None)

    assert listing(root / "acme" / "daily") == {"acme.csv": data}
    # The receipt names the file inside the enterprise's folder, not a path of the server.
    assert receipt.remote == "acme/daily/acme.csv"
    assert receipt.remote_size == len(data)


def test_each_enterprise_writes_only_inside_its_own_folder(outbox):
    local.deliver(make_source(b"a\r\n", enterprise_id=1), {"directory": "daily"}, None)
    local.deliver(make_source(b"b\r\n", enterprise_id=2), {"directory": "daily"}, None)
    assert listing(outbox / "1" / "daily") == {"leads.csv": b"a\r\n"}
    assert listing(outbox / "2" / "daily") == {"leads.csv": b"b\r\n"}


def test_without_an_enterprise_nothing_is_written(outbox):
    with pytest.raises(DeliveryError, match="needs the enterprise"):
        local.deliver(make_source(b"x", enterprise_id=None), {"directory": "x"}, None)
    assert list(outbox.iterdir()) == []


def test_redelivery_replaces_the_file_never_duplicates(root):
    local.deliver(make_source(b"first\r\n"), {"directory": "x"}, None)
    local.deliver(make_source(b"second version\r\n"), {"directory": "x"}, None)
    assert listing(root / "x") == {"leads.csv": b"second version\r\n"}


def test_in_a_sync_group_a_delivered_file_gets_its_name_only_when_the_group_is_synced(root):
    """A scheduled group (app.services.group_send) syncs its files together before its commit: until
    then the partner's folder shows no file under the name it reads, only the hidden partial."""
    data = sample_bytes()
    with file_sync.together() as group:
        receipt = local.deliver(make_source(data, "acme.csv"), {"directory": "daily"}, None)
        (partial,) = (root / "daily").iterdir()
        assert partial.name.startswith(".acme.csv.") and partial.read_bytes() == data
        assert receipt.remote_size == len(data)

        group.flush()

        assert listing(root / "daily") == {"acme.csv": data}


def test_a_sync_group_refuses_a_delivered_file_that_does_not_hold_what_was_written(root):
    """Invariant 3 in a group: the flush checks the size under the final name, as the receipt
    of a delivery made on its own does (something truncating the file before its rename)."""
    data = sample_bytes()
    with file_sync.together() as group:
        local.deliver(make_source(data, "acme.csv"), {"directory": "daily"}, None)
        (partial,) = (root / "daily").iterdir()
        partial.write_bytes(data[:10])

        with pytest.raises(OSError, match=f"holds 10 bytes after the rename, not {len(data)}"):
            group.flush()


def test_a_sync_group_left_without_its_flush_removes_its_partial_files(root):
    with pytest.raises(RuntimeError), file_sync.together():
        local.deliver(make_source(sample_bytes(), "acme.csv"), {"directory": "daily"}, None)
        raise RuntimeError("the group stopped before its commit")
    assert listing(root / "daily") == {}


@pytest.mark.parametrize("directory", ["../elsewhere", "/etc", "a/../../b", "../2/daily", "a\\b", "C:/x", "x/.."])
def test_absolute_and_parent_paths_are_refused_without_naming_a_server_path(outbox, directory):
    with pytest.raises(ValidationError) as caught:
        local.validate_settings({"directory": directory})
    [message] = caught.value.details["delivery.directory"]
    assert "no leading /, no .." in message and str(outbox) not in message


def test_folder_settings_are_normalised(outbox):
    assert local.validate_settings({"directory": "./acme//daily/"}) == {"directory": "acme/daily"}


def test_symlink_escape_is_refused_at_delivery(root, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    root.mkdir(parents=True)
    # A link planted inside the folder (by someone with access to the server) leads nowhere.
    os.symlink(outside, root / "later")
    with pytest.raises(DeliveryError) as caught:
        local.deliver(make_source(b"leads"), {"directory": "later"}, None)
    assert caught.value.transient is False
    assert caught.value.message == "local delivery folder later leads outside your enterprise's delivery folder"
    assert list(outside.iterdir()) == []


def test_file_names_with_separators_are_refused(root):
    with pytest.raises(DeliveryError, match="not a plain file name"):
        local.deliver(make_source(b"x", "../escape.csv"), {"directory": "x"}, None)


def test_a_file_where_the_directory_should_be_is_a_permanent_failure(root):
    root.mkdir(parents=True)
    (root / "taken").write_bytes(b"not a directory")
    with pytest.raises(DeliveryError) as caught:
        local.deliver(make_source(b"x"), {"directory": "taken"}, None)
    assert caught.value.transient is False
    assert caught.value.message == "folder taken is not a usable directory"


def test_stored_settings_that_no_longer_validate_fail_the_delivery_permanently(app):
    from app.services.transports import Secret

    with pytest.raises(DeliveryError) as caught:
        get_transport("sftp").deliver(make_source(b"x"), {"host": "sftp.example.com"}, Secret("password", "pw"))
    assert caught.value.transient is False
    assert caught.value.message == (
        "invalid sftp delivery settings: delivery.username: required; delivery.hostKey: required"
    )


def test_test_connection_ok_and_not_ok(root, outbox):
    ok = local.test_connection({"directory": "probe"}, None, enterprise_id=1)
    assert (ok.ok, ok.message) == (True, "Folder probe is writable.")
    assert listing(root / "probe") == {}

    outside = local.test_connection({"directory": "../../etc"}, None, enterprise_id=1)
    assert outside.ok is False and "no leading /, no .." in outside.message
    assert str(outbox) not in outside.message

    nobody = local.test_connection({"directory": "probe"}, None)
    assert nobody.ok is False and "needs the enterprise" in nobody.message


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
