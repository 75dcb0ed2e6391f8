"""Files written by PostgreSQL's COPY are byte for byte the files the Python writer writes.

Each case builds one claimed batch both ways (app.services.files.write_file over the
records, app.services.copy_csv over COPY) on PostgreSQL and compares the bytes, across
delimiters, quoting, headers, line endings and encodings, with values chosen to hit
every rule: quotes, line breaks, formula prefixes, unicode, empty and null, numbers as
JSON holds them, strings that look like numbers, dates stored in other time zones.
"""

from __future__ import annotations

import gzip
import io
import itertools
import zipfile

import pytest
from sqlalchemy import text

from app.extensions import db
from app.models import SentBatch
from app.services import copy_csv, pipeline, sending
from app.services.actors import SYSTEM
from app.services.files import FileSettings, validate_mapping, write_file
from app.services.files.mapping import METADATA_SOURCES
from app.services.intake import ingest_leads
from app.services.lead_records import iter_batch_records
from app.services.storage import FileStore, build_and_store

pytestmark = pytest.mark.postgres

AWKWARD = [
    'say "hi"',
    '"',
    "line\nbreak",
    "windows\r\nbreak",
    "lone\rreturn",
    "\nleading newline",
    "=SUM(A1:A2)",
    "+49 30 1234",
    "-5",
    "@handle",
    "\tindented",
    "\rreturn first",
    "Łódź ünïcödé 東京 🚀",
    "",
    None,
    0,
    -5,
    12345678901234567890,
    0.1,
    -2.5,
    100.0,
    1e16,
    1e15,
    1.5e-7,
    0.0001,
    1e-5,
    123456789.123,
    1.5e300,
    -0.0,
    True,
    False,
    "007",
    "1.50",
    "1e5",
    "\\.",
    "a,b;c|d e\tf",
    "{not json",
    "[x]",
    "true",
    "null",
    "  spaced  ",
    "' already quoted",
    "€ in cp1252, Ł not in latin-1",
]
FIELD_KEYS = ["a", "b", "c"]
MAPPING = [{"source": s, "header": s} for s in METADATA_SOURCES] + [
    {"source": "a", "header": '=A, "first"'},
    {"source": "b", "header": "B\nsecond"},
    {"source": "c", "header": "Ç"},
    {"source": "missing", "header": "missing"},
]


def _claim(world, payload: list[dict]) -> SentBatch:
    integ = world.a.integration
    integ.fields = MAPPING
    world.a.campaign.name = '=Solar, "Co"'
    world.a.advertiser.name = "-Acme\nInc"
    db.session.commit()
    if payload:
        ingest_leads(world.a.campaign, payload)
    outcomes = sending.send_integration(integ.id, "schedule", SYSTEM)
    db.session.commit()
    return db.session.get(SentBatch, outcomes[0].batch_id)


def _payload() -> list[dict]:
    # Every awkward value in every field position, rotated so columns differ.
    n = len(AWKWARD)
    return [
        {
            "externalId": f"{AWKWARD[i] if isinstance(AWKWARD[i], str) and AWKWARD[i] else 'x'}-{i}",
            "status": "valid",
            "fields": {key: AWKWARD[(i + k * 7) % n] for k, key in enumerate(FIELD_KEYS)},
        }
        for i in range(n)
    ]


def _dates_in_other_zones() -> None:
    # Stored instants with fractions of a second, written while the session ran elsewhere.
    db.session.execute(text("SET LOCAL TimeZone = 'America/St_Johns'"))
    db.session.execute(
        text(
            "UPDATE leads SET created_at = timestamptz '2026-03-29 01:59:59.999999+01' "
            "+ (id % 5) * interval '7 hours 3 minutes'"
        )
    )
    db.session.commit()


def _python(batch: SentBatch, settings: FileSettings) -> tuple[bytes, int]:
    out = io.BytesIO()
    rows = write_file(iter_batch_records(batch.id), batch.field_mapping, settings, out)
    return out.getvalue(), rows


def _copy(batch: SentBatch, settings: FileSettings) -> tuple[bytes, int]:
    out = io.BytesIO()
    rows = copy_csv.write_copy(batch, validate_mapping(batch.field_mapping), settings, out)
    return out.getvalue(), rows


SETTINGS = [
    FileSettings(format=fmt, delimiter=delim, header=header, quoting=quoting, line_ending=ending, encoding=enc)
    for (fmt, delim), header, quoting, ending, enc in itertools.product(
        [("csv", ","), ("csv", ";"), ("tsv", "\t"), ("psv", "|"), ("csv", " ")],
        [True, False],
        ["minimal", "all"],
        ["crlf", "lf"],
        ["utf-8", "utf-8-sig", "latin-1", "cp1252", "utf-16"],
    )
]


def test_copy_writes_the_python_writers_bytes_for_every_setting(world):
    batch = _claim(world, _payload())
    _dates_in_other_zones()
    # Another session time zone while building: the file shows UTC either way.
    db.session.execute(text("SET TimeZone = 'Asia/Kathmandu'"))
    assert batch.lead_count == len(AWKWARD)
    for settings in SETTINGS:
        assert copy_csv.supported(settings, batch.field_mapping), settings
        python, python_rows = _python(batch, settings)
        copied, copied_rows = _copy(batch, settings)
        assert copied_rows == python_rows == len(AWKWARD)
        assert copied == python, settings
    # The cases above did reach the tricky paths.
    plain, _ = _python(batch, FileSettings(line_ending="lf"))
    assert b"'=SUM" in plain and b"'-5" in plain and b",-5," in plain and b",1.5e-07," in plain
    assert b",1000000000000000.0," in plain and b",1e-05," in plain and b",1.50," in plain
    assert b"2026-03-29T00:59:59Z" in plain and b'"lone\rreturn"' in plain


def test_an_empty_batch_is_the_same_empty_file(world):
    integ = world.a.integration
    integ.send_empty = True
    db.session.commit()
    batch = _claim(world, [])
    for settings in (FileSettings(encoding="utf-8-sig", header=False), FileSettings(encoding="utf-8-sig")):
        assert _copy(batch, settings) == _python(batch, settings)
    assert _copy(batch, FileSettings(header=False)) == (b"", 0)


def test_settings_sql_cannot_match_keep_the_python_writer(world):
    mapping = validate_mapping(MAPPING)
    assert not copy_csv.supported(FileSettings(quoting="nonnumeric"), mapping)
    assert not copy_csv.supported(FileSettings(format="xlsx"), mapping)
    assert not copy_csv.supported(FileSettings(delimiter="§"), mapping)
    assert not copy_csv.supported(FileSettings(), mapping[:1])


@pytest.mark.parametrize("compression", ["none", "gzip", "zip"])
def test_stored_files_match_through_compression_and_encryption(world, tmp_path, compression):
    from cryptography.fernet import Fernet

    batch = _claim(world, _payload())
    settings = FileSettings(compression=compression, encoding="cp1252", quoting="all")
    keys = [Fernet.generate_key().decode()]
    by_copy = FileStore(f"file://{tmp_path / 'copy'}", keys=keys, auto_mkdir=True)
    by_python = FileStore(f"file://{tmp_path / 'python'}", keys=keys, auto_mkdir=True)
    key = by_copy.key_for(batch.enterprise_id, batch.id, "f" + settings.extension)
    stored, rows = copy_csv.build_and_store_batch(batch, settings, by_copy, key, member_name="f.csv")
    expected, expected_rows = build_and_store(
        iter_batch_records(batch.id), batch.field_mapping, settings, by_python, key, member_name="f.csv"
    )
    assert (stored.sha256, stored.size, rows) == (expected.sha256, expected.size, expected_rows)
    with by_copy.open(key) as f:
        data = f.read()
    plain = {
        "none": lambda b: b,
        "gzip": gzip.decompress,
        "zip": lambda b: zipfile.ZipFile(io.BytesIO(b)).read("f.csv"),
    }
    assert plain[compression](data).count(b"\r\n") >= len(AWKWARD) + 1


# A nested value (Python writes sorted compact JSON); a decimal below float range (Python: 0.0).
@pytest.mark.parametrize("stored", ['{"x": [1, {"b": 2, "a": "é"}]}', "1.5e-400"])
def test_a_value_sql_cannot_write_falls_back_to_the_python_writer(world, tmp_path, stored):
    batch = _claim(world, _payload())
    # Intake accepts scalars only; older rows or other writers may hold more.
    db.session.execute(
        text("UPDATE leads SET fields = jsonb_set(fields, '{b}', CAST(:v AS jsonb)) WHERE external_id LIKE 'x-%'"),
        {"v": stored},
    )
    db.session.commit()
    settings = FileSettings()
    with pytest.raises(copy_csv.CopyUnsupported):
        _copy(batch, settings)
    store = FileStore(f"file://{tmp_path}", auto_mkdir=True)
    key = store.key_for(batch.enterprise_id, batch.id, "f.csv")
    stored_file, rows = copy_csv.build_and_store_batch(batch, settings, store, key, member_name="f.csv")
    python, python_rows = _python(batch, settings)
    assert rows == python_rows and store.open(key).read() == python
    assert '""a"":""é""'.encode() in python or b",0.0,\r\n" in python
    assert stored_file.size == len(python)


def test_the_pipeline_delivers_the_copy_built_file(world):
    batch = _claim(world, _payload())
    python, _ = _python(batch, FileSettings.from_snapshot(batch.file_settings))
    assert pipeline.process_batch(batch.id) == "delivered"
    db.session.expire_all()
    done = db.session.get(SentBatch, batch.id)
    from app.services.storage import get_store

    with get_store().open(done.storage_key) as f:
        assert f.read() == python
    assert done.row_count == len(AWKWARD)


def test_a_build_stopped_mid_copy_stores_nothing_and_leaves_the_session_usable(world, tmp_path):
    batch = _claim(world, _payload())

    class Stopped(Exception):
        pass

    def lapsed(chunks):
        # What a lease's guard does once the lease is no longer safe: stop before the next chunk.
        for _chunk in chunks:
            raise Stopped

    store = FileStore(f"file://{tmp_path}", auto_mkdir=True)
    key = store.key_for(batch.enterprise_id, batch.id, "f.csv")
    with pytest.raises(Stopped):
        copy_csv.build_and_store_batch(batch, FileSettings(), store, key, member_name="f.csv", guard=lapsed)
    assert not store.exists(key) and list(tmp_path.rglob("*.tmp-*")) == []
    # The COPY was ended and its savepoint rolled back: the same transaction goes on.
    assert db.session.execute(text("SELECT count(*) FROM queue_entries")).scalar() == len(AWKWARD)
    assert _copy(batch, FileSettings()) == _python(batch, FileSettings())


def test_a_file_built_after_the_first_build_on_a_connection_rolled_back_is_still_written(world):
    # The first COPY on a connection creates pg_temp.bm_py_float and notes it on the
    # connection; a rollback of that transaction drops the function but not the note.
    batch = _claim(world, _payload())
    settings = FileSettings()
    first = _copy(batch, settings)
    db.session.rollback()
    pooled = db.session.connection().connection
    assert pooled.info.get(copy_csv._PY_FLOAT_CREATED)
    assert db.session.scalar(text("SELECT to_regprocedure('pg_temp.bm_py_float(text)')")) is None
    assert _copy(batch, settings) == first == _python(batch, settings)


def test_a_large_file_read_in_queue_order_has_the_python_writers_bytes_and_leaves_the_planner_as_it_was(world):
    # From IN_ORDER_FROM leads the COPY runs with hash joins and sorts off (in an inner savepoint)
    # so its rows stream in queue order; the bytes must not change, and neither must the plans of
    # whatever the caller's transaction runs next.
    n = len(AWKWARD)
    payload = [
        {
            "externalId": f"big-{i}",
            "status": "valid",
            "fields": {key: AWKWARD[(i + k * 7) % n] for k, key in enumerate(FIELD_KEYS)},
        }
        for i in range(copy_csv.IN_ORDER_FROM)
    ]
    batch = _claim(world, payload)
    assert batch.lead_count == copy_csv.IN_ORDER_FROM
    settings = FileSettings(line_ending="crlf", quoting="minimal")
    python, python_rows = _python(batch, settings)
    copied, copied_rows = _copy(batch, settings)
    assert copied_rows == python_rows == copy_csv.IN_ORDER_FROM
    assert copied == python
    planner = (
        "SELECT current_setting('enable_hashjoin'), current_setting('enable_mergejoin'), current_setting('enable_sort')"
    )
    assert tuple(db.session.execute(text(planner)).one()) == ("on", "on", "on")
