"""The lead file writer: what recipients open must be exactly the leads, safely."""

from __future__ import annotations

import csv
import gzip
import io
import math
import zipfile
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openpyxl import load_workbook

from app.services.files import FileSettings, LeadRecord, neutralise, write_file

CREATED = datetime(2026, 3, 4, 5, 6, 7, 891234, tzinfo=UTC)
MAPPING = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "lead.externalId", "header": "External ID"},
    {"source": "lead.createdAt", "header": "Created"},
    {"source": "lead.status", "header": "Status"},
    {"source": "campaign.id", "header": "Campaign ID"},
    {"source": "campaign.name", "header": "Campaign"},
    {"source": "advertiser.id", "header": "Advertiser ID"},
    {"source": "advertiser.name", "header": "Advertiser"},
    {"source": "value", "header": "Value"},
]
INJECTIONS = ["=1+2", "+cmd|' /C calc'!A0", "-2+3", "@SUM(A1:A2)", "\tx", "\rx", "\nx", '=HYPERLINK("http://x")']
TRICKY = ['say "hi"', "a,b", "a|b", "a\tb", "a\nb", "a\rb", "a\r\nb", "Zoë 東京 🚀", " padded ", "", "'quoted", "x=1"]
DELIMITED = [
    FileSettings(format=fmt, header=header, line_ending=le, quoting=q, encoding=enc)
    for fmt in ("csv", "tsv", "psv")
    for header in (True, False)
    for le in ("crlf", "lf")
    for q, enc in (("minimal", "utf-8"), ("all", "utf-8-sig"), ("nonnumeric", "utf-8"))
]


def record(i: int, value: object, **fields: object) -> LeadRecord:
    return LeadRecord(i, f"ext-{i}", "valid", CREATED, {"value": value, **fields}, 7, "Spring", 3, "ACME, Inc.")


def build(records, mapping=MAPPING, **kw) -> tuple[bytes, int]:
    out = io.BytesIO()
    rows = write_file(records, mapping, FileSettings(**kw) if kw else FileSettings(), out)
    return out.getvalue(), rows


def read_rows(data: bytes, s: FileSettings) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode(s.encoding), newline=""), delimiter=s.delimiter))


def value_column(data: bytes, s: FileSettings) -> list[str]:
    rows = read_rows(data, s)
    return [r[-1] for r in (rows[1:] if s.header else rows)]


@pytest.mark.parametrize("s", DELIMITED, ids=lambda s: f"{s.format}-{s.header}-{s.line_ending}-{s.quoting}")
def test_every_value_round_trips_and_injections_are_neutralised(s):
    values = TRICKY + INJECTIONS
    out = io.BytesIO()
    rows = write_file([record(i, v) for i, v in enumerate(values)], MAPPING, s, out)
    data = out.getvalue()
    assert rows == len(values)
    assert value_column(data, s) == [v for v in TRICKY] + ["'" + v for v in INJECTIONS]
    parsed = read_rows(data, s)
    if s.header:
        assert parsed[0] == [m["header"] for m in MAPPING]
    first = parsed[1 if s.header else 0]
    assert first[:8] == ["0", "ext-0", "2026-03-04T05:06:07Z", "valid", "7", "Spring", "3", "ACME, Inc."]
    assert data.startswith(b"\xef\xbb\xbf") == (s.encoding == "utf-8-sig")
    # Rows end the configured way and no other way.
    ending = b"\r\n" if s.line_ending == "crlf" else b"\n"
    assert data.endswith(ending)
    if s.line_ending == "lf":
        assert data.count(b"\r\n") == data.count(b"a\r\nb")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    values=st.lists(
        st.one_of(st.text(), st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False)), max_size=6
    ),
    fmt=st.sampled_from(["csv", "tsv", "psv"]),
    line_ending=st.sampled_from(["crlf", "lf"]),
    quoting=st.sampled_from(["minimal", "all", "nonnumeric"]),
)
def test_property_any_value_reads_back_as_the_file_promises(values, fmt, line_ending, quoting):
    s = FileSettings(format=fmt, line_ending=line_ending, quoting=quoting)
    mapping = [{"source": f"f{i}", "header": f"H{i}"} for i in range(len(values))] or MAPPING[:1]
    rec = LeadRecord(1, "e", "valid", CREATED, {f"f{i}": v for i, v in enumerate(values)}, 1, "c", 1, "a")
    out = io.BytesIO()
    write_file([rec], mapping, s, out)
    got = read_rows(out.getvalue(), s)[1]
    expected = []
    for v in values:
        if v is None:
            expected.append("")
        elif isinstance(v, bool):
            expected.append("true" if v else "false")
        elif isinstance(v, float) and not math.isfinite(v):
            expected.append(neutralise(str(v)))  # "-inf" is written as text
        elif isinstance(v, int | float):
            expected.append(str(v))  # numbers are not text: no injection prefix
        else:
            expected.append(neutralise(v))
    assert got == (expected or ["1"])
    for v, cell in zip(values, got, strict=False):
        if isinstance(v, str) and not v.startswith(("=", "+", "-", "@", "\t", "\r", "\n")):
            assert cell == v


def test_latin1_keeps_what_it_can_and_replaces_the_rest():
    s = FileSettings(encoding="latin-1")
    data, _ = build([record(1, "café \u2013 Łódź")], encoding="latin-1")
    assert value_column(data, s) == ["café ? ?ód?"]
    assert "café".encode("latin-1") in data


def test_cp1252_and_header_off():
    data, rows = build([record(1, "€5")], encoding="cp1252", header=False)
    assert rows == 1
    assert data.decode("cp1252").split(",")[-1] == "€5\r\n"


def test_nonnumeric_quotes_text_but_not_numbers():
    data, _ = build([record(1, "01234")], quoting="nonnumeric", header=False)
    assert data.decode().startswith('1,"ext-1","2026-03-04T05:06:07Z","valid",7,')
    assert data.decode().rstrip().endswith('"01234"')


def test_empty_file_has_only_the_header_or_nothing():
    header = ("\ufeff" + ",".join(m["header"] for m in MAPPING) + "\r\n").encode("utf-8")
    assert build([], encoding="utf-8-sig") == (header, 0)
    assert build([], header=False, encoding="utf-8-sig") == (b"", 0)


def test_header_cells_are_neutralised_too():
    data, _ = build([record(1, "x")], mapping=[{"source": "value", "header": "=cmd()"}])
    assert data.decode().splitlines()[0] == "'=cmd()"


@pytest.mark.parametrize("fmt", ["csv", "tsv", "psv", "xlsx"])
def test_gzip_and_zip_hold_the_same_bytes_and_rebuilds_are_identical(fmt):
    records = [record(i, v) for i, v in enumerate(TRICKY + INJECTIONS)]
    plain, n = build(records, format=fmt)
    gz, n_gz = build(records, format=fmt, compression="gzip")
    zipped, n_zip = build(records, format=fmt, compression="zip")
    assert n == n_gz == n_zip == len(records)
    assert gzip.decompress(gz) == plain
    with zipfile.ZipFile(io.BytesIO(zipped)) as archive:
        assert archive.namelist() == [f"leads.{fmt}"]
        assert archive.read(f"leads.{fmt}") == plain
    for compression, first in (("none", plain), ("gzip", gz), ("zip", zipped)):
        assert build(records, format=fmt, compression=compression)[0] == first
    # No file name or time in the gzip header.
    assert gz[3] & 0x08 == 0 and gz[4:8] == b"\0\0\0\0"


def test_zip_member_is_named_after_the_file():
    out = io.BytesIO()
    write_file([record(1, "x")], MAPPING, FileSettings(compression="zip"), out, member_name="feed_9_20260101.csv")
    assert zipfile.ZipFile(io.BytesIO(out.getvalue())).namelist() == ["feed_9_20260101.csv"]


def test_xlsx_holds_the_same_values_as_the_csv():
    values = [*TRICKY, *INJECTIONS, 12, 2.5, True, None]
    records = [record(i, v) for i, v in enumerate(values)]
    data, rows = build(records, format="xlsx")
    assert rows == len(values)
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    got = [[("" if c is None else c) for c in row] for row in sheet.iter_rows(values_only=True)]
    csv_rows = read_rows(build(records)[0], FileSettings())
    assert got[0] == csv_rows[0]
    # Text is text (neutralised, never a formula); numbers are numbers; a line
    # break in a cell is "\n", as XML and spreadsheets have it.
    as_xlsx = [r[-1].replace("\r\n", "\n").replace("\r", "\n") for r in csv_rows[1:]]
    assert [str(r[-1]) for r in got[1:]] == as_xlsx
    assert got[1][0] == 0 and isinstance(got[1][0], int)
    assert got[-4][-1] == 12 and got[-3][-1] == 2.5
    for row in got[1:]:
        assert row[2] == "2026-03-04T05:06:07Z"


def test_xlsx_replaces_characters_xml_cannot_hold():
    data, _ = build([record(1, "bell\x07 nul\x00")], format="xlsx")
    sheet = load_workbook(io.BytesIO(data), read_only=True).active
    assert list(sheet.iter_rows(values_only=True))[1][-1] == "bell\ufffd nul\ufffd"


class CountingSink:
    """A write-only sink that keeps nothing but a byte count."""

    def __init__(self) -> None:
        self.size = 0

    def write(self, data: bytes) -> int:
        self.size += len(data)
        return len(data)

    def flush(self) -> None:
        pass


MEMORY_MAPPING = [
    *MAPPING,
    {"source": "first", "header": "First"},
    {"source": "phone", "header": "Phone"},
]


def generated(n: int):
    for i in range(n):
        yield LeadRecord(
            i,
            f"ext-{i}",
            "valid",
            CREATED,
            {"value": f"person{i}@example.com", "first": f"Person {i}", "phone": f"+44 7700 {i:06d}"},
            7,
            "Spring",
            3,
            "ACME",
        )


@pytest.mark.parametrize(("compression", "count"), [("none", 100_000), ("zip", 40_000)])
def test_memory_stays_flat_whatever_the_size(compression, count):
    import tracemalloc

    sink = CountingSink()
    tracemalloc.start()
    try:
        rows = write_file(generated(count), MEMORY_MAPPING, FileSettings(compression=compression), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == count
    if compression == "none":
        assert sink.size > 10 * 1024 * 1024  # the file is 2.5 times the memory allowed
    assert peak < 4 * 1024 * 1024, f"peak {peak} bytes"
    print(f"{compression}: {count} rows, {sink.size} bytes out, peak {peak} bytes traced")


@pytest.mark.slow
def test_xlsx_memory_stays_flat():
    # openpyxl's write-only mode streams rows to a temp file; then the archive is
    # copied in fixed-size chunks. (Pure-Python XML under tracemalloc is slow: 12k rows.)
    import tracemalloc

    sink = CountingSink()
    tracemalloc.start()
    try:
        rows = write_file(generated(12_000), MEMORY_MAPPING, FileSettings(format="xlsx"), sink)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert rows == 12_000
    assert peak < 8 * 1024 * 1024, f"peak {peak} bytes"


@pytest.mark.parametrize(
    "mapping", [[], [{"source": "x"}], [{"source": "a", "header": "A"}, {"source": "b", "header": "a"}]]
)
def test_a_bad_mapping_is_refused_before_anything_is_written(mapping):
    from app.errors import ValidationError

    out = io.BytesIO()
    with pytest.raises(ValidationError):
        write_file([record(1, "x")], mapping, FileSettings(), out)
    assert out.getvalue() == b""
