"""Lead trace: p50/p95 of finding a lead by external id, email and phone among the generated
2,000,000 leads, through the API (bearer token) and the admin page (logged in), both with the
Flask test client, as an admin of enterprise A.

Baseline, in the same run: the plain indexed SQL lookup of the same lead's id by external id
on a raw connection (what any trace must at least do). For reference: the cheapest
authenticated API request (one advertiser), the floor of the HTTP stack under the same
load, and a few runs of the lookup by email as it would be without the key column: a scan of
the JSON field values.
Searched leads are spread evenly over enterprise A's leads (a different one each request), and
the values are given as a user would type them (the email upper-cased, the phone as stored).
"""

from __future__ import annotations

import time
from urllib.parse import quote

import click
from sqlalchemy import text

from bench import common
from bench.common import Result
from bench.tables import _login, _token

BAR_MS = 50.0


def run(meta: dict, backend: str, *, runs: int = 30, warmup: int = 3, scan_runs: int = 3) -> list[Result]:
    app = common.make_app(meta["url"])
    results: list[Result] = []
    samples: dict[str, list[float]] = {}
    with app.app_context():
        from app.extensions import db

        leads = _sample(meta["enterprise_a"], runs + warmup)
        token = _token()
        client = app.test_client()
        _login(client)
        api = {"Authorization": f"Bearer {token}"}
        cases = {
            "api externalId": (lambda lead: f"/api/v4/leads?externalId={quote(lead['external_id'])}", api),
            "api email": (lambda lead: f"/api/v4/leads?email={quote(lead['email'].upper())}", api),
            "api phone": (lambda lead: f"/api/v4/leads?phone={quote(lead['phone'])}", api),
            "admin email": (lambda lead: f"/admin/lead-trace/?by=email&q={quote(lead['email'])}", {}),
        }
        # The stack's own floor: the cheapest authenticated API list, one row.
        samples["api floor"] = common.timed(lambda: _ok(client, "/api/v4/advertisers?perPage=1", api), runs, warmup)
        _echo(backend, "reference: GET /advertisers?perPage=1", samples["api floor"])
        for name, (url_of, headers) in cases.items():
            urls = iter([url_of(lead) for lead in leads])
            samples[name] = common.timed(
                lambda urls=urls, headers=headers: _found(client, next(urls), headers), runs, warmup
            )
            _echo(backend, name, samples[name])
        db.session.remove()
        ids = iter([lead["external_id"] for lead in leads])
        with db.engine.connect() as conn:
            sql = text("SELECT id FROM leads WHERE external_id = :x")
            samples["sql"] = common.timed(lambda: conn.execute(sql, {"x": next(ids)}).all(), runs, warmup)
            _echo(backend, "baseline: indexed SQL by external_id", samples["sql"])
            scan = text(_scan_sql(backend))
            emails = iter([lead["email"] for lead in leads])
            samples["scan"] = common.timed(lambda: conn.execute(scan, {"x": next(emails)}).all(), scan_runs, 0)
            _echo(backend, "reference: email by JSON scan", samples["scan"])
        db.engine.dispose()
    base = common.p50(samples["sql"])
    for name in ("api externalId", "api email", "api phone", "admin email"):
        ms = samples[name]
        p50 = common.p50(ms)
        results.append(
            Result(
                f"lead trace: {name} (p50 ms)",
                backend,
                round(p50, 1),
                "ms",
                baseline=round(base, 2),
                baseline_name="indexed SQL lookup by external_id",
                bar=f"p50 <= {BAR_MS:g} ms",
                passed=p50 <= BAR_MS,
                details={"p95": round(common.percentile(ms, 95), 1), "runs": runs, "leads": meta["scale"]["pending"]},
            )
        )
    results.append(
        Result(
            "lead trace reference: the API's floor, GET /advertisers?perPage=1 (p50 ms)",
            backend,
            round(common.p50(samples["api floor"]), 1),
            "ms",
            details={"p95": round(common.percentile(samples["api floor"], 95), 1), "runs": runs},
        )
    )
    results.append(
        Result(
            "lead trace reference: email without the key column, JSON scan (p50 ms)",
            backend,
            round(common.p50(samples["scan"]), 1),
            "ms",
            details={"runs": scan_runs},
        )
    )
    common.write_json(
        f"trace-{backend}.json",
        {name: {"p50": common.p50(v), "p95": common.percentile(v, 95), "ms": v} for name, v in samples.items()},
    )
    return results


def _sample(enterprise_id: int, count: int) -> list[dict]:
    """`count` leads of the enterprise, evenly spread by id: external id, email and phone."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import Campaign, Lead

    owned = select(Lead.id).join(Campaign).where(Campaign.enterprise_id == enterprise_id).subquery()
    low, high = db.session.execute(select(func.min(owned.c.id), func.max(owned.c.id))).one()
    picked: list[dict] = []
    step = max(1, (high - low) // (count * 2))
    start = low
    while len(picked) < count and start <= high:
        lead = db.session.scalar(
            select(Lead)
            .join(Campaign)
            .where(Campaign.enterprise_id == enterprise_id, Lead.id >= start)
            .order_by(Lead.id)
            .limit(1)
        )
        if lead is None:
            break
        picked.append({"external_id": lead.external_id, "email": lead.fields["email"], "phone": lead.fields["phone"]})
        start = lead.id + step
    if len(picked) < count:
        raise RuntimeError(f"only {len(picked)} leads to trace in enterprise {enterprise_id}")
    return picked


def _found(client, url: str, headers: dict) -> None:
    started = time.perf_counter()
    response = client.get(url, headers=headers)
    body = response.get_data(as_text=True)
    if response.status_code != 200 or ('"total":1' not in body.replace(" ", "") and "1 lead found" not in body):
        raise RuntimeError(f"{url} answered {response.status_code} after {time.perf_counter() - started:.3f} s")


def _ok(client, url: str, headers: dict) -> None:
    response = client.get(url, headers=headers)
    response.get_data()
    if response.status_code != 200:
        raise RuntimeError(f"{url} answered {response.status_code}")


def _scan_sql(backend: str) -> str:
    if backend == "postgresql":
        return "SELECT id FROM leads WHERE lower(fields->>'email') = lower(:x)"
    return "SELECT id FROM leads WHERE lower(json_extract(fields, '$.email')) = lower(:x)"


def _echo(backend: str, name: str, ms: list[float]) -> None:
    click.echo(
        f"[trace] {backend} {name:<40} p50 {common.p50(ms):8.2f} ms  p95 {common.percentile(ms, 95):8.2f} ms",
        err=True,
    )
