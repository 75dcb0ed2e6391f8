"""The file store: the bytes kept are the bytes built, under keys made of ids, written atomically."""

from __future__ import annotations

import hashlib
import io
import os

import pytest

from app.extensions import db
from app.models import Enterprise
from app.services.file_crypto import MAGIC
from app.services.files import FileSettings, write_file
from app.services.lead_records import iter_pending_records
from app.services.storage import FileStore, build_and_store, get_store
from tests import factories

MAPPING = [{"source": "lead.externalId", "header": "External"}, {"source": "email", "header": "Email"}]


@pytest.fixture
def store(tmp_path) -> FileStore:
    return FileStore(f"file://{tmp_path / 'files'}", auto_mkdir=True)


def files_under(root) -> list[str]:
    return sorted(os.path.relpath(os.path.join(d, f), root) for d, _, fs in os.walk(root) for f in fs)


def test_written_file_records_its_size_and_sha256(store, tmp_path):
    key = store.key_for(3, 41, "feed.csv")
    payload = [b"a,b\r\n", b"1,2\r\n" * 1000]
    with store.write(key) as w:
        for chunk in payload:
            w.write(chunk)
    data = b"".join(payload)
    assert w.stored.key == key == "e3/b41/file.csv"
    assert w.stored.size == len(data) == store.size(key)
    assert w.stored.sha256 == hashlib.sha256(data).hexdigest() == store.sha256(key)
    assert (tmp_path / "files" / "e3" / "b41" / "file.csv").read_bytes() == data
    with store.open(key) as f:
        f.seek(3)
        assert f.read(3) == b"\r\n1"
    assert store.exists(key)
    store.delete(key)
    assert not store.exists(key)
    store.delete(key)  # deleting twice is fine


def test_a_failed_write_leaves_nothing_at_the_key(store, tmp_path):
    key = store.key_for(1, 2, "x.csv")
    with pytest.raises(RuntimeError), store.write(key) as w:
        w.write(b"half a file")
        raise RuntimeError("the database went away")
    assert not store.exists(key)
    assert files_under(tmp_path / "files") == []  # no temp file left behind either

    # A failed rewrite keeps the complete file that was there.
    with store.write(key) as w:
        w.write(b"complete")
    with pytest.raises(RuntimeError), store.write(key) as w2:
        w2.write(b"partial")
        raise RuntimeError("killed")
    assert w2.stored is None
    with store.open(key) as f:
        assert f.read() == b"complete"
    assert files_under(tmp_path / "files") == ["e1/b2/file.csv"]


def test_sweeping_removes_only_old_temp_files(store, tmp_path):
    import time

    with store.write(store.key_for(1, 1, "a.csv")) as w:
        w.write(b"kept")
    folder = tmp_path / "files" / "e1" / "b2"
    folder.mkdir(parents=True)
    old = folder / ("file.csv.tmp-" + "a" * 32)  # as a writer killed mid-write leaves it
    fresh = folder / ("file.csv.tmp-" + "b" * 32)
    other = folder / "notes.tmp-x"
    for path in (old, fresh, other):
        path.write_bytes(b"partial")
    an_hour_ago = time.time() - 3600
    os.utime(old, (an_hour_ago, an_hour_ago))
    os.utime(other, (an_hour_ago, an_hour_ago))
    assert store.sweep_temp_files(older_than_seconds=600) == 1
    assert files_under(tmp_path / "files") == ["e1/b1/file.csv", "e1/b2/file.csv.tmp-" + "b" * 32, "e1/b2/notes.tmp-x"]


@pytest.mark.parametrize(
    ("file_name", "key"),
    [
        ("../../etc/passwd", "e5/b6/file"),
        ("report.csv", "e5/b6/file.csv"),
        ("x.tsv.gz", "e5/b6/file.tsv.gz"),
        ("x.xlsx.zip", "e5/b6/file.xlsx.zip"),
        ("evil/../../x.csv.exe", "e5/b6/file"),
        ("name with spaces;rm -rf.psv", "e5/b6/file.psv"),
        (None, "e5/b6/file"),
    ],
)
def test_keys_are_made_of_ids_never_of_user_input(file_name, key):
    assert FileStore.key_for(5, 6, file_name) == key


@pytest.mark.parametrize("bad", ["../e1/b1/file.csv", "/etc/passwd", "e1/b1/../../x", "e1/b1/file.sh", ""])
def test_the_store_refuses_keys_it_could_not_have_made(store, bad):
    with pytest.raises(ValueError):
        store.open(bad)
    with pytest.raises(ValueError):
        FileStore.key_for("1", 2)  # type: ignore[arg-type]


def test_get_store_follows_storage_url_and_is_made_once_per_app(app, session_dir):
    store = get_store()
    assert store is get_store()
    assert app.extensions["file_store"] is store
    assert store.root == str(session_dir / "files")
    key = store.key_for(9, 9, "a.csv")
    with store.write(key) as w:
        w.write(b"x")
    # The app's store encrypts (FILE_KEYS, else CREDENTIAL_KEYS): see test_file_encryption.py.
    raw = (session_dir / "files" / "e9" / "b9" / "file.csv").read_bytes()
    assert raw.startswith(MAGIC) and raw != b"x"
    assert store.open(key).read() == b"x"
    store.delete(key)


@pytest.mark.parametrize(
    "settings",
    [
        FileSettings(),
        FileSettings(format="tsv", compression="gzip", encoding="utf-8-sig"),
        FileSettings(format="xlsx", compression="zip"),
    ],
    ids=["csv", "tsv-gzip", "xlsx-zip"],
)
def test_build_and_store_keeps_exactly_the_bytes_the_writer_makes(app, settings):
    enterprise = Enterprise(name="Store Co")
    db.session.add(enterprise)
    db.session.commit()
    camp = factories.campaign(factories.advertiser(enterprise))
    integ = factories.integration(camp)
    factories.leads(camp, 250)
    store = get_store()
    key = store.key_for(enterprise.id, 77, "feed" + settings.extension)
    stored, rows = build_and_store(iter_pending_records(integ.id), MAPPING, settings, store, key, member_name="feed.x")
    assert rows == 250
    expected = io.BytesIO()
    write_file(iter_pending_records(integ.id), MAPPING, settings, expected, member_name="feed.x")
    with store.open(key) as f:
        kept = f.read()
    assert kept == expected.getvalue()
    assert stored.size == len(kept) and stored.sha256 == hashlib.sha256(kept).hexdigest()
    store.delete(key)


@pytest.fixture(scope="module")
def moto_endpoint():
    """moto's S3 server on loopback (its own instance: credentials are not checked here)."""
    import socket

    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


def test_an_s3_store_writes_reads_and_moves_into_place(moto_endpoint):
    import boto3

    client = boto3.client(
        "s3", endpoint_url=moto_endpoint, region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    client.create_bucket(Bucket="bm-files")

    def objects() -> dict[str, bytes]:
        listing = client.list_objects_v2(Bucket="bm-files").get("Contents", [])
        return {o["Key"]: client.get_object(Bucket="bm-files", Key=o["Key"])["Body"].read() for o in listing}

    store = FileStore(
        "s3://bm-files/files",
        key="k",
        secret="s",
        client_kwargs={"endpoint_url": moto_endpoint, "region_name": "us-east-1"},
    )
    key = store.key_for(2, 3, "feed.csv.gz")
    data = os.urandom(300_000)
    with store.write(key) as w:
        w.write(data[:100_000])
        w.write(data[100_000:])
    assert w.stored.size == len(data) and w.stored.sha256 == hashlib.sha256(data).hexdigest()
    assert store.sha256(key) == w.stored.sha256 and store.size(key) == len(data)
    assert objects() == {"files/e2/b3/file.csv.gz": data}  # the temp key is gone
    with pytest.raises(RuntimeError), store.write(store.key_for(2, 4)) as w2:
        w2.write(b"partial")
        raise RuntimeError("boom")
    assert set(objects()) == {"files/e2/b3/file.csv.gz"}
    store.delete(key)
    assert objects() == {}
