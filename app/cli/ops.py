"""Operations: `flask --app wsgi rq worker|cron` (the Procfile's processes) and `flask ops ...`.

The worker and the cron scheduler run as Flask CLI commands so the app is built once
per process and every job runs inside its app context.
"""

from __future__ import annotations

import json

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

rq_group = AppGroup("rq", help="RQ worker and scheduler processes.")
ops_group = AppGroup("ops", help="Scheduler tick, reconciler and sends by hand.")


@rq_group.command("worker")
@click.argument("queues", nargs=-1)
@click.option("--burst", is_flag=True, help="Stop when the queues are empty.")
@click.option(
    "--with-scheduler/--without-scheduler",
    default=True,
    show_default=True,
    help="Also move due retries (RQ scheduled jobs) onto their queues.",
)
@click.option("--simple", is_flag=True, help="Run jobs in this one process (no pool, no restart; debugging).")
@click.option(
    "--processes",
    type=click.IntRange(1, 64),
    default=None,
    help="WORKER_MODE=simple: long-lived worker processes to keep (default: WORKER_PROCESSES).",
)
def worker(queues: tuple[str, ...], burst: bool, with_scheduler: bool, simple: bool, processes: int | None) -> None:
    """Process jobs from QUEUES (default: tick, alerts, send) as WORKER_MODE says (simple or fork)."""
    from jobs.worker import AppWorkerPool, make_worker

    app = current_app._get_current_object()  # type: ignore[attr-defined]
    level = app.config.get("LOG_LEVEL", "INFO")
    if simple or app.config["WORKER_MODE"] == "fork":
        w = make_worker(app, queues or None, simple=simple)
        w.work(burst=burst, with_scheduler=with_scheduler, logging_level=level)
        return
    count = processes or int(app.config["WORKER_PROCESSES"])
    AppWorkerPool(app, queues or None, count, with_scheduler).start(burst=burst, logging_level=level)


@rq_group.command("cron")
def cron() -> None:
    """Enqueue the scheduler tick every minute (RQ's CronScheduler; safe if two run)."""
    from app.redis_conn import get_redis
    from jobs.tick import build_cron_scheduler

    config = current_app.config
    build_cron_scheduler(
        get_redis(), config.get("LOG_LEVEL", "INFO"), reconcile_every=int(config["RECONCILE_INTERVAL_SECONDS"])
    ).start()


@ops_group.command("tick")
@with_appcontext
def tick_now() -> None:
    """Run one scheduler tick in this process and print what it did."""
    from app.services.ticks import run_tick

    click.echo(json.dumps(run_tick()))


@ops_group.command("reconcile")
@with_appcontext
def reconcile_now() -> None:
    """Re-enqueue in-flight batches no live job works on (expired lease, or a lost job)."""
    from app.services.ticks import reconcile_stuck

    ids = reconcile_stuck()
    click.echo(f"re-enqueued {len(ids)} stuck batches" + (f": {ids}" if ids else ""))


@ops_group.command("send")
@click.argument("integration_id", type=int)
@with_appcontext
def send_now(integration_id: int) -> None:
    """Claim an integration's pending leads now (as the scheduler would) and queue the files."""
    from app.errors import DomainError
    from app.models import Trigger
    from app.services.actors import SYSTEM
    from app.services.sending import send_integration

    try:
        outcomes = send_integration(integration_id, Trigger.SCHEDULE.value, SYSTEM)
    except DomainError as exc:
        raise click.ClickException(exc.message) from None
    for o in outcomes:
        click.echo(json.dumps(o.to_dict()))


@ops_group.command("process")
@click.argument("batch_id", type=int)
@with_appcontext
def process_now(batch_id: int) -> None:
    """Build, store and deliver one file in this process (no retries) and print its status."""
    from app.services.pipeline import process_batch

    click.echo(process_batch(batch_id))


GROUPS = [rq_group, ops_group]
