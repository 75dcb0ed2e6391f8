"""The herd benchmark's data, its COPY baseline and its exactly-once check.

N campaigns with one integration each ("daily at 06:00", local delivery into its own
folder `herd/<index>`) and 200 leads each, made through the real services
(`create_integration`, `ingest_leads`) so the rows are whatever the engine of the day
writes. The check reads only what any engine must leave behind: one delivered
SentBatch per integration and, on disk, every lead in exactly one file, in its
integration's folder. Nothing here depends on job names or queue layout.
"""

from __future__ import annotations

import csv
import os
import sqlite3
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import bindparam, text
from sqlalchemy.engine import Connection

ENTERPRISE = "herd enterprise"
FIELDS = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "lead.externalId", "header": "External ID"},
    {"source": "email", "header": "Email"},
    {"source": "first_name", "header": "First Name"},
]
COMMIT_EVERY = 100  # campaigns per intake transaction while populating


def external_id(index: int, lead: int) -> str:
    return f"h{index}-{lead}"


def populate(count: int, leads: int) -> int:
    """Create `count` integrations x `leads` leads in the app's database; returns the enterprise id."""
    from app.extensions import db
    from app.models import Advertiser, Campaign
    from app.services import accounts, integrations
    from app.services.actors import SYSTEM
    from app.services.intake import ingest_leads

    user = accounts.create_user("herd-admin@bench.example.com", "admin", ENTERPRISE, "herd-password-123")
    enterprise_id = user.enterprise_id
    adv = Advertiser(enterprise_id=enterprise_id, name="herd advertiser")
    db.session.add(adv)
    db.session.flush()
    camps = [Campaign(enterprise_id=enterprise_id, advertiser_id=adv.id, name=f"herd {i}") for i in range(count)]
    db.session.add_all(camps)
    db.session.commit()
    camp_ids = [c.id for c in camps]
    del camps
    for index, camp_id in enumerate(camp_ids):
        payload = {
            "campaignId": camp_id,
            "label": f"herd {index}",
            "schedule": {"cron": "0 6 * * *", "timezone": "UTC"},
            "fields": FIELDS,
            "delivery": {"method": "local", "directory": f"herd/{index}"},
        }
        integrations.create_integration(enterprise_id, payload, SYSTEM)
        # Every commit expires the whole identity map: keep it small or setup grows as N^2.
        db.session.expunge_all()
    for index, camp_id in enumerate(camp_ids):
        rows = [
            {
                "externalId": external_id(index, j),
                "status": "valid",
                "fields": {"email": f"p{j}.{index}@example.com", "first_name": f"Person {j}"},
            }
            for j in range(leads)
        ]
        ingest_leads(db.session.get(Campaign, camp_id), rows, commit=False)
        if index % COMMIT_EVERY == COMMIT_EVERY - 1:
            db.session.commit()
            db.session.expunge_all()
    db.session.commit()
    db.session.remove()
    return enterprise_id


def populate_fast(count: int, leads: int) -> int:
    """PostgreSQL: the first integration and its leads through the services (populate), the
    other count - 1 copied from them set-based; returns the enterprise id.

    Each copy takes every column of its prototype row (so columns an engine adds come
    along with the values its own code wrote) and overrides only what differs: the
    campaign's name, the integration's campaign, label and folder, the lead's campaign,
    external id, fields and email key, the queue entry's integration and lead. Ids are
    allocated in the order intake would: campaign by campaign, lead by lead.
    """
    from app.extensions import db

    enterprise_id = populate(1, leads)
    if count == 1:
        return enterprise_id
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TEMP TABLE herd_g AS SELECT g FROM generate_series(1, :n) g"), {"n": count - 1})
        proto_campaign, proto_integration = conn.execute(text("SELECT campaign_id, id FROM batch_integrations")).one()
        _copy(
            conn,
            "campaigns",
            {"name": "'herd ' || g.g"},
            f"FROM campaigns p, herd_g g WHERE p.id = {proto_campaign} ORDER BY g.g",
        )
        conn.execute(
            text(
                "CREATE TEMP TABLE herd_c AS SELECT g.g, c.id FROM herd_g g JOIN campaigns c ON c.name = 'herd ' || g.g"
            )
        )
        _copy(
            conn,
            "batch_integrations",
            {
                "campaign_id": "c.id",
                "label": "'herd ' || c.g",
                "delivery": "jsonb_set(p.delivery, '{directory}', to_jsonb('herd/' || c.g))",
            },
            f"FROM batch_integrations p, herd_c c WHERE p.id = {proto_integration} ORDER BY c.g",
        )
        email = "'p' || split_part(p.external_id, '-', 2) || '.' || c.g || '@example.com'"
        _copy(
            conn,
            "leads",
            {
                "campaign_id": "c.id",
                "external_id": "'h' || c.g || '-' || split_part(p.external_id, '-', 2)",
                "fields": f"jsonb_set(p.fields, '{{email}}', to_jsonb({email}))",
                "email_key": email,
            },
            f"FROM leads p, herd_c c WHERE p.campaign_id = {proto_campaign} ORDER BY c.g, p.id",
        )
        _copy(
            conn,
            "queue_entries",
            {"integration_id": "i.id", "lead_id": "l.id"},
            "FROM batch_integrations i JOIN leads l ON l.campaign_id = i.campaign_id,"
            f" (SELECT * FROM queue_entries WHERE integration_id = {proto_integration} LIMIT 1) p"
            f" WHERE i.id <> {proto_integration} ORDER BY i.id, l.id",
        )
        conn.execute(text("ANALYZE"))
    return enterprise_id


def _copy(conn: Connection, table: str, overrides: dict[str, str], source: str) -> None:
    columns = [
        name
        for (name,) in conn.execute(
            text(
                "SELECT column_name FROM information_schema.columns WHERE table_name = :t AND column_name <> 'id'"
                " ORDER BY ordinal_position"
            ),
            {"t": table},
        )
    ]
    values = ", ".join(overrides.get(c, f"p.{c}") for c in columns)
    conn.execute(text(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {values} {source}"))


def disarm(conn: Connection) -> None:
    """Move every integration's next run far out, so no tick sends anything until arm()."""
    from app.models.types import UtcDateTime

    stmt = text("UPDATE batch_integrations SET next_run_at = :later").bindparams(bindparam("later", type_=UtcDateTime))
    conn.execute(stmt, {"later": datetime(2999, 1, 1, tzinfo=UTC)})
    conn.commit()


def arm(conn: Connection, slot: datetime) -> int:
    """Make every integration "daily at HH:MM" (UTC) with its next run at `slot`; returns how many."""
    from app.models.types import UtcDateTime

    stmt = text("UPDATE batch_integrations SET schedule_cron = :cron, timezone = 'UTC', next_run_at = :slot")
    # The column's own type, so SQLite gets the text format the app compares against.
    stmt = stmt.bindparams(bindparam("slot", type_=UtcDateTime))
    done = conn.execute(stmt, {"cron": f"{slot.minute} {slot.hour} * * *", "slot": slot}).rowcount
    conn.commit()
    return done


def progress(conn: Connection) -> dict:
    """Delivered and failed SentBatch rows so far, and the first and last delivery time."""
    row = conn.execute(
        text(
            "SELECT COUNT(*), SUM(CASE WHEN status = 'delivered' THEN 1 ELSE 0 END),"
            " SUM(CASE WHEN status = 'failed' THEN 1 ELSE 0 END),"
            " MIN(sent_at), MAX(sent_at) FROM sent_batches"
        )
    ).one()
    conn.rollback()  # a fresh snapshot on the next read
    return {
        "batches": row[0] or 0,
        "delivered": row[1] or 0,
        "failed": row[2] or 0,
        "first_sent": _aware(row[3]),
        "last_sent": _aware(row[4]),
    }


def _aware(value):
    from datetime import UTC

    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def integration_ids(conn: Connection) -> list[tuple[int, int]]:
    """(integration id, campaign id) of every integration, in id order."""
    rows = conn.execute(text("SELECT id, campaign_id FROM batch_integrations ORDER BY id")).all()
    conn.rollback()
    return [(r[0], r[1]) for r in rows]


def copy_loop(database_url: str, pairs: list[tuple[int, int]], out_dir: Path) -> float:
    """The baseline: one `COPY (SELECT ...) TO STDOUT WITH CSV` per integration into its own
    file (fsynced), sequentially on one connection; returns the seconds it took.

    The same columns as the files (lead id, external id, email, first name). The rows are
    the campaign's leads, which here are exactly the integration's queue (one integration
    per campaign), so the query does not depend on how an engine keeps its queue.
    On SQLite (no COPY) the same loop is sqlite3 + csv.writer.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    if database_url.startswith("sqlite"):
        conn = sqlite3.connect(database_url.removeprefix("sqlite:///"))
        sql = (
            "SELECT id, external_id, json_extract(fields, '$.email'), json_extract(fields, '$.first_name')"
            " FROM leads WHERE campaign_id = ? ORDER BY id"
        )
        try:
            for integration_id, campaign_id in pairs:
                with open(out_dir / f"{integration_id}.csv", "w", newline="") as out:
                    writer = csv.writer(out)
                    writer.writerow([f["header"] for f in FIELDS])
                    writer.writerows(conn.execute(sql, (campaign_id,)))
                    out.flush()
                    os.fsync(out.fileno())
        finally:
            conn.close()
        return time.perf_counter() - started
    import psycopg

    with psycopg.connect(database_url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        for integration_id, campaign_id in pairs:
            sql = (
                "COPY (SELECT l.id, l.external_id, l.fields->>'email', l.fields->>'first_name' FROM leads l"
                f" WHERE l.campaign_id = {int(campaign_id)} ORDER BY l.id) TO STDOUT WITH (FORMAT csv, HEADER true)"
            )
            with open(out_dir / f"{integration_id}.csv", "wb") as out:
                with conn.cursor().copy(sql) as copy:
                    for block in copy:
                        out.write(block)
                out.flush()
                os.fsync(out.fileno())
    return time.perf_counter() - started


def verify(conn: Connection, outbox: Path, count: int, leads: int) -> list[str]:
    """Every integration delivered exactly once, every lead in exactly one file on disk; the problems found."""
    problems: list[str] = []
    rows = conn.execute(
        text(
            "SELECT i.id, i.label, COUNT(b.id), SUM(CASE WHEN b.status = 'delivered' THEN 1 ELSE 0 END),"
            " SUM(b.lead_count) FROM batch_integrations i LEFT JOIN sent_batches b ON b.integration_id = i.id"
            " GROUP BY i.id, i.label"
        )
    ).all()
    conn.rollback()
    if len(rows) != count:
        problems.append(f"{len(rows)} integrations, expected {count}")
    for integration_id, label, batches, delivered, lead_count in rows:
        if batches != 1 or delivered != 1 or lead_count != leads:
            problems.append(
                f"integration {integration_id} ({label}): {batches} batches, {delivered or 0} delivered, "
                f"{lead_count or 0} leads (expected 1, 1, {leads})"
            )
    seen: Counter[str] = Counter()
    files = [p for p in outbox.rglob("*") if p.is_file()] if outbox.exists() else []
    if len(files) != count:
        problems.append(f"{len(files)} files on disk, expected {count}")
    for path in files:
        index = path.parent.name
        with open(path, newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            ids = [row["External ID"] for row in reader]
        if len(ids) != leads:
            problems.append(f"{path.relative_to(outbox)}: {len(ids)} leads, expected {leads}")
        strays = [i for i in ids if not i.startswith(f"h{index}-")]
        if strays:
            problems.append(f"{path.relative_to(outbox)}: leads of another integration ({strays[0]}, ...)")
        seen.update(ids)
    expected = {external_id(i, j) for i in range(count) for j in range(leads)}
    missing = expected - set(seen)
    twice = [lead for lead, times in seen.items() if times > 1]
    if missing:
        problems.append(f"{len(missing)} leads in no file (e.g. {sorted(missing)[0]})")
    if twice:
        problems.append(f"{len(twice)} leads in more than one file (e.g. {twice[0]})")
    return problems
