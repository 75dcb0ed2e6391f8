"""Bench data at the scale of DESIGN.md: 10,000 integrations, 2,000,000 pending leads,
200,000 sent batches (times `--scale`), in a dedicated database, reused across runs.

The schema comes from the real migrations. Rows are bulk loaded (COPY on PostgreSQL,
executemany in big transactions on SQLite) with the secondary indexes dropped and
rebuilt afterwards, which is how one would restore a production dump. One integration
("the hot one") holds half the pending leads: it is the 1,000,000-lead batch of the
send-path benchmark. A `bench_meta` row records the scale, the generator version and
a hash of the migrations, so a second run at the same scale skips generation; data
generated at an earlier revision is brought forward by the real migrations (`flask db upgrade`).
"""

from __future__ import annotations

import hashlib
import json
import math
import random
import sys
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
from sqlalchemy import Connection, Table, text
from sqlalchemy.schema import CreateIndex, DropIndex

from app.services.lead_keys import keys_of
from bench import common

GENERATOR_VERSION = 3
FULL = {"integrations": 10_000, "pending": 2_000_000, "sent": 200_000}
CHUNK = 20_000
# Enterprise A (the one the benchmarks log into) holds this share; B proves scoping.
SHARE_A = 0.9

ADVERTISER_WORDS = [
    "Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Wonka", "Hooli", "Vandelay", "Soylent",
    "Cyberdyne", "Tyrell", "Aperture", "Massive", "Oscorp", "Duff", "Gringotts", "Monarch", "Nakatomi", "Piper",
]  # fmt: skip
ADVERTISER_KINDS = ["Media", "Insurance", "Solar", "Finance", "Health", "Travel", "Auto", "Education"]
CAMPAIGN_TOPICS = ["Solar Leads", "Home Insurance", "Car Loans", "Mortgage", "Health Plans", "Travel Deals", "MBA"]
SEASONS = ["Spring", "Summer", "Autumn", "Winter"]
PARTNERS = ["North", "South", "Atlas", "Zenith", "Orbit", "Delta", "Nova", "Apex", "Summit", "Harbor"]
FREQUENCIES = ["daily", "hourly", "weekly", "morning", "evening"]
CRONS = ["0 6 * * *", "*/15 * * * *", "0 * * * *", "30 8 * * 1-5", "0 0 * * 0"]
ZONES = ["UTC", "Europe/London", "America/New_York", "Europe/Berlin", "Asia/Tokyo"]
FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farid", "Grace", "Hiro", "Inès", "Jon", "Kemal", "Lena"]
LAST = ["Smith", "O'Brien", "Müller", "García", "Nguyen", "Kowalski", "Dubois", "Rossi", "Tanaka", "Okafor"]
COMPANIES = ["Smith, Jones & Co", "Blue Sky Ltd", 'The "Best" Shop', "Müller GmbH", "=SUM(A1:A9)", "Solo"]
CITIES = ["London", "Paris", "Berlin", "New York", "Tokyo", "Lagos", "São Paulo"]
HOT_FIELDS = [
    {"source": "lead.id", "header": "Lead ID"},
    {"source": "lead.externalId", "header": "External ID"},
    {"source": "lead.createdAt", "header": "Created At"},
    {"source": "email", "header": "Email"},
    {"source": "first_name", "header": "First Name"},
    {"source": "last_name", "header": "Last Name"},
    {"source": "phone", "header": "Phone"},
    {"source": "company", "header": "Company"},
    {"source": "city", "header": "City"},
    {"source": "country", "header": "Country"},
    {"source": "zip", "header": "ZIP"},
]
SMALL_FIELDS = HOT_FIELDS[:2] + HOT_FIELDS[3:6]


@dataclass(frozen=True)
class Scale:
    factor: float
    integrations: int
    pending: int
    sent: int

    @classmethod
    def of(cls, factor: float) -> Scale:
        return cls(
            factor=factor,
            integrations=max(20, round(FULL["integrations"] * factor)),
            pending=max(2_000, round(FULL["pending"] * factor)),
            sent=max(200, round(FULL["sent"] * factor)),
        )

    @property
    def hot(self) -> int:
        """Pending leads of the hot integration: the send benchmark's batch."""
        return self.pending // 2


def schema_hash() -> str:
    digest = hashlib.sha256(str(GENERATOR_VERSION).encode())
    for path in sorted((common.ROOT / "migrations" / "versions").glob("*.py")):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure(backend: str, factor: float, *, force: bool = False) -> dict:
    """The bench database of `backend` at `factor`, generated unless already there; its meta."""
    from app.extensions import db

    name = common.data_db_name(factor)
    url = common.db_url(backend, name)
    if backend == "postgresql":
        common.ensure_pg_database(name)
    scale = Scale.of(factor)
    app = common.make_app(url)
    with app.app_context():
        meta = read_meta()
        same_scale = bool(meta) and meta.get("scale") == asdict(scale)
        if not force and same_scale and (meta.get("schema") == schema_hash() or _upgrade_in_place(meta)):
            click.echo(f"[generate] {backend}: data at scale {factor} already there ({name}), reused", err=True)
        else:
            reset_schema(backend)
            meta = _generate(scale)
        db.session.remove()
        db.engine.dispose()
    return meta | {"url": url, "backend": backend}


def read_meta() -> dict | None:
    from app.extensions import db

    with db.engine.connect() as conn:
        if "bench_meta" not in db.inspect(conn).get_table_names():
            return None
        row = conn.execute(text("SELECT v FROM bench_meta WHERE k = 'meta'")).first()
    return json.loads(row[0]) if row else None


def _upgrade_in_place(meta: dict) -> bool:
    """Bring data generated at an earlier revision to head with the real migrations, as a
    production upgrade does, and keep it; False when the result still differs from the models
    (data generated before the first release's schema was frozen), which regenerates.
    """
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext
    from alembic.script import ScriptDirectory
    from flask_migrate import upgrade

    from app.extensions import db

    with db.engine.connect() as conn:
        current = MigrationContext.configure(conn).get_current_revision()
    known = {script.revision for script in ScriptDirectory(str(common.ROOT / "migrations")).walk_revisions()}
    if current not in known:  # generated on a checkout with other revisions
        click.echo(f"[generate] the data is at revision {current}, unknown here", err=True)
        return False
    upgrade()
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), db.metadata)
    # The bench's own bench_meta table shows up as "remove_table"; it is not a model.
    diff = [d for d in diff if not (d[0] == "remove_table" and d[1].name == "bench_meta")]
    if diff:
        click.echo(f"[generate] the data's schema differs from the models after upgrading: {diff}", err=True)
        return False
    _analyze()
    with db.engine.begin() as conn:
        meta["schema"] = schema_hash()
        conn.execute(text("UPDATE bench_meta SET v = :v WHERE k = 'meta'"), {"v": json.dumps(meta)})
    return True


def reset_schema(backend: str) -> None:
    """An empty database, then the real migrations."""
    from flask_migrate import upgrade

    from app.extensions import db

    if backend == "postgresql":
        with db.engine.begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    else:
        db.engine.dispose()
        path = db.engine.url.database
        for suffix in ("", "-wal", "-shm"):
            with_suffix = Path(path + suffix)
            if with_suffix.exists():
                with_suffix.unlink()
    upgrade()


def _generate(scale: Scale) -> dict:
    from app.extensions import db
    from app.services import accounts

    click.echo(f"[generate] {db.engine.dialect.name}: scale {scale}", err=True)
    admin = accounts.create_user(common.ADMIN_EMAIL, "admin", "Bench Enterprise A", common.PASSWORD)
    accounts.create_user(common.MANAGER_EMAIL, "manager", "Bench Enterprise A", common.PASSWORD)
    other = accounts.create_user("bench-b@bench.example.com", "admin", "Bench Enterprise B", common.PASSWORD)
    plan = Plan(scale, admin.enterprise_id, other.enterprise_id, admin.id, admin.email)
    with db.engine.begin() as conn:
        loader = Loader(conn)
        loader.load("advertisers", plan.advertisers(), plan.n_adv)
        loader.load("campaigns", plan.campaigns(), plan.n_camp)
        loader.load("batch_integrations", plan.integrations(), scale.integrations)
        loader.load("leads", plan.leads(), scale.pending)
        loader.load("queue_entries", plan.queue_entries(), scale.pending)
        loader.load("sent_batches", plan.sent_batches(), scale.sent)
        loader.finish()
    meta = {
        "scale": asdict(scale),
        "schema": schema_hash(),
        "generated_at": datetime.now(UTC).isoformat(),
        "enterprise_a": admin.enterprise_id,
        "enterprise_b": other.enterprise_id,
        "hot_integration_id": 1,
        "hot_leads": scale.hot,
    }
    _analyze()
    with db.engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS bench_meta (k VARCHAR(50) PRIMARY KEY, v TEXT)"))
        conn.execute(text("DELETE FROM bench_meta"))
        conn.execute(text("INSERT INTO bench_meta (k, v) VALUES ('meta', :v)"), {"v": json.dumps(meta)})
    return meta


def _analyze() -> None:
    from app.extensions import db

    click.echo("[generate] analyze", err=True)
    # The app session's open transaction (create_user's objects refresh on first read) holds a
    # snapshot from before the load: VACUUM could then mark no page all-visible, and every
    # index-only scan of the benchmarks would visit the heap, as no autovacuumed table does.
    db.session.remove()
    if db.engine.dialect.name == "postgresql":
        import psycopg

        with psycopg.connect(common.psycopg_url(db.engine.url.render_as_string(False)), autocommit=True) as c:
            c.execute("VACUUM ANALYZE")
    else:
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))


class Loader:
    """Bulk loads rows into tables, dropping their secondary indexes until finish()."""

    def __init__(self, conn: Connection) -> None:
        from app.extensions import db

        self.conn = conn
        self.metadata = db.metadata
        self.pg = conn.dialect.name == "postgresql"
        self.dropped: list = []
        if self.pg:
            # Foreign keys are checked by triggers: the generator's ids are consistent by construction.
            conn.execute(text("SET session_replication_role = replica"))
        else:
            conn.exec_driver_sql("PRAGMA synchronous = OFF")

    def load(self, name: str, rows: Iterable[dict], total: int) -> None:
        table: Table = self.metadata.tables[name]
        for index in table.indexes:
            self.conn.execute(DropIndex(index, if_exists=True))
            self.dropped.append(index)
        rows = iter(rows)
        first = next(rows)
        columns = list(first)
        extras = _fill_defaults(table, columns)
        columns += list(extras)
        json_cols = {i for i, c in enumerate(columns) if type(table.c[c].type).__name__ in {"JSON", "JSONB"}}
        chain = _prepend(first, rows)
        with click.progressbar(length=total, label=f"  {name:<20}", file=sys.stderr) as bar:
            if self.pg:
                self._copy(name, columns, chain, extras, json_cols, bar)
            else:
                self._executemany(table, columns, chain, extras, bar)
        if self.pg:
            self.conn.execute(
                text(f"SELECT setval(pg_get_serial_sequence('{name}', 'id'), (SELECT max(id) FROM {name}))")
            )

    def _copy(self, name, columns, rows, extras, json_cols, bar) -> None:
        cursor = self.conn.connection.driver_connection.cursor()
        extra_values = tuple(extras.values())
        with cursor.copy(f"COPY {name} ({', '.join(columns)}) FROM STDIN") as copy:
            for n, row in enumerate(rows, 1):
                values = tuple(row.values()) + extra_values
                if json_cols:
                    values = tuple(json.dumps(v) if i in json_cols else v for i, v in enumerate(values))
                copy.write_row(values)
                if n % CHUNK == 0:
                    bar.update(CHUNK)
        bar.update(n % CHUNK)

    def _executemany(self, table, columns, rows, extras, bar) -> None:
        batch: list[dict] = []
        for row in rows:
            batch.append({**row, **extras})
            if len(batch) == CHUNK:
                self.conn.execute(table.insert(), batch)
                bar.update(len(batch))
                batch = []
        if batch:
            self.conn.execute(table.insert(), batch)
            bar.update(len(batch))

    def finish(self) -> None:
        click.echo(f"[generate] rebuilding {len(self.dropped)} indexes", err=True)
        for index in self.dropped:
            self.conn.execute(CreateIndex(index))
        if self.pg:
            self.conn.execute(text("SET session_replication_role = origin"))


def _prepend(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _fill_defaults(table: Table, columns: list[str]) -> dict:
    """Values for NOT NULL columns the generator does not know (added later by others)."""
    extras = {}
    for col in table.columns:
        if col.name in columns or col.nullable or col.server_default is not None or col.primary_key:
            continue
        default = col.default
        if default is None:
            raise RuntimeError(f"bench generator has no value for {table.name}.{col.name}")
        extras[col.name] = default.arg(None) if default.is_callable else default.arg
    return extras


class Plan:
    """Deterministic rows for one scale; ids are assigned here, from 1."""

    def __init__(self, scale: Scale, ent_a: int, ent_b: int, admin_id: int, admin_email: str) -> None:
        self.scale = scale
        self.ent_a, self.ent_b = ent_a, ent_b
        self.admin_id, self.admin_email = admin_id, admin_email
        self.n_camp = math.ceil(scale.integrations / 2)
        self.n_adv = math.ceil(self.n_camp / 5)
        self.split = math.ceil(self.n_adv * SHARE_A)
        self.now = datetime.now(UTC).replace(microsecond=0)
        self.rng = random.Random(42)
        self.pending = self._pending_counts()

    def enterprise_of_adv(self, adv: int) -> int:
        return self.ent_a if adv <= self.split else self.ent_b

    def adv_of_camp(self, camp: int) -> int:
        return (camp - 1) // 5 + 1

    def camp_of_int(self, integ: int) -> int:
        return (integ - 1) // 2 + 1

    def adv_name(self, adv: int) -> str:
        word = ADVERTISER_WORDS[adv % len(ADVERTISER_WORDS)]
        return f"{word} {ADVERTISER_KINDS[adv // len(ADVERTISER_WORDS) % len(ADVERTISER_KINDS)]} {adv}"

    def camp_name(self, camp: int) -> str:
        topic = CAMPAIGN_TOPICS[camp % len(CAMPAIGN_TOPICS)]
        return f"{topic} {SEASONS[camp // len(CAMPAIGN_TOPICS) % 4]} {2025 + camp % 2} #{camp}"

    def label(self, integ: int) -> str:
        if integ == 1:
            return "Hot feed (send benchmark)"
        return f"{PARTNERS[integ % len(PARTNERS)]} {FREQUENCIES[integ // len(PARTNERS) % 5]} feed {integ}"

    def _pending_counts(self) -> list[int]:
        """Pending leads per integration (index 0 unused): half on the hot one, the rest skewed."""
        n, rng = self.scale.integrations, self.rng
        counts = [0] * (n + 1)
        counts[1] = self.scale.hot
        rest = self.scale.pending - self.scale.hot
        weights = [0.0] * (n + 1)
        for i in range(2, n + 1):
            # A quarter have nothing waiting; the others follow a long tail.
            weights[i] = rng.paretovariate(1.3) if rng.random() < 0.75 and not self.disabled(i) else 0.0
        total = sum(weights)
        for i in range(2, n + 1):
            counts[i] = int(weights[i] / total * rest)
        short = rest - sum(counts[2:])
        busy = [i for i in range(2, n + 1) if weights[i] > 0]
        for k in range(short):
            counts[busy[k % len(busy)]] += 1
        return counts

    def disabled(self, integ: int) -> bool:
        return integ % 50 == 7

    def advertisers(self) -> Iterator[dict]:
        for adv in range(1, self.n_adv + 1):
            yield {
                "id": adv,
                "enterprise_id": self.enterprise_of_adv(adv),
                "name": self.adv_name(adv),
                "created_at": self.now - timedelta(days=400),
            }

    def campaigns(self) -> Iterator[dict]:
        today = self.now.date()
        for camp in range(1, self.n_camp + 1):
            adv = self.adv_of_camp(camp)
            yield {
                "id": camp,
                "enterprise_id": self.enterprise_of_adv(adv),
                "advertiser_id": adv,
                "name": self.camp_name(camp),
                "status": "active",
                "start_date": today - timedelta(days=90 + camp % 200),
                "end_date": today + timedelta(days=30 + camp % 300) if camp % 3 else None,
                "created_at": self.now - timedelta(days=300),
            }

    def integrations(self) -> Iterator[dict]:
        for integ in range(1, self.scale.integrations + 1):
            camp = self.camp_of_int(integ)
            created = self.now - timedelta(days=200)
            yield {
                "id": integ,
                "enterprise_id": self.enterprise_of_adv(self.adv_of_camp(camp)),
                "campaign_id": camp,
                "label": self.label(integ),
                "enabled": not self.disabled(integ),
                "schedule_cron": CRONS[integ % len(CRONS)],
                "timezone": ZONES[integ % len(ZONES)],
                # Far enough ahead that no scheduler tick picks these up during a run.
                "next_run_at": self.now + timedelta(days=30, minutes=integ % 1440),
                "last_sent_at": self.now - timedelta(hours=integ % 500),
                "file_format": "csv",
                "delimiter": ",",
                "header": True,
                "quoting": "minimal",
                "line_ending": "crlf",
                "encoding": "utf-8",
                "name_template": "{label}_{batch_id}_{sent_at:%Y%m%d_%H%M%S}",
                "compression": "none",
                "max_leads_per_file": None,
                "send_empty": False,
                "fields": HOT_FIELDS if integ == 1 else SMALL_FIELDS,
                "delivery_method": "local",
                "delivery": {"directory": f"integration-{integ}"},
                "credential_id": None,
                "pending_count": self.pending[integ],
                "created_at": created,
                "updated_at": created,
            }

    def _lead_owners(self) -> Iterator[tuple[int, int]]:
        """(lead id, integration id) for every pending lead, integration by integration."""
        lead = 0
        for integ in range(1, self.scale.integrations + 1):
            for _ in range(self.pending[integ]):
                lead += 1
                yield lead, integ

    def leads(self) -> Iterator[dict]:
        base = self.now - timedelta(days=7)
        for lead, integ in self._lead_owners():
            fields = {
                "email": f"person{lead}@example.com",
                "first_name": FIRST[lead % len(FIRST)],
                "last_name": LAST[lead % len(LAST)],
                "phone": f"+44 20 {lead % 10_000_0000:08d}",
                "company": COMPANIES[lead % len(COMPANIES)],
                "city": CITIES[lead % len(CITIES)],
                "country": "GB",
                "zip": f"{lead % 99999:05d}",
            }
            email_key, phone_key = keys_of(fields)
            yield {
                "id": lead,
                "campaign_id": self.camp_of_int(integ),
                "external_id": f"EXT-{lead:09d}",
                "status": "valid",
                "fields": fields,
                "email_key": email_key,
                "phone_key": phone_key,
                "created_at": base + timedelta(seconds=lead % 600_000),
            }

    def queue_entries(self) -> Iterator[dict]:
        base = self.now - timedelta(days=7)
        for lead, integ in self._lead_owners():
            yield {
                "id": lead,
                "integration_id": integ,
                "lead_id": lead,
                "queued_at": base + timedelta(seconds=lead % 600_000),
            }

    def sent_batches(self) -> Iterator[dict]:
        rng = random.Random(7)
        n = self.scale.sent
        start = self.now - timedelta(days=365)
        step = timedelta(days=365) / n
        for batch in range(1, n + 1):
            integ = rng.randrange(2, self.scale.integrations + 1)
            camp = self.camp_of_int(integ)
            adv = self.adv_of_camp(camp)
            created = start + step * batch
            roll = rng.random()
            status = "delivered" if roll < 0.965 else "failed"
            trigger = "schedule" if roll < 0.85 else ("batch_now" if roll < 0.95 else "resend")
            leads = min(50_000, int(rng.lognormvariate(4, 1.2)) + 1)
            manual = trigger != "schedule"
            yield {
                "id": batch,
                "enterprise_id": self.enterprise_of_adv(adv),
                "integration_id": integ,
                "advertiser_id": adv,
                "advertiser_name": self.adv_name(adv),
                "campaign_id": camp,
                "campaign_name": self.camp_name(camp),
                "label": self.label(integ),
                "field_mapping": SMALL_FIELDS,
                "file_settings": {"format": "csv", "delimiter": ",", "header": True, "encoding": "utf-8"},
                "delivery_method": "local",
                "lead_count": leads,
                "row_count": leads,
                "trigger": trigger,
                "triggered_by_id": self.admin_id if manual else None,
                "triggered_by": self.admin_email if manual else "scheduler",
                "resend_of_id": None,
                "status": status,
                "attempts": 1 if status == "delivered" else 3,
                "last_error": None if status == "delivered" else "connection refused by 127.0.0.1:2222",
                "file_name": f"feed-{integ}_{batch}_{created:%Y%m%d_%H%M%S}.csv",
                "storage_key": f"batches/{batch}/file.csv",
                "size_bytes": leads * 118,
                "sha256": hashlib.sha256(str(batch).encode()).hexdigest(),
                "created_at": created,
                "updated_at": created + timedelta(seconds=3),
                "stored_at": created + timedelta(seconds=1),
                "sent_at": created + timedelta(seconds=3) if status == "delivered" else None,
            }


@click.command()
@click.option("--scale", type=float, default=1.0, show_default=True, help="fraction of the DESIGN.md scale")
@click.option("--backend", type=click.Choice(["postgresql", "sqlite", "both"]), default="both", show_default=True)
@click.option("--force", is_flag=True, help="regenerate even if the data is already there")
def main(scale: float, backend: str, force: bool) -> None:
    """Generate (or reuse) the bench databases."""
    for name in ("postgresql", "sqlite") if backend == "both" else (backend,):
        meta = ensure(name, scale, force=force)
        click.echo(json.dumps({name: meta}, indent=2, default=str))


if __name__ == "__main__":
    main()
