"""Tables under load: the Pending and Sent pages and API lists through gunicorn over real HTTP at the
DESIGN.md scale, with 1, 10 and 30 concurrent clients (each one logged-in admin session or bearer token).

The 1-client pass times every case alone (p50/p95 per case); the concurrent passes run every
client through the cases in turn, each starting at a different case, and report the p50/p95 over
all requests and the requests per second. The server is gunicorn as `make run` starts it
(scripts/gunicorn.conf.py) unless --workers/--threads say otherwise.

    python -m bench.tables_load                          # full scale, 1/10/30 clients
    python -m bench.tables_load --clients 10 --seconds 20 --workers 4 --threads 1
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import click
import requests

from bench import common, services
from bench.common import Result

BAR_ONE_P50 = 50.0
BAR_TEN_P50 = 100.0
BAR_TEN_P95 = 250.0


@dataclass(frozen=True)
class Case:
    name: str
    url: str
    api: bool = False


CASES = [
    Case("pending admin first", "/admin/pending/"),
    Case("pending admin advertiser", "/admin/pending/?flt0_advertiser_name_contains=Acme"),
    Case("pending admin label", "/admin/pending/?flt0_label_contains=north"),
    Case("pending api first", "/api/v4/batch-manager", True),
    Case("pending api advertiser", "/api/v4/batch-manager?advertiserName=Acme", True),
    Case("sent admin first", "/admin/sent/"),
    Case("sent admin campaign", "/admin/sent/?flt0_campaign_name_contains=Solar"),
    Case("sent admin advertiser", "/admin/sent/?flt0_advertiser_name_contains=acme"),
    Case("sent admin label", "/admin/sent/?flt0_label_contains=north"),
    Case("sent admin rare campaign", "/admin/sent/?flt0_campaign_name_contains=%23123"),
    Case("sent api first", "/api/v4/campaign-lead-batches", True),
    Case("sent api campaign", "/api/v4/campaign-lead-batches?campaignName=Solar", True),
    Case("sent api advertiser", "/api/v4/campaign-lead-batches?advertiserName=acme", True),
    Case("sent api label", "/api/v4/campaign-lead-batches?label=north", True),
]


def _resolve(base: str) -> list[Case]:
    """The admin URLs as registered (PENDING_URL / SENT_URL may move)."""
    from admin_views import PENDING_URL, SENT_URL

    return [
        Case(c.name, base + c.url.replace("/admin/pending", PENDING_URL).replace("/admin/sent", SENT_URL), c.api)
        for c in CASES
    ]


def _token(meta: dict) -> str:
    from sqlalchemy import select

    from app.extensions import db
    from app.models import User
    from app.services import accounts

    app = common.make_app(meta["url"])
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == common.ADMIN_EMAIL))
        token = accounts.create_token(user, "bench-load")[1]
        db.session.remove()
        db.engine.dispose()
    return token


def _login(base: str) -> requests.Session:
    session = requests.Session()
    page = session.get(f"{base}/login", timeout=30).text
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page) or re.search(
        r'value="([^"]+)"[^>]*name="csrf_token"', page
    )
    data = {"email": common.ADMIN_EMAIL, "password": common.PASSWORD}
    if match:
        data["csrf_token"] = match.group(1)
    response = session.post(f"{base}/login", data=data, allow_redirects=False, timeout=30)
    if response.status_code not in (302, 303):
        raise RuntimeError(f"bench login failed: {response.status_code}")
    return session


class Client:
    """One browser-like client: its own session (cookie) and keep-alive connection."""

    def __init__(self, base: str, token: str) -> None:
        self.session = _login(base)
        self.api = {"Authorization": f"Bearer {token}"}

    def get(self, case: Case) -> float:
        start = time.perf_counter()
        response = self.session.get(case.url, headers=self.api if case.api else None, timeout=60)
        _ = response.content
        ms = (time.perf_counter() - start) * 1000
        if response.status_code != 200:
            raise RuntimeError(f"{case.url} answered {response.status_code}: {response.text[:300]}")
        return ms


def one_client(cases: list[Case], client: Client, runs: int) -> dict[str, list[float]]:
    samples = {}
    for case in cases:
        for _ in range(3):
            client.get(case)
        samples[case.name] = [client.get(case) for _ in range(runs)]
    return samples


def concurrent(cases: list[Case], clients: list[Client], seconds: float) -> tuple[list[float], dict, float]:
    """Every client loops over the cases for `seconds`; all latencies, per case, and requests/s."""
    latencies: list[float] = []
    per_case: dict[str, list[float]] = {c.name: [] for c in cases}
    lock = threading.Lock()
    start_gate = threading.Barrier(len(clients) + 1)
    stop_at = [0.0]
    errors: list[BaseException] = []

    def loop(k: int, client: Client) -> None:
        start_gate.wait()
        i = k
        while time.perf_counter() < stop_at[0]:
            case = cases[i % len(cases)]
            try:
                ms = client.get(case)
            except BaseException as exc:
                errors.append(exc)
                return
            with lock:
                latencies.append(ms)
                per_case[case.name].append(ms)
            i += 1

    threads = [threading.Thread(target=loop, args=(k, c), daemon=True) for k, c in enumerate(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    began = time.perf_counter()
    start_gate.wait()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - began
    if errors:
        raise RuntimeError(f"{len(errors)} client(s) failed: {errors[0]}")
    return latencies, per_case, len(latencies) / elapsed


def run(
    meta: dict,
    *,
    clients: tuple[int, ...] = (1, 10, 30),
    seconds: float = 20,
    runs: int = 20,
    workers: int | None = None,
    threads: int | None = None,
    hold: bool = False,
    app_root: Path | None = None,
) -> list[Result]:
    token = _token(meta)
    results: list[Result] = []
    report: dict = {}
    with services.gunicorn(meta["url"], workers=workers, threads=threads, config=True, root=app_root) as base:
        cases = _resolve(base)
        pool = [Client(base, token) for _ in range(max(clients))]
        if hold:
            click.echo(f"[tables-load] serving {base}; Ctrl-C to stop", err=True)
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                return []
        for n in clients:
            if n == 1:
                samples = one_client(cases, pool[0], runs)
                worst = 0.0
                for name, ms in samples.items():
                    p50 = common.p50(ms)
                    worst = max(worst, p50)
                    click.echo(
                        f"[tables-load] 1 client  {name:<26} p50 {p50:6.1f} ms  p95 {common.percentile(ms, 95):6.1f} ms",
                        err=True,
                    )
                    results.append(
                        Result(
                            f"tables over HTTP, 1 client: {name} (p50 ms)",
                            "postgresql",
                            round(p50, 1),
                            "ms",
                            bar=f"p50 <= {BAR_ONE_P50:g} ms",
                            passed=p50 <= BAR_ONE_P50,
                            details={"p95": round(common.percentile(ms, 95), 1), "runs": runs},
                        )
                    )
                report["1"] = {k: {"p50": common.p50(v), "p95": common.percentile(v, 95)} for k, v in samples.items()}
                continue
            latencies, per_case, rate = concurrent(cases, pool[:n], seconds)
            p50, p95 = common.p50(latencies), common.percentile(latencies, 95)
            click.echo(
                f"[tables-load] {n:>2} clients: {len(latencies)} requests, {rate:5.1f} req/s, "
                f"p50 {p50:6.1f} ms  p95 {p95:6.1f} ms",
                err=True,
            )
            for name, ms in per_case.items():
                if ms:
                    click.echo(
                        f"[tables-load]    {name:<26} p50 {common.p50(ms):6.1f}  p95 {common.percentile(ms, 95):6.1f}",
                        err=True,
                    )
            passed = p50 <= BAR_TEN_P50 and p95 <= BAR_TEN_P95 if n == 10 else None
            results.append(
                Result(
                    f"tables over HTTP, {n} clients (p50 ms, all cases)",
                    "postgresql",
                    round(p50, 1),
                    "ms",
                    bar=f"p50 <= {BAR_TEN_P50:g}, p95 <= {BAR_TEN_P95:g} ms" if n == 10 else "",
                    passed=passed,
                    details={"p95": round(p95, 1), "requests_per_s": round(rate, 1), "requests": len(latencies)},
                )
            )
            report[str(n)] = {
                "p50": p50,
                "p95": p95,
                "rps": rate,
                "cases": {k: {"p50": common.p50(v), "p95": common.percentile(v, 95)} for k, v in per_case.items() if v},
            }
    common.write_json("tables-load.json", report)
    return results


@click.command()
@click.option("--scale", type=float, default=1.0, show_default=True)
@click.option("--clients", default="1,10,30", show_default=True, help="comma-separated client counts")
@click.option("--seconds", type=float, default=20, show_default=True, help="length of each concurrent pass")
@click.option("--runs", type=int, default=20, show_default=True, help="requests per case with 1 client")
@click.option("--workers", type=int, default=None, help="gunicorn workers (default: scripts/gunicorn.conf.py)")
@click.option("--threads", type=int, default=None, help="gunicorn threads per worker (default: the config's)")
@click.option("--hold", is_flag=True, help="only serve the data (to profile by hand)")
@click.option(
    "--app-root",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    default=None,
    help="serve another checkout's wsgi:app (a before/after comparison on the same data)",
)
def main(scale: float, clients: str, seconds: float, runs: int, workers, threads, hold: bool, app_root) -> None:
    from bench import generate

    meta = generate.ensure("postgresql", scale)
    counts = tuple(int(c) for c in clients.split(",") if c.strip())
    run(
        meta, clients=counts, seconds=seconds, runs=runs, workers=workers, threads=threads, hold=hold, app_root=app_root
    )


if __name__ == "__main__":
    main()
