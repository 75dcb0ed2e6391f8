"""Send path: our claim + build + store of the hot integration's batch (1,000,000 leads at
full scale) beside `COPY (SELECT ...) TO STDOUT WITH CSV` over the same rows, a naive ORM
loop and Flask-Admin's built-in CSV export.

Each contender runs in its own child process (`python -m bench.send_path child KIND`),
so its peak RSS growth is its own. Order: COPY reads the pending rows; ours claims them
into a batch and builds, stores (and delivers, locally) its file; the naive loop and the
export read the same rows; then the rows are put back to pending for the next run.
"""

from __future__ import annotations

import contextlib
import csv
import gc
import json
import subprocess
import sys
import time

import click
from sqlalchemy import text

from bench import common
from bench.common import Result

RSS_BAR_MB = 100
RATIO_BAR = 0.5


def run(
    meta: dict, backend: str = "postgresql", *, export_cap: int = 100_000, naive_cap: int = 250_000
) -> list[Result]:
    url = meta["url"]
    hot = meta["hot_integration_id"]
    restore(url, hot)
    copy = _child("copy", url, hot)
    ours = _child("ours", url, hot)
    batch_id = ours["batch_id"]
    naive = _child("naive", url, hot, batch_id, naive_cap)
    export = _child("export", url, hot, batch_id, export_cap)
    restore(url, hot)
    ratio = ours["rows_per_s"] / copy["rows_per_s"]
    build_s = ours["claim_build_store_s"] - ours["claim_s"]
    rss_mb = ours["rss_growth"] / 2**20
    details = {"copy": copy, "ours": ours, "naive": naive, "flask_admin_export": export}
    common.write_json(f"send_path-{backend}.json", details)
    return [
        Result(
            "send path: claim+build+store (rows/s)",
            backend,
            round(ours["rows_per_s"]),
            "rows/s",
            baseline=round(copy["rows_per_s"]),
            baseline_name="COPY TO STDOUT CSV",
            bar=f"ours/COPY >= {RATIO_BAR}",
            passed=ratio >= RATIO_BAR,
            details={
                "rows": ours["rows"],
                "seconds": ours["seconds"],
                "claim_s": ours["claim_s"],
                "copy_seconds": copy["seconds"],
            },
        ),
        Result(
            "send path: build+store only, claim excluded (rows/s)",
            backend,
            round(ours["rows"] / build_s),
            "rows/s",
            baseline=round(copy["rows_per_s"]),
            baseline_name="COPY TO STDOUT CSV",
            details={"claim_s": ours["claim_s"], "build_store_s": round(build_s, 3)},
        ),
        Result(
            "send path: peak RSS growth (MB)",
            backend,
            round(rss_mb, 1),
            "MB",
            baseline=round(naive["rss_growth"] / 2**20, 1),
            baseline_name="naive ORM loop",
            bar=f"< {RSS_BAR_MB} MB",
            passed=rss_mb < RSS_BAR_MB,
            details={"rows": ours["rows"]},
        ),
        Result(
            "send path vs naive ORM loop (rows/s)",
            backend,
            round(ours["rows_per_s"]),
            "rows/s",
            baseline=round(naive["rows_per_s"]),
            baseline_name=f"naive ORM + csv.writer ({naive['rows']} rows)",
            details={"naive_seconds": naive["seconds"]},
        ),
        Result(
            "send path vs Flask-Admin CSV export (rows/s)",
            backend,
            round(ours["rows_per_s"]),
            "rows/s",
            baseline=round(export["rows_per_s"]),
            baseline_name=f"Flask-Admin export ({export['rows']} rows)",
            details={"export_seconds": export["seconds"], "export_rss_mb": round(export["rss_growth"] / 2**20, 1)},
        ),
    ]


def restore(url: str, integration_id: int) -> None:
    """Put the hot integration's leads back to pending and forget its sent batches."""
    app = common.make_app(url)
    with app.app_context():
        from app.extensions import db

        batches = db.session.execute(
            text("SELECT id, storage_key FROM sent_batches WHERE integration_id = :i"), {"i": integration_id}
        ).all()
        if batches:
            # The queue as it was before the first of these files claimed (their ranges start there).
            db.session.execute(
                text(
                    "UPDATE batch_integrations SET claimed_through = COALESCE((SELECT min(entries_after) "
                    "FROM sent_batches WHERE integration_id = :i), claimed_through) WHERE id = :i"
                ),
                {"i": integration_id},
            )
            db.session.execute(text("DELETE FROM sent_batches WHERE integration_id = :i"), {"i": integration_id})
            db.session.execute(
                text(
                    "UPDATE batch_integrations i SET pending_count = (SELECT count(*) FROM queue_entries q "
                    "WHERE q.integration_id = i.id AND q.id > i.claimed_through) WHERE i.id = :i"
                ),
                {"i": integration_id},
            )
            db.session.commit()
            _delete_files([key for _id, key in batches if key])
            if db.engine.dialect.name == "postgresql":
                import psycopg

                with psycopg.connect(common.psycopg_url(url), autocommit=True) as conn:
                    conn.execute("VACUUM ANALYZE queue_entries, sent_batches, batch_integrations")
        db.session.remove()
        db.engine.dispose()


def _delete_files(keys: list[str]) -> None:
    from app.services.storage import get_store

    store = get_store()
    for key in keys:
        with contextlib.suppress(ValueError):  # not a key our store made: nothing on disk
            store.delete(key)


def _child(kind: str, url: str, *args) -> dict:
    click.echo(f"[send_path] {kind} ...", err=True)
    proc = subprocess.run(
        [sys.executable, "-m", "bench.send_path", kind, url, *map(str, args)],
        cwd=common.ROOT,
        stdout=subprocess.PIPE,
        text=True,
        check=True,
    )
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    click.echo(f"[send_path] {kind}: {result['rows']} rows in {result['seconds']:.2f}s", err=True)
    return result


def _mapping(integration_id: int) -> list[dict]:
    from app.extensions import db
    from app.models import BatchCsvIntegration

    return list(db.session.get(BatchCsvIntegration, integration_id).fields)


def _measured(fn) -> dict:
    """Run fn() -> rows under the RSS sampler; rows, seconds, rows/s and RSS growth."""
    import resource

    gc.collect()
    with common.rss_sampler() as rss:
        start = time.perf_counter()
        extra = fn()
        seconds = time.perf_counter() - start
    rows = extra.pop("rows")
    return {
        "rows": rows,
        "seconds": round(seconds, 3),
        "rows_per_s": rows / seconds if seconds else 0.0,
        "rss_start": rss["start"],
        "rss_growth": rss["growth"],
        "ru_maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
        **extra,
    }


def child_ours(integration_id: int) -> dict:
    """Claim the pending leads into one batch, then build, store and deliver it."""
    from app.extensions import db
    from app.models import SentBatch, Trigger
    from app.models.types import utcnow
    from app.services import pipeline, sending
    from app.services.actors import SYSTEM

    _mapping(integration_id)  # warm the connection and the ORM before measuring
    db.session.remove()
    state: dict = {}

    def go() -> dict:
        state["t0"] = utcnow()
        outcomes = sending.send_integration(integration_id, Trigger.SCHEDULE.value, SYSTEM)
        state["claimed"] = utcnow()
        batch_id = outcomes[0].batch_id
        status = pipeline.process_batch(batch_id)
        batch = db.session.get(SentBatch, batch_id)
        return {
            "rows": batch.row_count or 0,
            "batch_id": batch_id,
            "status": status,
            "size_bytes": batch.size_bytes,
            "claim_s": (state["claimed"] - state["t0"]).total_seconds(),
            "claim_build_store_s": (batch.stored_at - state["t0"]).total_seconds(),
            "deliver_s": (batch.sent_at - batch.stored_at).total_seconds() if batch.sent_at else None,
        }

    result = _measured(go)
    # The bar is claim + build + store; delivery (a local copy here) is reported beside it.
    result["seconds"] = round(result["claim_build_store_s"], 3)
    result["rows_per_s"] = result["rows"] / result["claim_build_store_s"]
    return result


def copy_sql(integration_id: int, claimed_through: int, mapping: list[dict]) -> str:
    """COPY of the same rows and columns the file holds, in queue order.

    The pending ids' bound is a literal, as in the file builder's COPY: behind a subquery the
    planner guessed a third of the table and chose a slower plan (COPY 3.6-5.1 s against 2.3-3.2 s).
    """
    meta = {"lead.id": "l.id", "lead.externalId": "l.external_id", "lead.createdAt": "l.created_at"}
    meta |= {"lead.status": "l.status"}
    cols = []
    for m in mapping:
        src = m["source"]
        cols.append(meta.get(src) or f"l.fields->>'{src.replace(chr(39), '')}'")
    return (
        f"COPY (SELECT {', '.join(cols)} FROM queue_entries q JOIN leads l ON l.id = q.lead_id "
        f"WHERE q.integration_id = {int(integration_id)} AND q.id > {int(claimed_through)} ORDER BY q.id) "
        "TO STDOUT WITH (FORMAT csv, HEADER true)"
    )


def child_copy(url: str, integration_id: int) -> dict:
    import os

    import psycopg

    path = common.RESULTS / "copy-baseline.csv"
    mapping = _mapping(integration_id)

    def go() -> dict:
        lines = 0
        with psycopg.connect(common.psycopg_url(url)) as conn, open(path, "wb") as out:
            claimed_through = conn.execute(
                "SELECT claimed_through FROM batch_integrations WHERE id = %s", (integration_id,)
            ).fetchone()[0]
            sql = copy_sql(integration_id, claimed_through, mapping)
            with conn.cursor().copy(sql) as copy:
                for block in copy:
                    lines += bytes(block).count(b"\n")
                    out.write(block)
            out.flush()
            os.fsync(out.fileno())
        # Newlines inside quoted values would overcount; the generator writes none.
        return {"rows": lines - 1, "size_bytes": path.stat().st_size}

    result = _measured(go)
    path.unlink()
    return result


def child_naive(batch_id: int, cap: int) -> dict:
    """What one writes first: load every Lead object, then csv.writer."""
    from sqlalchemy import select

    from app.extensions import db
    from app.models import Lead, QueueEntry, SentBatch
    from app.services import queue_files

    batch = db.session.get(SentBatch, batch_id)
    mapping = batch.field_mapping
    path = common.RESULTS / "naive-baseline.csv"

    def go() -> dict:
        query = (
            select(Lead)
            .join(QueueEntry, QueueEntry.lead_id == Lead.id)
            .where(queue_files.in_file(batch))
            .order_by(QueueEntry.id)
        )
        if cap:
            query = query.limit(cap)
        leads = db.session.scalars(query).all()
        with open(path, "w", newline="", encoding="utf-8") as out:
            writer = csv.writer(out)
            writer.writerow([m["header"] for m in mapping])
            for lead in leads:
                writer.writerow([_naive_value(lead, m["source"]) for m in mapping])
        return {"rows": len(leads)}

    result = _measured(go)
    path.unlink()
    return result


def _naive_value(lead, source: str):
    if source == "lead.id":
        return lead.id
    if source == "lead.externalId":
        return lead.external_id
    if source == "lead.createdAt":
        return lead.created_at.isoformat()
    return lead.fields.get(source, "")


def child_export(cap: int, app) -> dict:
    """Flask-Admin's built-in CSV export of the Lead table, capped at `cap` rows."""
    from bench import baseline

    urls = baseline.register(app, export_max_rows=cap)
    client = app.test_client()

    def go() -> dict:
        response = client.get(f"{urls['leads']}/export/csv/")
        body = response.get_data()
        if response.status_code != 200:
            raise RuntimeError(f"export answered {response.status_code}")
        return {"rows": body.count(b"\n") - 1, "size_bytes": len(body)}

    return _measured(go)


@click.command()
@click.argument("kind", type=click.Choice(["ours", "copy", "naive", "export"]))
@click.argument("url")
@click.argument("integration_id", type=int)
@click.argument("extra", nargs=-1, type=int)
def child(kind: str, url: str, integration_id: int, extra: tuple[int, ...]) -> None:
    """One contender in a fresh process; prints its result as one JSON line."""
    app = common.make_app(url)
    with app.app_context():
        if kind == "ours":
            result = child_ours(integration_id)
        elif kind == "copy":
            result = child_copy(url, integration_id)
        elif kind == "naive":
            result = child_naive(extra[0], extra[1])
        else:
            result = child_export(extra[1], app)
    print(json.dumps(result, default=str))


if __name__ == "__main__":
    child()
