"""The herd: N integrations x 200 leads all due in the same minute, delivered by the real
processes, beside one `COPY ... TO STDOUT WITH CSV` per integration into a file.

    python -m bench.herd                                   # 500, 2,000, 10,000 x 1, 2, 4 workers, file://
    python -m bench.herd --integrations 500,2000 --workers 1,2 --storage file,s3
    python -m bench.herd --integrations 2000 --workers 1,2 --repeat 3    # 2 workers / 1, round by round
    python -m bench --only herd                            # the defaults, in the bench's table

Per N, a template database is built once through the real services (bench/herd_data.py;
reused while the schema head and N match) and every run starts from a copy of it
(`CREATE DATABASE ... TEMPLATE`, or a copy of the SQLite file). A run:
1. the baseline: the COPY loop over the run's copy, timed (files/s): the median of three
   loops, their range printed beside it (one loop's fsyncs vary up to 2x on this disk);
2. starts W `flask --app wsgi rq worker` processes and one `flask --app wsgi rq cron`
   (the Procfile's processes) on a flushed Redis db, each with the run's database,
   STORAGE_URL (file:// or s3:// on the tests' moto server) and LOCAL_DELIVERY_ROOT;
3. arms the herd: every integration "daily at HH:MM" UTC, next run at the next whole
   minute (the slot), and waits: `rq cron` enqueues the real tick at the slot as in
   production (and the next ones a minute apart);
4. polls the SentBatch rows until N are delivered (or --timeout), stops the processes,
   and checks exactly-once (herd_data.verify: one delivered batch per integration, every
   lead in exactly one file on disk).
Times come from the rows' sent_at: first file and last file after the slot.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import create_engine, text

from bench import common, herd_data, services
from bench.common import Result

BARS = "10,000 within 120 s of the slot with 2 workers; >= 0.25x COPY files/s; first file <= 5 s; 2 workers >= 1.6x one"
HERD = common.RESULTS / "herd"
COPY_RUNS = 3


@dataclass
class Run:
    integrations: int
    workers: int
    storage: str
    backend: str
    copy_s: float  # the median of copy_runs
    copy_runs: list[float] = field(default_factory=list)
    delivered: int = 0
    failed: int = 0
    first_s: float | None = None
    all_s: float | None = None
    waited_s: float = 0.0
    problems: list[str] = field(default_factory=list)
    load: tuple[float, float] = (0.0, 0.0)
    round: int = 1  # of --repeat: the runs of one round are made one after another

    @property
    def files_per_s(self) -> float | None:
        if self.all_s:
            return self.integrations / self.all_s
        return self.delivered / self.waited_s if self.waited_s else None

    @property
    def copy_files_per_s(self) -> float:
        return self.integrations / self.copy_s

    @property
    def ratio(self) -> float | None:
        return self.files_per_s / self.copy_files_per_s if self.files_per_s else None


def template_name(count: int, leads: int) -> str:
    return f"{common.PG_DB}_herd_{count}x{leads}"


def _head() -> str:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(common.ROOT / "migrations"))
    return ScriptDirectory.from_config(config).get_current_head()


def ensure_template(backend: str, count: int, leads: int, *, rebuild: bool = False) -> str:
    """The database URL of the populated template for N (built if missing, stale or asked)."""
    name = template_name(count, leads)
    url = common.db_url(backend, name)
    state = None if rebuild else _template_state(url, count, _head())
    if state == "ok":
        return url
    from flask_migrate import upgrade

    if state == "behind":
        # As production does (and bench/generate.py): the migrations bring the data up to head.
        click.echo(f"[herd] upgrading template {name} to the migration head...", err=True)
        app = common.make_app(url)
        with app.app_context():
            upgrade()
            from app.extensions import db

            db.engine.dispose()
        return url
    click.echo(f"[herd] building template {name} ({count} x {leads} leads)...", err=True)
    started = time.monotonic()
    if backend == "postgresql":
        common.ensure_pg_database(name, drop=True)
    else:
        Path(url.removeprefix("sqlite:///")).unlink(missing_ok=True)
    app = common.make_app(url)
    with app.app_context():
        upgrade()
        if backend == "postgresql":
            herd_data.populate_fast(count, leads)
        else:
            herd_data.populate(count, leads)
        from app.extensions import db

        db.engine.dispose()
    click.echo(f"[herd] template built in {time.monotonic() - started:.0f} s", err=True)
    return url


def _template_state(url: str, count: int, head: str) -> str | None:
    """ "ok", "behind" (right data, older migration) or None (missing or wrong: build it)."""
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar()
            integrations = conn.execute(text("SELECT COUNT(*) FROM batch_integrations")).scalar()
            batches = conn.execute(text("SELECT COUNT(*) FROM sent_batches")).scalar()
    except Exception:  # missing database or tables
        return None
    finally:
        engine.dispose()
    if integrations != count or batches != 0:
        return None
    return "ok" if version == head else "behind"


def fresh_copy(backend: str, template_url: str) -> str:
    """A new run database copied from the template."""
    name = f"{common.PG_DB}_herd_run"
    if backend == "sqlite":
        target = Path(common.db_url(backend, name).removeprefix("sqlite:///"))
        for suffix in ("-wal", "-shm"):
            Path(str(target) + suffix).unlink(missing_ok=True)
        shutil.copyfile(template_url.removeprefix("sqlite:///"), target)
        return f"sqlite:///{target}"
    import psycopg

    with psycopg.connect(common.psycopg_url(common.PG_BASE) + "/postgres", autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_url.rsplit("/", 1)[1]}"')
    return common.db_url(backend, name)


@contextmanager
def s3_storage(run_no: int):
    """STORAGE_URL and environment for a fresh bucket on the tests' moto server (in this process)."""
    import boto3

    from tests.servers.s3 import REGION, MotoS3Server

    server = MotoS3Server()
    server.start()
    try:
        bucket = f"herd-{run_no}"
        boto3.client(
            "s3",
            endpoint_url=server.endpoint_url,
            region_name=REGION,
            aws_access_key_id="herd",
            aws_secret_access_key="herd",
        ).create_bucket(Bucket=bucket)
        env = {
            "AWS_ENDPOINT_URL_S3": server.endpoint_url,
            "AWS_ACCESS_KEY_ID": "herd",
            "AWS_SECRET_ACCESS_KEY": "herd",
            "AWS_DEFAULT_REGION": REGION,
        }
        yield f"s3://{bucket}/files", env
    finally:
        server.stop()


def _spawn(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen:
    with open(log, "w") as out:
        return subprocess.Popen(
            [services._bin("flask"), "--app", "wsgi", *args],
            cwd=common.ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _wait_workers(redis_url: str, count: int, procs: list[subprocess.Popen], timeout: float = 300) -> None:
    from redis import Redis
    from rq import Worker

    conn = Redis.from_url(redis_url)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker or cron process exited; see {HERD / 'logs'}")
        if len(Worker.all(connection=conn)) >= count:
            return
        time.sleep(0.2)
    raise RuntimeError(f"{count} workers did not register in {timeout}s")


def run_one(
    backend: str, template_url: str, count: int, leads: int, workers: int, storage: str, redis_url: str, timeout: float
) -> Run:
    """One herd run on a fresh copy of the template (see the module docstring)."""
    from redis import Redis

    url = fresh_copy(backend, template_url)
    engine = create_engine(url)
    outbox, files, logs = HERD / "outbox", HERD / "files", HERD / "logs"
    for folder in (outbox, files, HERD / "copy"):
        shutil.rmtree(folder, ignore_errors=True)
    logs.mkdir(parents=True, exist_ok=True)
    with engine.connect() as conn:
        pairs = herd_data.integration_ids(conn)
        # Nothing may fall due before the slot: the template's integrations keep the next
        # run their default schedule gave them when it was built (06:00 UTC), and a run
        # started after that would see `rq cron`'s first tick send them all early.
        herd_data.disarm(conn)
    Redis.from_url(redis_url).flushdb()
    run = Run(count, workers, storage, backend, copy_s=0.0)
    procs: list[subprocess.Popen] = []
    with ExitStack() as stack:
        storage_url, extra = f"file://{files}", {}
        if storage == "s3":
            storage_url, extra = stack.enter_context(s3_storage(int(time.time())))
        env = services.process_env(
            url, REDIS_URL=redis_url, STORAGE_URL=storage_url, LOCAL_DELIVERY_ROOT=str(outbox), **extra
        )
        try:
            for i in range(workers):
                procs.append(_spawn(["rq", "worker"], env, logs / f"worker-{i}.log"))
            procs.append(_spawn(["rq", "cron"], env, logs / "cron.log"))
            _wait_workers(redis_url, workers, procs)
            # The baseline while the processes idle (blocked on Redis) until the slot. Its
            # fsync per file makes one loop vary up to 2x on this machine's disk: the median of
            # COPY_RUNS loops, their range printed beside it.
            for _ in range(COPY_RUNS):
                run.copy_runs.append(herd_data.copy_loop(url, pairs, HERD / "copy"))
                shutil.rmtree(HERD / "copy", ignore_errors=True)
            run.copy_s = statistics.median(run.copy_runs)
            slot = (datetime.now(UTC) + timedelta(seconds=63)).replace(second=0, microsecond=0)
            with engine.connect() as conn:
                herd_data.arm(conn, slot)
            run.load = os.getloadavg()[:2]
            click.echo(f"[herd] N={count} W={workers} {storage}: slot {slot:%H:%M:%S}", err=True)
            _watch(engine, run, slot, timeout, procs)
        finally:
            for proc in procs:
                services._stop(proc)
            # Leave no job behind for whoever uses this Redis db next (a test run, say).
            Redis.from_url(redis_url).flushdb()
    with engine.connect() as conn:
        run.problems = herd_data.verify(conn, _enterprise_outbox(outbox), count, leads)
    engine.dispose()
    click.echo(f"[herd]   {table_row(run)}", err=True)
    return run


def _enterprise_outbox(outbox: Path) -> Path:
    # One enterprise holds every integration: its folder is the only one under the root.
    folders = [p for p in outbox.iterdir() if p.is_dir()] if outbox.exists() else []
    return folders[0] if len(folders) == 1 else outbox


def _watch(engine, run: Run, slot: datetime, timeout: float, procs: list[subprocess.Popen]) -> None:
    """Poll the SentBatch rows from the slot until all are delivered, the timeout, or a dead process."""
    while datetime.now(UTC) < slot:
        time.sleep(0.05)
    deadline = time.monotonic() + timeout
    seen = {}
    with engine.connect() as conn:
        while time.monotonic() < deadline:
            seen = herd_data.progress(conn)
            if seen["delivered"] + seen["failed"] >= run.integrations:
                break
            if any(p.poll() is not None for p in procs):
                click.echo("[herd] a process exited early; see bench/results/herd/logs", err=True)
                break
            time.sleep(0.25)
        time.sleep(2)  # anything delivered twice shows up now rather than after the check
        seen = herd_data.progress(conn)
    run.waited_s = (datetime.now(UTC) - slot).total_seconds()
    run.delivered, run.failed = seen["delivered"], seen["failed"]
    if seen["first_sent"]:
        run.first_s = (seen["first_sent"] - slot).total_seconds()
    if run.delivered >= run.integrations and seen["last_sent"]:
        run.all_s = (seen["last_sent"] - slot).total_seconds()


TABLE_HEAD = (
    "| due in one minute | storage | workers | ours: slot → all delivered (files/s) "
    "| one COPY per integration: median of 3 (files/s, range) | ratio | first file after the slot | exactly once | load |\n"
    "|---|---|---|---|---|---|---|---|---|"
)


def table_row(r: Run) -> str:
    if r.all_s is not None:
        ours = f"{r.all_s:,.1f} s ({r.files_per_s:,.1f} files/s)"
    else:
        rate = f", {r.files_per_s:,.1f} files/s" if r.files_per_s else ""
        ours = f"{r.delivered:,} of {r.integrations:,} after {r.waited_s:,.0f} s{rate}"
    ratio = f"{r.ratio:.3f}" if r.ratio else "-"
    first = f"{r.first_s:.1f} s" if r.first_s is not None else "-"
    once = "yes" if not r.problems else f"NO: {r.problems[0]}" + (f" (+{len(r.problems) - 1})" * bool(r.problems[1:]))
    if r.all_s is None:  # timed out: the missing files are expected, a lead sent twice is not
        doubled = [p for p in r.problems if "more than one file" in p]
        once = "timed out" + (f"; NO: {doubled[0]}" if doubled else ", no lead sent twice")
    spread = f", {min(r.copy_runs):.2f}-{max(r.copy_runs):.2f} s" if len(r.copy_runs) > 1 else ""
    return (
        f"| {r.integrations:,} | {r.storage}:// | {r.workers}{f' (round {r.round})' if r.round > 1 else ''} | {ours} | {r.copy_s:.2f} s "
        f"({r.copy_files_per_s:,.0f} files/s{spread}) | {ratio} | {first} | {once} | {r.load[0]:.1f} |"
    )


def run(
    counts=(500, 2000, 10_000),
    workers=(1, 2, 4),
    storages=("file",),
    backend: str = "postgresql",
    leads: int = 200,
    timeout: float = 900,
    redis_url: str = common.REDIS_URL,
    out: Path | None = None,
    rebuild: bool = False,
    repeat: int = 1,
) -> list[Result]:
    """Every (N, storage, workers) run, `repeat` rounds of them; prints the Markdown table (and how
    throughput scales with the workers, round by round) and writes it to results/herd.md."""
    started = datetime.now(UTC)
    runs: list[Run] = []
    for count in counts:
        template = ensure_template(backend, count, leads, rebuild=rebuild)
        for storage in storages:
            for number in range(1, repeat + 1):
                for w in workers:
                    runs.append(run_one(backend, template, count, leads, w, storage, redis_url, timeout))
                    runs[-1].round = number
    from bench import report

    info = report.machine()
    md = "\n".join([TABLE_HEAD, *(table_row(r) for r in runs)])
    if len(set(workers)) > 1:
        md += "\n\n" + "\n".join(scaling(runs))
    md += (
        f"\n\n{info['date']} ({started:%H:%M}-{datetime.now(UTC):%H:%M} UTC), {backend}, {leads} leads per file, "
        f"{info['cores']} cores, load at the end {info['loadavg']}, commit {info['commit']}; "
        f"command: python -m bench.herd {' '.join(sys.argv[1:])}\n"
    )
    click.echo("\n" + md)
    common.write_json("herd.json", [{**r.__dict__, "files_per_s": r.files_per_s, "ratio": r.ratio} for r in runs])
    (common.RESULTS / "herd.md").write_text(md)
    if out:
        out.write_text(md)
    return [_result(r) for r in runs]


def scaling(runs: list[Run]) -> list[str]:
    """Per N and storage, files/s with W workers over files/s with the fewest, for each round.

    A ratio is taken within a round only: the machine's speed moves from one minute to the next
    (the COPY loop 274-840 files/s within one session), and the runs of a round are made minutes
    apart, so pairing runs of different rounds would measure the machine.
    """
    lines = []
    for n, storage in dict.fromkeys((r.integrations, r.storage) for r in runs):
        mine = [r for r in runs if (r.integrations, r.storage) == (n, storage)]
        fewest = min(r.workers for r in mine)
        rounds = {
            number: {r.workers: r for r in mine if r.round == number} for number in dict.fromkeys(r.round for r in mine)
        }
        for w in sorted({r.workers for r in mine} - {fewest}):
            ratios = [
                pair[w].files_per_s / pair[fewest].files_per_s
                for pair in rounds.values()
                if w in pair and fewest in pair and pair[w].files_per_s and pair[fewest].files_per_s
            ]
            if not ratios:
                continue
            each = ", ".join(f"{x:.2f}x" for x in ratios)
            median = f" (median {statistics.median(ratios):.2f}x)" if len(ratios) > 1 else ""
            lines.append(f"- {n:,} due, {storage}://: {w} workers / {fewest}: {each}{median}")
    return lines


def _result(r: Run) -> Result:
    return Result(
        f"herd {r.integrations:,} x 200 due, {r.workers} workers, {r.storage}:// (files/s)",
        r.backend,
        round(r.files_per_s, 1) if r.files_per_s else None,
        "files/s",
        baseline=round(r.copy_files_per_s, 1),
        baseline_name="one COPY per integration",
        bar=BARS if r.integrations == 10_000 and r.workers == 2 else "",
        passed=None if r.problems == [] else False,
        details={"first_s": r.first_s, "all_s": r.all_s, "delivered": r.delivered, "problems": r.problems[:20]},
    )


def _ints(value: str) -> list[int]:
    return [int(v.replace(",", "").replace("_", "")) for v in value.split(",") if v.strip()]


@click.command()
@click.option("--integrations", "counts", default="500,2000,10000", show_default=True, help="N, comma-separated")
@click.option("--workers", default="1,2,4", show_default=True, help="worker processes, comma-separated")
@click.option("--storage", default="file", show_default=True, help="file, s3 or file,s3 (s3: the tests' moto server)")
@click.option("--backend", type=click.Choice(["postgresql", "sqlite"]), default="postgresql", show_default=True)
@click.option("--leads", type=int, default=200, show_default=True, help="leads per integration")
@click.option("--timeout", type=float, default=900, show_default=True, help="seconds after the slot before giving up")
@click.option("--redis-url", default=common.REDIS_URL, show_default=True, help="its db is flushed before each run")
@click.option("--out", type=click.Path(path_type=Path), help="also write the Markdown table here")
@click.option("--rebuild", is_flag=True, help="rebuild the template databases")
@click.option("--prepare", is_flag=True, help="only build the missing template databases")
@click.option("--repeat", type=click.IntRange(1), default=1, show_default=True, help="rounds of every worker count")
def main(counts, workers, storage, backend, leads, timeout, redis_url, out, rebuild, prepare, repeat) -> None:
    """Run the herd benchmark and print its table."""
    storages = [s.strip() for s in storage.split(",") if s.strip()]
    if set(storages) - {"file", "s3"}:
        raise click.BadParameter("file and/or s3", param_hint="--storage")
    if prepare:
        for count in _ints(counts):
            ensure_template(backend, count, leads, rebuild=rebuild)
        return
    run(_ints(counts), _ints(workers), storages, backend, leads, timeout, redis_url, out, rebuild, repeat)


if __name__ == "__main__":
    main()
