"""The herd benchmark's setup and exactly-once check (bench/herd_data.py) on a small herd,
so the harness cannot rot silently. No timings here: the benchmark itself is
`python -m bench.herd` (README, Performance)."""

from __future__ import annotations

import shutil
from datetime import UTC, datetime, timedelta

import pytest

from app.extensions import db
from bench import herd_data
from bench.herd import Run, scaling
from jobs.worker import run_burst

COUNT, LEADS = 5, 3


@pytest.mark.parametrize("populate", ["populate", "populate_fast"])
def test_a_small_herd_is_delivered_once_and_the_check_catches_lost_and_doubled_files(app, runner, tmp_path, populate):
    if populate == "populate_fast" and db.engine.dialect.name != "postgresql":
        pytest.skip("the set-based copy is PostgreSQL SQL")
    app.config["LOCAL_DELIVERY_ROOT"] = str(tmp_path / "outbox")
    enterprise_id = getattr(herd_data, populate)(COUNT, LEADS)
    outbox = tmp_path / "outbox" / str(enterprise_id)
    slot = datetime.now(UTC).replace(second=0, microsecond=0)
    with db.engine.connect() as conn:
        herd_data.arm(conn, slot - timedelta(hours=1))  # a template built before its 06:00, run after it
        herd_data.disarm(conn)  # as a run does first: nothing falls due before the slot
    assert runner.invoke(args=["ops", "tick"]).exit_code == 0
    run_burst(app)
    with db.engine.connect() as conn:
        assert herd_data.progress(conn)["batches"] == 0
        assert herd_data.arm(conn, slot) == COUNT
        pairs = herd_data.integration_ids(conn)
        assert herd_data.progress(conn)["delivered"] == 0
        assert herd_data.verify(conn, outbox, COUNT, LEADS)  # nothing delivered yet: problems

    # What `rq cron` does at the slot, then the workers (in this process).
    assert runner.invoke(args=["ops", "tick"]).exit_code == 0
    run_burst(app)

    with db.engine.connect() as conn:
        seen = herd_data.progress(conn)
        assert (seen["delivered"], seen["failed"]) == (COUNT, 0)
        assert seen["first_sent"] >= slot
        assert herd_data.verify(conn, outbox, COUNT, LEADS) == []

        baseline = tmp_path / "copy"
        herd_data.copy_loop(str(db.engine.url.render_as_string(hide_password=False)), pairs, baseline)
        copies = sorted(baseline.iterdir())
        assert len(copies) == COUNT
        assert all(len(p.read_text().splitlines()) == LEADS + 1 for p in copies)

        files = sorted(p for p in outbox.rglob("*") if p.is_file())
        shutil.copy(files[0], files[1].parent / "stray.csv")
        problems = herd_data.verify(conn, outbox, COUNT, LEADS)
        assert f"{COUNT + 1} files on disk, expected {COUNT}" in problems
        assert any("leads of another integration" in p for p in problems)
        assert f"{LEADS} leads in more than one file (e.g. h0-0)" in problems

        (files[1].parent / "stray.csv").unlink()
        files[2].unlink()
        problems = herd_data.verify(conn, outbox, COUNT, LEADS)
        assert f"{COUNT - 1} files on disk, expected {COUNT}" in problems
        assert any(p.startswith(f"{LEADS} leads in no file") for p in problems)


def test_the_scaling_summary_pairs_runs_of_the_same_round_only():
    def run(workers: int, seconds: float | None, round_: int, count: int = 500) -> Run:
        return Run(count, workers, "file", "postgresql", copy_s=1.0, all_s=seconds, round=round_)

    runs = [
        run(1, 5.0, 1),
        run(2, 2.5, 1),
        run(4, 2.0, 1),  # round 1: 100, 200, 250 files/s
        run(1, 4.0, 2),
        run(2, 4.0, 2),
        run(4, None, 2),  # round 2: the 4-worker run delivered nothing
        run(1, 20.0, 1, count=2000),
        run(2, 10.0, 1, count=2000),
    ]

    assert scaling(runs) == [
        "- 500 due, file://: 2 workers / 1: 2.00x, 1.00x (median 1.50x)",
        "- 500 due, file://: 4 workers / 1: 2.50x",
        "- 2,000 due, file://: 2 workers / 1: 2.00x",
    ]
