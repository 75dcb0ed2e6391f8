"""Build one lead file from generated records, no database: rows/s and peak RSS growth.

    .venv/bin/python -m bench.file_build --rows 1000000 --format csv --compression none

It measures the writer and the file store alone (what the send path adds on top
of reading the leads), so a regression there shows up without a database.
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from datetime import UTC, datetime

import psutil

from app.services.files import FileSettings, LeadRecord
from app.services.storage import FileStore, build_and_store

MAPPING = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "lead.externalId", "header": "External ID"},
    {"source": "lead.createdAt", "header": "Created"},
    {"source": "email", "header": "Email"},
    {"source": "first_name", "header": "First Name"},
    {"source": "phone", "header": "Phone"},
    {"source": "campaign.name", "header": "Campaign"},
    {"source": "advertiser.name", "header": "Advertiser"},
]


def records(n: int):
    created = datetime.now(UTC)
    for i in range(n):
        fields = {"email": f"person{i}@example.com", "first_name": f"Person {i}", "phone": f"+44 7700 {i % 10**6:06d}"}
        yield LeadRecord(i + 1, f"ext-{i}", "valid", created, fields, 1, "Spring Campaign", 1, "ACME")


class PeakRss:
    """Samples this process's RSS every 10 ms in a thread; `growth` is peak minus start."""

    def __init__(self) -> None:
        self._proc = psutil.Process()
        self.start = self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, self._proc.memory_info().rss)

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self._proc.memory_info().rss)

    @property
    def growth(self) -> int:
        return self.peak - self.start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--format", default="csv", choices=["csv", "tsv", "psv", "xlsx"])
    parser.add_argument("--compression", default="none", choices=["none", "gzip", "zip"])
    args = parser.parse_args()
    settings = FileSettings(format=args.format, compression=args.compression)
    with tempfile.TemporaryDirectory() as root:
        store = FileStore(f"file://{root}", auto_mkdir=True)
        key = store.key_for(1, 1, "bench" + settings.extension)
        with PeakRss() as rss:
            started = time.perf_counter()
            stored, rows = build_and_store(records(args.rows), MAPPING, settings, store, key, member_name="bench.csv")
            elapsed = time.perf_counter() - started
    print(
        f"{args.format}/{args.compression}: {rows} rows, {stored.size / 1e6:.1f} MB in {elapsed:.2f} s "
        f"= {rows / elapsed:,.0f} rows/s; peak RSS growth {rss.growth / 1e6:.1f} MB"
    )


if __name__ == "__main__":
    main()
