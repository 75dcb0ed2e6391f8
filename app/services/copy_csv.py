"""CSV files written by PostgreSQL: `COPY (SELECT ...) TO STDOUT` streamed into a sink.

The bytes are the bytes app.services.files.write_file would write for the same batch
(tests/test_copy_csv.py builds both ways and compares): the cell rules of
files.mapping (injection neutralisation, dates in UTC, numbers as Python prints them)
are SQL expressions, and what PostgreSQL's CSV output does differently from Python's
csv module is bridged here:

- an empty text is quoted by COPY ("") and not by csv.writer: empty cells become NULL
  (written bare), or with quoting "all" NULLs become "" and FORCE_QUOTE quotes them;
- COPY ends rows with "\\n": for CRLF files each "\\n" outside quotes becomes "\\r\\n"
  (quote parity is tracked across chunks; a doubled quote toggles twice);
- COPY sends UTF-8; other encodings are re-encoded here with errors="replace", as the
  Python writer does, so an unencodable character is "?" in both;
- the header line is written by Python's csv module, as in the Python writer (COPY's
  HEADER is never force-quoted).

What SQL cannot match keeps the Python writer (`supported` says which): xlsx, quoting
"nonnumeric" (COPY quotes per column, not per value), one-column files (COPY quotes a
lone `\\.` and csv.writer a lone empty cell), delimiters outside ASCII, SQLite. A value
the SQL cannot format exactly (a nested JSON value, a number beyond float range) stops
the COPY with a DataError and `CopyUnsupported`; the caller then builds the file again
with the Python writer.
"""

from __future__ import annotations

import codecs
import csv
import io
import logging
from collections.abc import Callable, Iterable, Iterator, Sequence
from typing import BinaryIO

import psycopg
from psycopg import sql

from app.extensions import db
from app.models import SentBatch
from app.services.files import FileSettings, cell, cell_text, headers, neutralise, validate_mapping, write_file
from app.services.files.writer import QUOTING, compressed
from app.services.lead_records import iter_batch_records, source_batch
from app.services.storage import FileStore, StoredFile, store_plain

log = logging.getLogger(__name__)

CHUNK = 256 * 1024
# First characters after which a field value needs its JSON type: numbers (print like
# Python's int/float), a "-" string (neutralised, a negative number is not) and containers.
_TYPED_FIRST = ("-", "0", "1", "2", "3", "4", "5", "6", "7", "8", "9", "{", "[")
# First characters only text can start with, all of which files.mapping neutralises.
_TEXT_INJECTION = ("=", "+", "@", "\t", "\r", "\n")
_INTEGER = r"^-?[0-9]+$"
# Python's repr(float(text)): the shortest round-trip digits (PostgreSQL's float8 output,
# extra_float_digits >= 1), laid out as Python does: fixed notation while the decimal
# point is within -4 < decpt <= 16, with ".0" on whole numbers, else d.ddde+XX.
_PY_FLOAT = """
CREATE OR REPLACE FUNCTION pg_temp.bm_py_float(t text) RETURNS text LANGUAGE plpgsql IMMUTABLE AS $f$
DECLARE
  s text := t::float8::text;
  neg boolean := left(s, 1) = '-';
  e int := 0;
  point int;
  decpt int;
  zeros int;
  r text;
BEGIN
  IF neg THEN s := substr(s, 2); END IF;
  IF position('e' in s) > 0 THEN
    e := split_part(s, 'e', 2)::int;
    s := split_part(s, 'e', 1);
  END IF;
  point := position('.' in s);
  IF point = 0 THEN point := length(s) + 1; ELSE s := replace(s, '.', ''); END IF;
  decpt := point - 1 + e;
  zeros := length(s) - length(ltrim(s, '0'));
  s := rtrim(ltrim(s, '0'), '0');
  decpt := decpt - zeros;
  IF s = '' THEN
    r := '0.0';
  ELSIF decpt > -4 AND decpt <= 16 THEN
    IF decpt <= 0 THEN
      r := '0.' || repeat('0', -decpt) || s;
    ELSIF decpt >= length(s) THEN
      r := s || repeat('0', decpt - length(s)) || '.0';
    ELSE
      r := left(s, decpt) || '.' || substr(s, decpt + 1);
    END IF;
  ELSE
    r := left(s, 1) || CASE WHEN length(s) > 1 THEN '.' || substr(s, 2) ELSE '' END
      || 'e' || CASE WHEN decpt - 1 < 0 THEN '-' ELSE '+' END || lpad(abs(decpt - 1)::text, 2, '0');
  END IF;
  RETURN CASE WHEN neg THEN '-' || r ELSE r END;
END
$f$
"""

# The key of the note, in the DBAPI connection's info, that this connection has created it.
_PY_FLOAT_CREATED = "copy_csv.bm_py_float"

# A file of this many leads or more is read in queue order as it is joined (the queue index,
# then each lead by its key), never hashed and sorted. For a file of 1,000,000 leads PostgreSQL
# estimated 418,786 rows in the range, chose a hash join and a sort, and sent its first row
# 3.7 s later, once everything was sorted. Read in order, rows stream from the first
# milliseconds and Python writes the file while PostgreSQL reads (README "Performance").
# A small file is planned in order anyway.
IN_ORDER_FROM = 10_000
_IN_ORDER = "SELECT set_config('enable_hashjoin', 'off', true), set_config('enable_mergejoin', 'off', true), set_config('enable_sort', 'off', true)"


class CopyUnsupported(Exception):
    """The batch holds a value the SQL cannot write exactly as the Python writer does."""


def supported(settings: FileSettings, mapping: Sequence[dict]) -> bool:
    """Whether COPY can write this file byte for byte as the Python writer would."""
    return (
        db.session.get_bind().dialect.name == "postgresql"
        and settings.format in ("csv", "tsv", "psv")
        and settings.quoting in ("minimal", "all")
        and len(mapping) >= 2
        and settings.delimiter.isascii()
    )


def _codes(chars: Sequence[str]) -> sql.Composable:
    return sql.SQL(", ").join(sql.Literal(ord(c)) for c in chars)


# First characters are compared as code points (ascii() of the text: its first character's,
# 0 for an empty text): integer comparisons, where left(text, 1) IN (...) compared texts.
def _neutralised(expr: sql.Composable) -> sql.Composable:
    """files.mapping.neutralise for a text expression (NULL stays NULL)."""
    return sql.SQL("CASE WHEN ascii({e}) IN ({f}) THEN '''' || {e} ELSE {e} END").format(
        e=expr, f=_codes((*_TEXT_INJECTION, "-"))
    )


def _field(key: str) -> sql.Composable:
    """A lead field as files.mapping.cell writes it."""
    text = sql.SQL("(l.fields ->> {})").format(sql.Literal(key))
    value = sql.SQL("(l.fields -> {})").format(sql.Literal(key))
    return sql.SQL(
        "CASE WHEN ascii({t}) IN ({inj}) THEN '''' || {t} "
        "WHEN ascii({t}) IN ({typed}) THEN CASE jsonb_typeof({v}) "
        "WHEN 'string' THEN CASE WHEN ascii({t}) = {minus} THEN '''' || {t} ELSE {t} END "
        "WHEN 'number' THEN CASE WHEN {t} ~ {int} THEN {t} ELSE pg_temp.bm_py_float({t}) END "
        # A nested value is written by Python as sorted compact JSON; stop here and let it.
        "ELSE ('nested JSON value: ' || jsonb_typeof({v}))::int::text END "
        "ELSE {t} END"
    ).format(
        t=text,
        v=value,
        inj=_codes(_TEXT_INJECTION),
        typed=_codes(_TYPED_FIRST),
        minus=sql.Literal(ord("-")),
        int=sql.Literal(_INTEGER),
    )


# The batch's own values in a statement: its snapshot names and ids, and where its rows are
# (a cumulative file's lead list, or the range of queue ids a file owns,
# app.services.queue_files). Everything else depends only on the file's layout.
_CONSTANTS = ("campaign.id", "campaign.name", "advertiser.id", "advertiser.name")
_SOURCE_ID = "source batch id"
_INTEGRATION_ID = "integration id"
_AFTER = "entries after"
_THROUGH = "entries through"
# Layout -> the statement's bytes with the batch's values left out (their names in between),
# per process: a herd of small files composes the same few layouts thousands of times.
_LAYOUTS: dict[tuple, tuple[bytes | str, ...]] = {}
_LAYOUTS_MAX = 256


def _column(source: str) -> sql.Composable | str:
    if source == "lead.id":
        return sql.SQL("l.id::text")
    if source == "lead.externalId":
        return _neutralised(sql.SQL("l.external_id"))
    if source == "lead.status":
        return _neutralised(sql.SQL("l.status"))
    if source == "lead.createdAt":
        return sql.SQL("""to_char(l.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')""")
    if source in _CONSTANTS:
        return source  # the batch's value, filled in by copy_statement
    return _field(source)


def _layout(sources: tuple[str, ...], settings: FileSettings, cumulative: bool, conn: psycopg.Connection) -> tuple:
    """The statement as bytes, with the names of the batch's values where they go."""
    key = (sources, settings.quoting, settings.delimiter, cumulative, conn.info.encoding)
    if key in _LAYOUTS:
        return _LAYOUTS[key]
    # Empty cells are written bare by csv.writer, quoted by QUOTE_ALL: see the module doc.
    before, after = ("NULLIF(", ", '')") if settings.quoting == "minimal" else ("COALESCE(", ", '')")
    parts: list[sql.Composable | str] = [sql.SQL("COPY (SELECT ")]
    for number, source in enumerate(sources):
        parts += [sql.SQL((", " if number else "") + before), _column(source), sql.SQL(after)]
    if cumulative:
        parts += [sql.SQL(" FROM batch_leads q JOIN leads l ON l.id = q.lead_id WHERE q.batch_id = "), _SOURCE_ID]
    else:
        parts += [
            sql.SQL(" FROM queue_entries q JOIN leads l ON l.id = q.lead_id WHERE q.integration_id = "),
            _INTEGRATION_ID,
            sql.SQL(" AND q.id > "),
            _AFTER,
            sql.SQL(" AND q.id <= "),
            _THROUGH,
        ]
    options = sql.SQL("FORMAT csv, DELIMITER {}, QUOTE '\"'").format(sql.Literal(settings.delimiter))
    if settings.quoting == "all":
        options += sql.SQL(", FORCE_QUOTE *")
    parts.append(sql.SQL(" ORDER BY q.id) TO STDOUT WITH ({})").format(options))
    layout = tuple(part if isinstance(part, str) else part.as_bytes(conn) for part in parts)
    if len(_LAYOUTS) >= _LAYOUTS_MAX:
        _LAYOUTS.clear()
    _LAYOUTS[key] = layout
    return layout


def copy_statement(
    batch: SentBatch, mapping: Sequence[dict], settings: FileSettings, conn: psycopg.Connection
) -> bytes:
    """The COPY of a batch's rows in file order, cells as the Python writer makes them."""
    source = source_batch(batch)
    layout = _layout(tuple(str(m["source"]) for m in mapping), settings, source.cumulative, conn)
    cells = {
        "campaign.id": batch.campaign_id,
        "campaign.name": batch.campaign_name,
        "advertiser.id": batch.advertiser_id,
        "advertiser.name": batch.advertiser_name,
    }
    values = {name: cell_text(cell(value)) for name, value in cells.items()}
    # A file with no range (it claimed nothing) compares ids with NULL: no rows.
    values |= {
        _SOURCE_ID: source.id,
        _INTEGRATION_ID: source.integration_id,
        _AFTER: source.entries_after,
        _THROUGH: source.entries_through,
    }
    return b"".join(part if isinstance(part, bytes) else sql.Literal(values[part]).as_bytes(conn) for part in layout)


def _header(mapping: Sequence[dict], settings: FileSettings) -> str:
    line = io.StringIO()
    csv.writer(
        line, delimiter=settings.delimiter, quotechar='"', lineterminator="\r\n", quoting=QUOTING[settings.quoting]
    ).writerow([neutralise(h) for h in headers(mapping)])
    text = line.getvalue()
    return text[:-2] + "\n" if settings.line_ending == "lf" else text


class _Crlf:
    """COPY's "\\n" row ends as "\\r\\n"; a "\\n" inside a quoted value stays as it is."""

    def __init__(self) -> None:
        self.inside = False

    def __call__(self, data: bytes) -> bytes:
        pieces = data.split(b'"')
        first = 1 if self.inside else 0
        for i in range(first, len(pieces), 2):
            if b"\n" in pieces[i]:
                pieces[i] = pieces[i].replace(b"\n", b"\r\n")
        if len(pieces) % 2 == 0:
            self.inside = not self.inside
        return b'"'.join(pieces)


def _chunks(copy: psycopg.Copy) -> Iterator[bytes]:
    parts: list = []
    size = 0
    for block in copy:
        parts.append(block)
        size += len(block)
        if size >= CHUNK:
            yield b"".join(parts)
            parts.clear()
            size = 0
    if parts:
        yield b"".join(parts)


def write_copy(
    batch: SentBatch,
    mapping: Sequence[dict],
    settings: FileSettings,
    out: BinaryIO,
    guard: Callable[[Iterable[bytes]], Iterable[bytes]] = iter,
) -> int:
    """Write the batch's plain file to `out` with COPY; return the rows written.

    `guard` wraps the stream of chunks (a lease's guard stops a build whose lease lapsed).
    Raises CopyUnsupported, having written part of the file, when a value needs the
    Python writer: the caller starts the file again.
    """
    pooled = db.session.connection().connection  # its info dict lives as long as the DBAPI connection
    conn = pooled.driver_connection
    utf8 = codecs.lookup(settings.encoding).name == "utf-8"
    encode = None if utf8 else codecs.getincrementalencoder(settings.encoding)(errors="replace").encode
    decode = None if utf8 else codecs.getincrementaldecoder("utf-8")().decode
    crlf = _Crlf() if settings.line_ending == "crlf" else None
    header = _header(mapping, settings) if settings.header else ""
    if header:
        out.write(header.encode("utf-8") if encode is None else encode(header))
    statement = copy_statement(batch, mapping, settings, conn)

    def write(copy: psycopg.Copy) -> None:
        for chunk in guard(_chunks(copy)):
            if crlf is not None:
                chunk = crlf(chunk)
            out.write(chunk if encode is None else encode(decode(chunk)))

    try:
        rows = _copy(conn, pooled.info, statement, write, in_order=(batch.lead_count or 0) >= IN_ORDER_FROM)
    except psycopg.errors.DataError as exc:
        raise CopyUnsupported(str(exc).splitlines()[0]) from exc
    if encode is not None and (header or rows):
        tail = encode(decode(b"", True), True)
        if tail:
            out.write(tail)
    return rows


def _copy(
    conn: psycopg.Connection, info: dict, statement: bytes, write: Callable[[psycopg.Copy], None], *, in_order: bool
) -> int:
    """Run the COPY; returns its row count.

    pg_temp.bm_py_float lives as long as the connection, so it is created once per
    connection (noted in `info`), not per file. A rollback of the transaction that created
    it drops it again (with the temporary schema, if that was new), unseen by the note: the
    COPY then fails while PostgreSQL parses it, before it sends a row, and runs again after
    creating the function.
    """
    try:
        rows = _copy_in_savepoint(conn, statement, write, create=not info.get(_PY_FLOAT_CREATED), in_order=in_order)
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName):
        if not info.pop(_PY_FLOAT_CREATED, False):
            raise
        rows = _copy_in_savepoint(conn, statement, write, create=True, in_order=in_order)
    info[_PY_FLOAT_CREATED] = True
    return rows


def _copy_in_savepoint(
    conn: psycopg.Connection,
    statement: bytes,
    write: Callable[[psycopg.Copy], None],
    *,
    create: bool,
    in_order: bool,
) -> int:
    # A savepoint, so a refused value leaves the caller's transaction usable.
    with conn.transaction(), conn.cursor() as cursor:
        if create:
            cursor.execute(_PY_FLOAT)
        if not in_order:
            with cursor.copy(statement) as copy:
                write(copy)
            return cursor.rowcount
        # The planner settings last as long as an inner savepoint that is rolled back once the
        # rows are read (the COPY writes nothing), so the rest of the transaction plans as before.
        with conn.transaction():
            cursor.execute(_IN_ORDER)
            with cursor.copy(statement) as copy:
                write(copy)
            rows = cursor.rowcount
            raise psycopg.Rollback
        return rows


def build_and_store_batch(
    batch: SentBatch,
    settings: FileSettings,
    store: FileStore,
    key: str,
    *,
    member_name: str,
    protection_secret: object = None,
    guard: Callable[[Iterable], Iterable] = iter,
) -> tuple[StoredFile, int]:
    """Build a batch's file into the store: COPY where it writes the same bytes, else Python."""
    mapping = validate_mapping(list(batch.field_mapping or []))
    if supported(settings, mapping):

        def by_copy(sink: BinaryIO) -> int:
            with compressed(sink, settings, member_name) as target:
                return write_copy(batch, mapping, settings, target, guard)

        try:
            return store_plain(
                by_copy, settings, store, key, member_name=member_name, protection_secret=protection_secret
            )
        except CopyUnsupported as exc:  # the store discarded the partial file
            log.info("batch %s: built by the Python writer (%s)", batch.id, exc)

    def by_python(sink: BinaryIO) -> int:
        return write_file(guard(iter_batch_records(batch.id)), mapping, settings, sink, member_name=member_name)

    return store_plain(by_python, settings, store, key, member_name=member_name, protection_secret=protection_secret)
