"""CPU per request of the tables_load cases, in-process: the Flask test client, process time.

On a machine shared with other work, latency over HTTP swings with everyone else's load; the
process time one request costs this process is the steadier figure for a before/after pair
(copy this file into the other checkout and run it there, interleaved with this one's runs).

    BENCH_PG_DB=bm_tables_bench python -m bench.tables_cpu --requests 20
"""

from __future__ import annotations

import re
import time

import click

from bench import common, tables_load


@click.command()
@click.option("--requests", "count", type=int, default=20, show_default=True, help="timed requests per case")
@click.option("--case", "only", default=None, help="one case by name (e.g. 'sent admin first')")
def main(count: int, only: str | None) -> None:
    meta = {"url": common.db_url("postgresql", common.data_db_name(1.0))}
    token = tables_load._token(meta)
    app = common.make_app(meta["url"])
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    match = re.search(r'name="csrf_token"[^>]*value="([^"]+)"', page)
    data = {"email": common.ADMIN_EMAIL, "password": common.PASSWORD, "csrf_token": match.group(1) if match else ""}
    if client.post("/login", data=data).status_code not in (302, 303):
        raise click.ClickException("bench login failed")
    for case in tables_load._resolve(""):
        if only and case.name != only:
            continue
        headers = {"Authorization": f"Bearer {token}"} if case.api else None
        for _ in range(3):  # warm: compiled SQL, templates, the user's session
            client.get(case.url, headers=headers)
        start = time.process_time()
        for _ in range(count):
            response = client.get(case.url, headers=headers)
            if response.status_code != 200:
                raise click.ClickException(f"{case.url} answered {response.status_code}")
        ms = (time.process_time() - start) * 1000 / count
        click.echo(f"[tables-cpu] {case.name:<26} {ms:6.1f} ms CPU per request")


if __name__ == "__main__":
    main()
