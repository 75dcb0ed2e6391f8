"""Tables: p50/p95 of the Pending and Sent admin pages and API lists (first page, a filtered
page, a deep page, a sorted page) at the DESIGN.md scale, beside a default Flask-Admin
ModelView over the same tables, through the Flask test client.

The admin is driven logged in as an admin of enterprise A (90% of the data); the API
with that user's bearer token. The baseline views (bench/baseline.py) keep Flask-Admin's
defaults (COUNT(*) + OFFSET) and are not scoped to a tenant, which only helps them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import click

from bench import baseline, common
from bench.common import Result

BAR_MS = 50.0
PAGE = 50


@dataclass(frozen=True)
class Case:
    table: str  # pending | sent
    surface: str  # admin | api | baseline
    case: str  # first | filtered | deep | sorted
    url: str


def run(meta: dict, backend: str, *, runs: int = 30, warmup: int = 3) -> list[Result]:
    app = common.make_app(meta["url"])
    base_urls = baseline.register(app)
    results: list[Result] = []
    samples: dict[tuple[str, str, str], list[float]] = {}
    with app.app_context():
        from app.extensions import db

        token = _token()
        client = app.test_client()
        _login(client)
        api = {"Authorization": f"Bearer {token}"}
        counts = _counts(meta)
        cases = _cases(app, base_urls, counts)
        for case in cases:
            headers = api if case.surface == "api" else {}
            _check(client, case, headers)
            samples[(case.table, case.surface, case.case)] = common.timed(
                lambda case=case, headers=headers: _get(client, case.url, headers), runs, warmup
            )
            db.session.remove()
            ms = samples[(case.table, case.surface, case.case)]
            click.echo(
                f"[tables] {backend} {case.table:<7} {case.surface:<8} {case.case:<8} "
                f"p50 {common.p50(ms):7.1f} ms  p95 {common.percentile(ms, 95):7.1f} ms",
                err=True,
            )
        db.session.remove()
        db.engine.dispose()
    for case in cases:
        if case.surface == "baseline":
            continue
        ms = samples[(case.table, case.surface, case.case)]
        base = samples.get((case.table, "baseline", case.case))
        p50 = common.p50(ms)
        results.append(
            Result(
                f"tables: {case.table} {case.surface} {case.case} (p50 ms)",
                backend,
                round(p50, 1),
                "ms",
                baseline=round(common.p50(base), 1) if base else None,
                baseline_name="default ModelView" if base else "",
                bar=f"p50 <= {BAR_MS:g} ms",
                passed=p50 <= BAR_MS,
                details={"p95": round(common.percentile(ms, 95), 1), "url": case.url, "runs": runs}
                | ({"baseline_p95": round(common.percentile(base, 95), 1)} if base else {}),
            )
        )
    common.write_json(
        f"tables-{backend}.json",
        {
            f"{t}/{s}/{c}": {"p50": common.p50(v), "p95": common.percentile(v, 95), "ms": v}
            for (t, s, c), v in samples.items()
        },
    )
    return results


def _get(client, url: str, headers: dict):
    response = client.get(url, headers=headers)
    response.get_data()
    return response


def _check(client, case: Case, headers: dict) -> None:
    response = _get(client, case.url, headers)
    if response.status_code != 200:
        raise RuntimeError(f"{case.url} answered {response.status_code}: {response.get_data(as_text=True)[:300]}")


def _token() -> str:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User
    from app.services import accounts

    user = db.session.scalar(select(User).where(User.email == common.ADMIN_EMAIL))
    return accounts.create_token(user, "bench")[1]


def _login(client) -> None:
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    data = {"email": common.ADMIN_EMAIL, "password": common.PASSWORD}
    if match:
        data["csrf_token"] = match.group(1)
    response = client.post("/login", data=data)
    if response.status_code not in (302, 303):
        raise RuntimeError(f"bench login failed: {response.status_code}")


def _counts(meta: dict) -> dict[str, int]:
    """Rows each table shows enterprise A, for the deep pages."""
    from sqlalchemy import func, select

    from app.extensions import db
    from app.models import BatchCsvIntegration, SentBatch

    ent = meta["enterprise_a"]
    pending = db.session.scalar(
        select(func.count())
        .select_from(BatchCsvIntegration)
        .where(
            BatchCsvIntegration.enterprise_id == ent,
            BatchCsvIntegration.enabled.is_(True),
            BatchCsvIntegration.pending_count > 0,
        )
    )
    sent = db.session.scalar(select(func.count()).select_from(SentBatch).where(SentBatch.enterprise_id == ent))
    return {"pending": int(pending or 0), "sent": int(sent or 0)}


# Flask-Admin 2.2.1 has no public lookup of a registered view, of a named filter's URL
# argument or of the list's column order: these read Admin._views, ModelView._filter_args
# and ModelView._list_columns (canary: tests/test_flask_admin_canary.py).
def _admin_view(app, endpoint: str):
    for admin in app.extensions.get("admin", []):
        for view in admin._views:
            if view.endpoint == endpoint:
                return view
    raise RuntimeError(f"no admin view {endpoint}")


def _filter_arg(view, arg: str) -> str:
    """Flask-Admin's URL argument for the named filter `arg` (e.g. label_contains)."""
    if arg not in (view._filter_args or {}):
        raise RuntimeError(f"{view.endpoint} has no {arg} filter; it has {sorted(view._filter_args or {})}")
    return f"flt0_{arg}"


def _sort_arg(view, column: str) -> str:
    """Flask-Admin sorts by the index of a column in the list shown."""
    names = list(getattr(view, "default_columns", None) or [c for c, _ in view._list_columns])
    return f"sort={names.index(column)}&desc=1"


def _cases(app, base_urls: dict[str, str], counts: dict[str, int]) -> list[Case]:
    from admin_views import PENDING_URL, SENT_URL

    pending_view = _admin_view(app, "pending_batches")
    sent_view = _admin_view(app, "sent_batches")
    deep_p = max(1, counts["pending"] // PAGE // 2)
    deep_s = max(1, counts["sent"] // PAGE // 2)
    adv_name = _filter_arg(pending_view, "advertiser_name_contains")
    camp_name = _filter_arg(sent_view, "campaign_name_contains")
    cases = [
        Case("pending", "admin", "first", f"{PENDING_URL}/"),
        Case("pending", "admin", "filtered", f"{PENDING_URL}/?{adv_name}=Acme"),
        Case("pending", "admin", "deep", f"{PENDING_URL}/?page_size={PAGE}&page={deep_p}"),
        Case("pending", "admin", "sorted", f"{PENDING_URL}/?{_sort_arg(pending_view, 'pending_count')}"),
        Case("pending", "api", "first", "/api/v4/batch-manager"),
        Case("pending", "api", "filtered", "/api/v4/batch-manager?advertiserName=Acme"),
        Case("pending", "api", "deep", f"/api/v4/batch-manager?page={deep_p + 1}&perPage={PAGE}"),
        Case("pending", "api", "sorted", "/api/v4/batch-manager?sort=-leadCount"),
        Case("sent", "admin", "first", f"{SENT_URL}/"),
        Case("sent", "admin", "filtered", f"{SENT_URL}/?{camp_name}=Solar"),
        Case("sent", "admin", "deep", f"{SENT_URL}/?page_size={PAGE}&page={deep_s}"),
        Case("sent", "admin", "sorted", f"{SENT_URL}/?{_sort_arg(sent_view, 'lead_count')}"),
        Case("sent", "api", "first", "/api/v4/campaign-lead-batches"),
        Case("sent", "api", "filtered", "/api/v4/campaign-lead-batches?campaignName=Solar"),
        Case("sent", "api", "deep", f"/api/v4/campaign-lead-batches?page={deep_s + 1}&perPage={PAGE}"),
        Case("sent", "api", "sorted", "/api/v4/campaign-lead-batches?sort=-leadCount"),
    ]
    plan = {
        "pending": ("campaign_advertisers_name_contains", "Acme", deep_p, "pending_count"),
        "sent": ("campaign_name_contains", "Solar", deep_s, "lead_count"),
    }
    for table, (flt_label, value, deep, sort_column) in plan.items():
        url = base_urls[table]
        view = baseline.view(app, table)
        cases += [
            Case(table, "baseline", "first", f"{url}/"),
            Case(table, "baseline", "filtered", f"{url}/?{_filter_arg(view, flt_label)}={value}"),
            Case(table, "baseline", "deep", f"{url}/?page_size={PAGE}&page={deep}"),
            Case(table, "baseline", "sorted", f"{url}/?{baseline.sort_arg(app, table, sort_column)}"),
        ]
    return cases
