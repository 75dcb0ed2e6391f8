"""Streaming writers: records in, file bytes out, in constant memory.

Encoding choice: characters the configured encoding cannot hold (e.g. "Ł" in
latin-1) are written as "?" (errors="replace") rather than failing the batch.
The leads of a batch are claimed before its file is built, so a strict
encoding error would hold every lead of the feed hostage to one value; the
recipient asked for an encoding that cannot carry the character anyway.
"""

from __future__ import annotations

import codecs
import csv
import gzip
import math
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import BinaryIO

from app.errors import ValidationError
from app.services.files.mapping import LeadRecord, headers, neutralise, row_builder, validate_mapping
from app.services.files.settings import FileSettings

QUOTING = {"minimal": csv.QUOTE_MINIMAL, "all": csv.QUOTE_ALL, "nonnumeric": csv.QUOTE_NONNUMERIC}
# Bytes are handed to the sink in slices of about this many characters.
FLUSH_CHARS = 256 * 1024
# Fixed times make rebuilt gzip/zip/xlsx files byte-identical.
FIXED_ZIP_TIME = (1980, 1, 1, 0, 0, 0)
FIXED_DOC_TIME = datetime(1980, 1, 1)  # openpyxl wants naive UTC
COPY_CHUNK = 256 * 1024
XLSX_MAX_ROWS = 1_048_576
XLSX_MAX_CELL = 32_767
# Control characters an xlsx (XML 1.0) cannot hold at all; they become U+FFFD.
_XML_ILLEGAL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f]")
# Beyond 15 significant digits Excel silently rounds a number; keep such ids as text.
_EXCEL_EXACT = 10**15


def write_file(
    records: Iterable[LeadRecord],
    mapping: Sequence[dict],
    settings: FileSettings,
    out: BinaryIO,
    *,
    member_name: str | None = None,
) -> int:
    """Write the file for `records` to `out` (left open); return the rows written, header excluded.

    `member_name` names the file inside a zip (default "leads" + the format's extension).
    A bad mapping raises ValidationError before a byte is written.
    """
    mapping = validate_mapping(list(mapping))
    with compressed(out, settings, member_name) as target:
        if settings.format == "xlsx":
            return _write_xlsx(records, mapping, target)
        return _write_delimited(records, mapping, settings, target)


@contextmanager
def compressed(out: BinaryIO, settings: FileSettings, member_name: str | None = None) -> Iterator[BinaryIO]:
    """The sink a plain file is written to: `out` itself, or a gzip stream or zip member into it."""
    with ExitStack() as stack:
        target: BinaryIO = out
        if settings.compression == "gzip":
            # No name and mtime 0 in the header: the same rows give the same bytes.
            target = stack.enter_context(gzip.GzipFile(filename="", mode="wb", fileobj=out, mtime=0, compresslevel=6))
        elif settings.compression == "zip":
            archive = stack.enter_context(zipfile.ZipFile(ForwardOnly(out), "w", zipfile.ZIP_DEFLATED))
            info = zipfile.ZipInfo(member_name or "leads" + settings.inner_extension, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            # zip64 always: the size is unknown while streaming and may pass 2 GiB.
            target = stack.enter_context(archive.open(info, "w", force_zip64=True))
        yield target


class ForwardOnly:
    """A forward-only view of a sink, so zip output is the same whether or not it can seek.

    (On a seekable file zipfile goes back to patch each header; on a stream it
    writes data descriptors instead. Always streaming keeps rebuilds identical.)
    """

    def __init__(self, out: BinaryIO) -> None:
        self._out = out
        self._pos = 0

    def write(self, data: bytes) -> int:
        self._out.write(data)
        self._pos += len(data)
        return len(data)

    def tell(self) -> int:
        return self._pos

    def flush(self) -> None:
        self._out.flush()


class _EncodingSink:
    """What csv.writer writes to: encodes, fixes line endings, hands over big slices."""

    def __init__(self, out: BinaryIO, encoding: str, lf: bool) -> None:
        self._out = out
        # An incremental encoder writes utf-8-sig's BOM once, at the very start.
        self._encode = codecs.getincrementalencoder(encoding)(errors="replace").encode
        self._lf = lf
        self._parts: list[str] = []
        self._size = 0

    def write(self, line: str) -> None:
        # csv.writer hands over one whole row per call, ending in "\r\n". It always
        # writes "\r\n" so that values holding a lone "\r" get quoted too (with a
        # "\n" terminator it leaves them bare and a reader splits the row there).
        if self._lf:
            line = line[:-2] + "\n"
        self._parts.append(line)
        self._size += len(line)
        if self._size >= FLUSH_CHARS:
            self.flush()

    def flush(self, final: bool = False) -> None:
        data = self._encode("".join(self._parts), final)
        if data:
            self._out.write(data)
        self._parts.clear()
        self._size = 0


def _write_delimited(records: Iterable[LeadRecord], mapping: Sequence[dict], s: FileSettings, out: BinaryIO) -> int:
    sink = _EncodingSink(out, s.encoding, s.line_ending == "lf")
    writer = csv.writer(sink, delimiter=s.delimiter, quotechar='"', lineterminator="\r\n", quoting=QUOTING[s.quoting])
    if s.header:
        writer.writerow([neutralise(h) for h in headers(mapping)])
    build = row_builder(mapping)
    rows = 0
    writerow = writer.writerow
    for record in records:
        writerow(build(record))
        rows += 1
    if s.header or rows:  # a file with no header and no rows stays empty: no BOM either
        sink.flush(final=True)
    return rows


def _xlsx_cell(value: str | int | float) -> str | int | float:
    if isinstance(value, str):
        # XML reads every line break as "\n", and that is how spreadsheets break
        # lines in a cell; say so in the bytes rather than leave it to the reader.
        if "\r" in value:
            value = value.replace("\r\n", "\n").replace("\r", "\n")
        if _XML_ILLEGAL.search(value):
            value = _XML_ILLEGAL.sub("\ufffd", value)
        return value[:XLSX_MAX_CELL]
    if isinstance(value, int) and abs(value) >= _EXCEL_EXACT:
        return str(value)
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _write_xlsx(records: Iterable[LeadRecord], mapping: Sequence[dict], out: BinaryIO) -> int:
    from openpyxl import Workbook  # imported here: only xlsx feeds pay for it
    from openpyxl.writer.excel import ExcelWriter

    workbook = Workbook(write_only=True)
    workbook.properties.created = workbook.properties.modified = FIXED_DOC_TIME
    sheet = workbook.create_sheet("Leads")
    sheet.append([_xlsx_cell(neutralise(h)) for h in headers(mapping)])
    build = row_builder(mapping)
    rows = 0
    for record in records:
        rows += 1
        if rows >= XLSX_MAX_ROWS:
            raise ValidationError(
                f"an xlsx sheet holds at most {XLSX_MAX_ROWS - 1} leads; set a smaller max leads per file",
                {"max_leads_per_file": [f"at most {XLSX_MAX_ROWS - 1} for xlsx"]},
            )
        sheet.append([_xlsx_cell(v) for v in build(record)])
    # openpyxl needs a seekable file; it stamps "now" on every zip entry, so the
    # archive is then re-packed with fixed times for byte-identical rebuilds.
    with tempfile.TemporaryFile() as raw:
        with zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED, allowZip64=True) as archive:
            ExcelWriter(workbook, archive).write_data()
        raw.seek(0)
        _repack(raw, out)
    return rows


def _repack(source: BinaryIO, out: BinaryIO) -> None:
    with zipfile.ZipFile(source) as src, zipfile.ZipFile(ForwardOnly(out), "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            info = zipfile.ZipInfo(item.filename, FIXED_ZIP_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            with src.open(item) as reader, dst.open(info, "w", force_zip64=item.file_size > 2**30) as writer:
                shutil.copyfileobj(reader, writer, COPY_CHUNK)
