"""Lead intake: leads/s through POST /api/v4/campaigns/{id}/leads under gunicorn (2 workers).

The payloads (10,000 leads each, unique external ids) are built before the clock
starts; two client threads keep both workers busy; the server stores each lead and
queues it on the campaign's enabled integration, as in production.
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
