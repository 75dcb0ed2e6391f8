"""`python -m bench.retention`: the daily retention job over many sent batches, beside a plain SQL
UPDATE of the same rows measured in the same run.

Generates N delivered batches of one enterprise, sent 40 days ago, each with a small stored
file, in its own database (PostgreSQL by default), then times:
  baseline  one UPDATE ... SET purged_at of exactly the rows the job purges (rolled back);
  job       app.services.retention.apply_all with a 30-day policy: every file deleted from the
            store and every row marked, in committed chunks of RETENTION_CHUNK rows.
"""

from __future__ import annotations

import os
import shutil
import time
from datetime import UTC, datetime, timedelta

import click
from sqlalchemy import insert, text

from bench.common import RESULTS, db_url, ensure_pg_database, make_app

DB_NAME = os.environ.get("BENCH_RETENTION_DB", "bm_bench_retention")
SQL_BASELINE = """
UPDATE sent_batches SET purged_at = :now, purge_reason = 'retention'
WHERE enterprise_id = :e AND status IN ('delivered', 'failed') AND storage_key IS NOT NULL
  AND purged_at IS NULL AND coalesce(sent_at, stored_at) < :cutoff
"""


def _generate(n: int, files: str) -> int:
    from app.extensions import db
    from app.models import Advertiser, BatchCsvIntegration, Campaign, Enterprise, SentBatch

    ent = Enterprise(name="Retention bench")
    db.session.add(ent)
    db.session.flush()
    adv = Advertiser(enterprise_id=ent.id, name="Adv")
    db.session.add(adv)
    db.session.flush()
    camp = Campaign(enterprise_id=ent.id, advertiser_id=adv.id, name="Camp")
    db.session.add(camp)
    db.session.flush()
    integ = BatchCsvIntegration(enterprise_id=ent.id, campaign_id=camp.id, label="Feed", delivery_method="local")
    db.session.add(integ)
    db.session.commit()
    sent = datetime.now(UTC) - timedelta(days=40)
    body = b"external_id,email\r\nx-1,someone@example.com\r\n"
    for start in range(1, n + 1, 10_000):
        rows = []
        for i in range(start, min(start + 10_000, n + 1)):
            key = f"e{ent.id}/b{i}/file.csv"
            os.makedirs(f"{files}/e{ent.id}/b{i}", exist_ok=True)
            with open(f"{files}/{key}", "wb") as fh:
                fh.write(body)
            rows.append(
                dict(
                    id=i,
                    enterprise_id=ent.id,
                    integration_id=integ.id,
                    advertiser_id=adv.id,
                    advertiser_name="Adv",
                    campaign_id=camp.id,
                    campaign_name="Camp",
                    label="Feed",
                    field_mapping=[],
                    file_settings={},
                    delivery_method="local",
                    lead_count=1,
                    row_count=1,
                    trigger="schedule",
                    triggered_by="scheduler",
                    status="delivered",
                    attempts=1,
                    file_name="f.csv",
                    storage_key=key,
                    size_bytes=len(body),
                    sha256="0" * 64,
                    created_at=sent,
                    updated_at=sent,
                    stored_at=sent,
                    sent_at=sent,
                )
            )
        db.session.execute(insert(SentBatch), rows)
        db.session.commit()
    if db.engine.dialect.name == "postgresql":
        db.session.execute(text("SELECT setval('sent_batches_id_seq', :n)"), {"n": n})
        db.session.commit()
        with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
            conn.execute(text("ANALYZE sent_batches"))
    return ent.id


@click.command()
@click.option("--batches", type=int, default=200_000, show_default=True)
@click.option("--backend", type=click.Choice(["postgresql", "sqlite"]), default="postgresql", show_default=True)
@click.option("--chunk", type=int, default=500, show_default=True)
def main(batches: int, backend: str, chunk: int) -> None:
    """Generate, then time the SQL baseline and the retention job; print one line each."""
    from flask_migrate import upgrade

    from app.extensions import db
    from app.models import Enterprise
    from app.services import retention

    files = str(RESULTS / "retention-files")
    shutil.rmtree(files, ignore_errors=True)
    if backend == "postgresql":
        ensure_pg_database(DB_NAME, drop=True)
    else:
        (RESULTS / f"{DB_NAME}.sqlite").unlink(missing_ok=True)
    app = make_app(db_url(backend, DB_NAME), STORAGE_URL=f"file://{files}", RETENTION_CHUNK=chunk)
    with app.app_context():
        upgrade()
        t0 = time.monotonic()
        ent_id = _generate(batches, files)
        print(f"generated {batches} delivered batches with files in {time.monotonic() - t0:.1f} s")
        now = datetime.now(UTC)
        params = {"now": now, "e": ent_id, "cutoff": now - timedelta(days=30)}
        t0 = time.monotonic()
        updated = db.session.execute(text(SQL_BASELINE), params).rowcount
        baseline = time.monotonic() - t0
        db.session.rollback()
        db.session.get(Enterprise, ent_id).retention_file_days = 30
        db.session.commit()
        load = os.getloadavg()
        t0 = time.monotonic()
        [counts] = retention.apply_all(now=now)
        job = time.monotonic() - t0
        left = sum(1 for _ in os.scandir(f"{files}/e{ent_id}") if any(os.scandir(_.path)))
    print(f"backend {backend}, {batches} batches, chunk {chunk}, load average before the job {load}")
    print(
        f"baseline SQL UPDATE: {updated} rows in {baseline:.2f} s ({updated / baseline:,.0f} rows/s), no file touched"
    )
    print(
        f"retention job: {counts.files_purged} files purged in {job:.2f} s ({counts.files_purged / job:,.0f} files/s), "
        f"{counts.chunks} chunks committed; {left} files left in the store"
    )


if __name__ == "__main__":
    main()
