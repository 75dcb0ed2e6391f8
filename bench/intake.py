"""Lead intake: leads/s through POST /api/v4/campaigns/{id}/leads under gunicorn (2 workers).

The payloads (10,000 leads each, unique external ids) are built before the clock
starts; two client threads keep both workers busy; the server stores each lead and
queues it on the campaign's enabled integration, as in production.

`run` posts into a fresh, empty database (one integration); `run_full` (python -m bench.intake
--full) posts into the generated full-scale data (2,000,000 leads, 2 integrations per campaign),
then deletes the leads it added so the data set stays as generated.
"""

from __future__ import annotations

import json
import time
from concurrent.futures import ThreadPoolExecutor

import click
import requests

from bench import common, services
from bench.common import Result

BAR = 10_000
PER_REQUEST = 10_000


def payload(run: int, n: int = PER_REQUEST) -> bytes:
    leads = [
        {
            "externalId": f"r{run}-{i}",
            "status": "valid",
            "fields": {
                "email": f"person{run}-{i}@example.com",
                "first_name": "Ana",
                "last_name": "O'Brien",
                "phone": f"+44 20 {i:08d}",
                "company": "Smith, Jones & Co",
                "city": "London",
                "country": "GB",
                "zip": f"{i % 99999:05d}",
            },
        }
        for i in range(n)
    ]
    return json.dumps({"leads": leads}).encode()


def run_full(meta: dict, *, requests_total: int = 20, clients: int = 2) -> list[Result]:
    """Intake into the full-scale data: a campaign of enterprise A whose 2 integrations are enabled."""
    from sqlalchemy import func, select, text

    from app.extensions import db
    from app.models import BatchCsvIntegration, User
    from app.services import accounts

    app = common.make_app(meta["url"])
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == common.ADMIN_EMAIL))
        token = accounts.create_token(user, "bench-intake")[1]
        enabled = (
            select(BatchCsvIntegration.campaign_id)
            .where(BatchCsvIntegration.enterprise_id == user.enterprise_id, BatchCsvIntegration.enabled)
            .group_by(BatchCsvIntegration.campaign_id)
            .having(func.count() == 2)
            .order_by(BatchCsvIntegration.campaign_id)
            .limit(1)
            .offset(1)  # not campaign 1: its hot integration holds half of the pending leads
        )
        campaign_id = db.session.scalar(enabled)
        leads_before = db.session.scalar(text("SELECT count(*) FROM leads"))
        db.session.commit()
        db.session.remove()
        db.engine.dispose()
    prefix = f"intake-{int(time.time())}"
    bodies = [payload_prefixed(prefix, i) for i in range(requests_total + 1)]
    try:
        rate, details = _post_all(meta["url"], campaign_id, token, bodies, clients)
    finally:
        _remove(meta["url"], campaign_id, prefix)
    details |= {"campaign_id": campaign_id, "integrations": 2, "leads_in_data": leads_before}
    click.echo(
        f"[intake] full scale: {details['leads']} leads in {details['seconds']}s = {rate:,.0f} leads/s", err=True
    )
    common.write_json("intake-full.json", details)
    return [
        Result(
            "lead intake into the full-scale data, 2 integrations, gunicorn -w 2 (leads/s)",
            "postgresql",
            round(rate),
            "leads/s",
            bar=f">= {BAR:,} leads/s",
            passed=rate >= BAR,
            details=details,
        )
    ]


def payload_prefixed(prefix: str, run: int) -> bytes:
    return payload(run).replace(b'"externalId": "r', f'"externalId": "{prefix}-r'.encode())


def _remove(url: str, campaign_id: int, prefix: str) -> None:
    """Delete the leads this run added (and their queue entries); recount the two integrations."""
    import psycopg

    with psycopg.connect(common.psycopg_url(url)) as conn:
        ids = "SELECT id FROM leads WHERE campaign_id = %s AND external_id LIKE %s"
        args = (campaign_id, prefix + "-%")
        conn.execute(f"DELETE FROM queue_entries WHERE lead_id IN ({ids})", args)
        conn.execute(f"DELETE FROM leads WHERE id IN ({ids})", args)
        conn.execute(
            "UPDATE batch_integrations i SET pending_count = (SELECT count(*) FROM queue_entries q"
            " WHERE q.integration_id = i.id AND q.id > i.claimed_through) WHERE i.campaign_id = %s",
            (campaign_id,),
        )


def _post_all(url_db: str, campaign_id: int, token: str, bodies: list[bytes], clients: int) -> tuple[float, dict]:
    with services.gunicorn(url_db, workers=2) as base:
        url = f"{base}/api/v4/campaigns/{campaign_id}/leads"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        warm = requests.post(url, data=bodies[-1], headers=headers, timeout=300)
        if warm.status_code != 201:
            raise RuntimeError(f"intake answered {warm.status_code}: {warm.text[:300]}")
        latencies: list[float] = []

        def post(body: bytes) -> int:
            start = time.perf_counter()
            response = requests.post(url, data=body, headers=headers, timeout=300)
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 201:
                raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
            return response.json()["data"]["accepted"]

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            accepted = sum(pool.map(post, bodies[:-1]))
        seconds = time.perf_counter() - start
    return accepted / seconds, {
        "leads": accepted,
        "seconds": round(seconds, 3),
        "requests": len(bodies) - 1,
        "clients": clients,
        "request_p50_ms": round(common.p50(latencies), 1),
        "request_p95_ms": round(common.percentile(latencies, 95), 1),
    }


def run(backend: str = "postgresql", *, requests_total: int = 20, clients: int = 2) -> list[Result]:
    app = services.fresh_io_app(backend)
    with app.app_context():
        from app.extensions import db
        from tests import factories

        _user, camp, token = services.tenant("intake")
        # One enabled integration: every lead is stored once and queued once.
        factories.integration(camp, "Intake feed")
        campaign_id = camp.id
        db.session.remove()
        db.engine.dispose()
    bodies = [payload(i) for i in range(requests_total + 1)]
    url_db = common.db_url(backend, services.IO_DB)
    with services.gunicorn(url_db, workers=2) as base:
        url = f"{base}/api/v4/campaigns/{campaign_id}/leads"
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        session = requests.Session()
        warm = session.post(url, data=bodies[-1], headers=headers, timeout=120)
        if warm.status_code != 201:
            raise RuntimeError(f"intake answered {warm.status_code}: {warm.text[:300]}")
        latencies: list[float] = []

        def post(body: bytes) -> int:
            start = time.perf_counter()
            response = requests.post(url, data=body, headers=headers, timeout=120)
            latencies.append((time.perf_counter() - start) * 1000)
            if response.status_code != 201:
                raise RuntimeError(f"intake answered {response.status_code}: {response.text[:300]}")
            return response.json()["data"]["accepted"]

        start = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            accepted = sum(pool.map(post, bodies[:-1]))
        seconds = time.perf_counter() - start
    rate = accepted / seconds
    click.echo(f"[intake] {backend}: {accepted} leads in {seconds:.2f}s = {rate:,.0f} leads/s", err=True)
    details = {
        "leads": accepted,
        "seconds": round(seconds, 3),
        "requests": requests_total,
        "clients": clients,
        "request_p50_ms": round(common.p50(latencies), 1),
        "request_p95_ms": round(common.percentile(latencies, 95), 1),
    }
    common.write_json(f"intake-{backend}.json", details)
    return [
        Result(
            "lead intake: bulk API, gunicorn -w 2 (leads/s)",
            backend,
            round(rate),
            "leads/s",
            bar=f">= {BAR:,} leads/s",
            passed=rate >= BAR,
            details=details,
        )
    ]


@click.command()
@click.option("--full", is_flag=True, help="into the generated full-scale data instead of an empty database")
@click.option("--scale", type=float, default=1.0, show_default=True, help="the data set's scale (with --full)")
@click.option("--requests", "requests_total", type=int, default=20, show_default=True, help="10,000-lead requests")
def main(full: bool, scale: float, requests_total: int) -> None:
    if full:
        from bench import generate

        run_full(generate.ensure("postgresql", scale), requests_total=requests_total)
    else:
        run(requests_total=requests_total)


if __name__ == "__main__":
    main()
