"""Stored files are encrypted at rest (envelope: a per-file data key wrapped with FILE_KEYS):
the store never holds the plaintext, every reader gets the plaintext, rotation keeps files
readable, and a tampered object is refused instead of read as other bytes."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from app.extensions import db
from app.models import SentBatch
from app.services import download_links, pipeline, sending
from app.services.file_crypto import CHUNK, MAGIC, OVERHEAD, StoredFileUnreadable
from app.services.storage import FileStore, get_store
from tests import factories
from tests.test_storage import moto_endpoint  # noqa: F401  (the loopback S3 server fixture)

OLD, NEW = Fernet.generate_key().decode(), Fernet.generate_key().decode()
EMAIL = b"jane.doe@example.org"


def payload(size: int) -> bytes:
    """Bytes with an e-mail address in every chunk, so a plaintext leak would show."""
    line = b"External,Email\r\n42," + EMAIL + b"\r\n"
    return (line * (size // len(line) + 1))[:size]


@pytest.fixture(params=["file", "s3"])
def url_and_raw(request, tmp_path):
    """(store url, fsspec options, a function reading a key's raw stored object) for each backend."""
    if request.param == "file":
        root = tmp_path / "files"
        return f"file://{root}", {"auto_mkdir": True}, lambda key: (root / key).read_bytes()
    import boto3

    endpoint = request.getfixturevalue("moto_endpoint")
    bucket = f"enc-{os.urandom(4).hex()}"
    client = boto3.client(
        "s3", endpoint_url=endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    client.create_bucket(Bucket=bucket)
    options = {"key": "k", "secret": "s", "client_kwargs": {"endpoint_url": endpoint, "region_name": "us-east-1"}}
    return (
        f"s3://{bucket}/files",
        options,
        lambda key: client.get_object(Bucket=bucket, Key=f"files/{key}")["Body"].read(),
    )


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK + 17])
def test_the_store_holds_ciphertext_and_gives_back_the_plaintext(url_and_raw, size):
    url, options, raw = url_and_raw
    store = FileStore(url, keys=[NEW], **options)
    key = store.key_for(1, size, "feed.csv")
    data = payload(size)
    with store.write(key) as w:
        w.write(data[:1000])
        w.write(data[1000:])
    stored = raw(key)
    assert stored.startswith(MAGIC) and stored != data
    assert EMAIL not in stored  # no plaintext address anywhere in the object
    # Size and sha256 recorded and reported are the plaintext's.
    assert (w.stored.size, w.stored.sha256) == (size, hashlib.sha256(data).hexdigest())
    assert (store.size(key), store.sha256(key)) == (size, w.stored.sha256)
    with store.open(key) as f:
        assert f.read() == data
        # Range reads anywhere, across chunk boundaries.
        for start in {0, max(size - 5, 0), CHUNK - 3, CHUNK + 2}:
            f.seek(start)
            assert f.read(10) == data[start : start + 10]


def test_two_files_with_the_same_bytes_are_stored_differently(tmp_path):
    store = FileStore(f"file://{tmp_path}", keys=[NEW], auto_mkdir=True)
    for batch in (1, 2):
        with store.write(store.key_for(1, batch, "a.csv")) as w:
            w.write(b"same bytes")
    assert (tmp_path / "e1/b1/file.csv").read_bytes() != (tmp_path / "e1/b2/file.csv").read_bytes()


def test_rotation_rewraps_the_data_key_keeps_the_body_and_old_files_readable(url_and_raw):
    url, options, raw = url_and_raw
    data = payload(2 * CHUNK + 5)
    old = FileStore(url, keys=[OLD], **options)
    keys = [old.key_for(1, 1, "a.csv"), old.key_for(1, 2, "b.csv")]
    for key in keys:
        with old.write(key) as w:
            w.write(data)
    before = {key: raw(key) for key in keys}

    both = FileStore(url, keys=[NEW, OLD], **options)
    assert both.open(keys[0]).read() == data  # readable before rotation with the new key first
    assert list(both.rotate_keys()) == [(keys[0], True), (keys[1], True)]
    assert list(both.rotate_keys()) == [(keys[0], False), (keys[1], False)]  # resumable: done ones skipped
    for key in keys:
        after = raw(key)
        assert after != before[key]
        # The header changed; the encrypted body is the same bytes (not re-encrypted).
        body = len(data) + 3 * OVERHEAD
        assert after[-body:] == before[key][-body:]

    new_only = FileStore(url, keys=[NEW], **options)
    assert new_only.open(keys[1]).read() == data
    with pytest.raises(StoredFileUnreadable, match="not in FILE_KEYS"):
        FileStore(url, keys=[OLD], **options).open(keys[1])


def _flip(path: Path, offset: int) -> None:
    with open(path, "r+b") as fh:
        fh.seek(offset)
        byte = fh.read(1)
        fh.seek(offset)
        fh.write(bytes([byte[0] ^ 1]))


def test_tampered_reordered_or_cut_objects_are_refused(tmp_path):
    store = FileStore(f"file://{tmp_path}", keys=[NEW], auto_mkdir=True)
    key = store.key_for(1, 1, "a.csv")
    data = payload(3 * CHUNK + 100)
    with store.write(key) as w:
        w.write(data)
    path = tmp_path / key
    original = path.read_bytes()
    header = len(original) - (len(data) + 4 * OVERHEAD)
    sealed = CHUNK + OVERHEAD

    _flip(path, len(original) - 40)  # in the last chunk: caught when the read gets there
    with store.open(key) as f, pytest.raises(StoredFileUnreadable, match="chunk 3"):
        f.read()
    with pytest.raises(StoredFileUnreadable):
        store.sha256(key)

    path.write_bytes(original)
    _flip(path, 20)  # in the wrapped key
    with pytest.raises(StoredFileUnreadable, match="header"):
        store.open(key)

    chunks = [original[header + i * sealed : header + (i + 1) * sealed] for i in range(3)]
    path.write_bytes(original[:header] + chunks[1] + chunks[0] + original[header + 2 * sealed :])
    with pytest.raises(StoredFileUnreadable, match="chunk 0"):
        store.open(key)

    # Whole chunks dropped at the end: the last one left is not marked final.
    path.write_bytes(original[: header + 2 * sealed])
    with pytest.raises(StoredFileUnreadable):
        store.open(key).read()


def test_files_stored_before_encryption_stay_readable(tmp_path):
    key = FileStore.key_for(1, 1, "a.csv")
    plain = FileStore(f"file://{tmp_path}", auto_mkdir=True)
    with plain.write(key) as w:
        w.write(b"a,b\r\n1,2\r\n")
    keyed = FileStore(f"file://{tmp_path}", keys=[NEW], auto_mkdir=True)
    assert (keyed.size(key), keyed.open(key).read()) == (10, b"a,b\r\n1,2\r\n")
    assert list(keyed.rotate_keys()) == [(key, False)]  # nothing to re-wrap, nothing rewritten
    assert (tmp_path / key).read_bytes() == b"a,b\r\n1,2\r\n"


# --- through the app: send, download, retry ----------------------------------------------------


def _send(world, prefix: str = "ext") -> SentBatch:
    factories.leads(world.a.campaign, 5, prefix=prefix)
    [outcome] = sending.batch_now([world.a.integration.id], world.a.users["manager"])
    assert pipeline.process_batch(outcome.batch_id) == "delivered"
    db.session.expire_all()
    return db.session.get(SentBatch, outcome.batch_id)


def _delivered_path(app, batch: SentBatch) -> Path:
    """The destination copy (the outbox is shared by the session's tests: the newest of that name)."""
    return max(Path(app.config["LOCAL_DELIVERY_ROOT"]).rglob(batch.file_name), key=lambda p: p.stat().st_mtime_ns)


def _delivered_copy(app, batch: SentBatch) -> bytes:
    return _delivered_path(app, batch).read_bytes()


def test_a_sent_file_is_encrypted_in_the_store_and_downloads_as_delivered(app, client, world):
    batch = _send(world)
    delivered = _delivered_copy(app, batch)
    raw = Path(get_store().path(batch.storage_key)).read_bytes()
    emails = [f"person{i}@example.com".encode() for i in range(5)]  # the factory's leads
    assert raw.startswith(MAGIC) and not any(e in raw for e in emails)
    assert all(e in delivered for e in emails)
    assert (batch.size_bytes, batch.sha256) == (len(delivered), hashlib.sha256(delivered).hexdigest())

    url = f"/files/{download_links.make_token(batch.id)}"
    response = client.get(url)
    assert (response.status_code, response.data) == (200, delivered)
    assert response.headers["ETag"] == f'"{hashlib.sha256(delivered).hexdigest()}"'
    part = client.get(url, headers={"Range": "bytes=3-9"})
    assert (part.status_code, part.data) == (206, delivered[3:10])


def test_a_resend_delivers_the_plaintext_again(app, world):
    batch = _send(world)
    delivered = _delivered_copy(app, batch)
    path = _delivered_path(app, batch)
    path.unlink()
    resend = sending.resend_batch(batch.id, world.a.users["manager"])
    assert pipeline.process_batch(resend.id) == "delivered"
    assert path.read_bytes() == delivered


def test_a_tampered_stored_file_is_410_and_is_not_sent_again(app, client, world):
    batch = _send(world)
    stored = Path(get_store().path(batch.storage_key))
    _flip(stored, stored.stat().st_size - 20)
    response = client.get(f"/files/{download_links.make_token(batch.id)}")
    assert response.status_code == 410
    assert "cannot be read" in response.get_data(as_text=True)

    # A resend reads through the same store: refused before any byte goes out.
    path = _delivered_path(app, batch)
    path.unlink()
    resend = sending.resend_batch(batch.id, world.a.users["manager"])
    assert pipeline.process_batch(resend.id) == "failed"
    db.session.expire_all()
    assert "cannot be read" in db.session.get(SentBatch, resend.id).last_error
    assert not path.exists()


def test_with_encryption_off_new_files_are_plain_and_old_ones_still_read(app, world):
    first = _send(world)
    app.config["FILE_ENCRYPTION"] = False
    app.extensions.pop("file_store", None)
    second = _send(world, prefix="later")
    store = get_store()
    assert Path(store.path(second.storage_key)).read_bytes() == _delivered_copy(app, second)
    assert store.open(first.storage_key).read() == _delivered_copy(app, first)


def test_the_rotate_keys_command_rewraps_sent_files_and_says_how_many(app, world):
    batch = _send(world)
    before = get_store().open(batch.storage_key).read()
    app.config["FILE_KEYS"] = f"{NEW},{app.config['CREDENTIAL_KEYS']}"
    app.extensions.pop("file_store", None)
    runner = app.test_cli_runner()
    result = runner.invoke(args=["files", "rotate-keys"])
    assert result.exit_code == 0, result.output
    # (The session's store may hold other tests' files too: they are re-wrapped alike.)
    assert f"re-wrapped {batch.storage_key}" in result.output
    assert "Re-wrapped 0 file(s)" in runner.invoke(args=["files", "rotate-keys"]).output
    app.config["FILE_KEYS"] = NEW  # the old key dropped after rotation: the file still reads
    app.extensions.pop("file_store", None)
    assert get_store().open(batch.storage_key).read() == before

    app.config["FILE_KEYS"] = OLD  # the file's key missing from the list: a clear error, exit 1
    app.extensions.pop("file_store", None)
    result = runner.invoke(args=["files", "rotate-keys"])
    assert result.exit_code == 1
    assert "is not in FILE_KEYS" in result.output and "Put the old key back" in result.output
    assert f"cannot re-wrap {batch.storage_key}" in result.output


def test_one_file_with_a_lost_key_does_not_stop_the_rotation_of_the_others(tmp_path):
    lost = Fernet.generate_key().decode()
    orphan = FileStore(f"file://{tmp_path}", keys=[lost], auto_mkdir=True)
    with orphan.write("e1/b1/file.csv") as w:
        w.write(b"under a key nobody has any more")
    store = FileStore(f"file://{tmp_path}", keys=[NEW, OLD], auto_mkdir=True)
    with FileStore(f"file://{tmp_path}", keys=[OLD], auto_mkdir=True).write("e1/b2/file.csv") as w:
        w.write(b"under the old key")
    [(first, error), second] = list(store.rotate_keys())
    assert first == "e1/b1/file.csv" and isinstance(error, StoredFileUnreadable)
    assert second == ("e1/b2/file.csv", True)
    assert FileStore(f"file://{tmp_path}", keys=[NEW]).open("e1/b2/file.csv").read() == b"under the old key"
