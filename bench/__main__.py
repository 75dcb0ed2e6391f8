"""`python -m bench` (or `make bench`): generate or reuse the data, run every benchmark,
print one table and write it to bench/results/ (latest.json, latest.md, a timestamped copy).

Examples:
    python -m bench                          # everything at the DESIGN.md scale
    python -m bench --scale 0.05             # a quick run on a twentieth of the data
    python -m bench --only tables,intake     # some benchmarks
    python -m bench --backend postgresql     # tables and trace on PostgreSQL only
    python -m bench --only trace --scale 0.25  # the lead trace on a quarter of the leads
    python -m bench --only herd              # the herd (not in the default set: about an hour);
                                             # its options: python -m bench.herd --help
"""

from __future__ import annotations

import sys
import time
import traceback

import click

from bench import common, report
from bench.common import Result

ALL = ("tables", "trace", "send", "intake", "batch_now")
# Chosen by name only: the full herd (bench/herd.py) runs for about an hour on the old engine.
OPTIONAL = ("herd",)


@click.command()
@click.option("--scale", type=float, default=1.0, show_default=True, help="fraction of the DESIGN.md scale")
@click.option(
    "--backend",
    type=click.Choice(["both", "postgresql", "sqlite"]),
    default="both",
    show_default=True,
    help="databases for the tables and trace benchmarks (the others are PostgreSQL benchmarks)",
)
@click.option("--only", default=",".join(ALL), show_default=True, help="comma-separated benchmarks to run")
@click.option("--runs", type=int, default=30, show_default=True, help="requests per table case")
@click.option("--batch-now-runs", type=int, default=20, show_default=True)
@click.option("--intake-requests", type=int, default=20, show_default=True, help="10,000-lead requests")
@click.option("--export-cap", type=int, default=100_000, show_default=True, help="rows of the Flask-Admin export")
@click.option("--force-generate", is_flag=True, help="regenerate the data even if it is there")
def main(
    scale: float,
    backend: str,
    only: str,
    runs: int,
    batch_now_runs: int,
    intake_requests: int,
    export_cap: int,
    force_generate: bool,
) -> None:
    """Run the benchmarks and print one table."""
    chosen = [name.strip() for name in only.split(",") if name.strip()]
    unknown = set(chosen) - set(ALL) - set(OPTIONAL)
    if unknown:
        names = ", ".join(ALL + OPTIONAL)
        raise click.BadParameter(f"unknown benchmark(s) {', '.join(sorted(unknown))}; one of {names}")
    backends = ["postgresql", "sqlite"] if backend == "both" else [backend]
    info = report.machine() | {"scale": scale, "command": "python -m bench " + " ".join(sys.argv[1:])}
    started = time.monotonic()
    results: list[Result] = []
    metas: dict[str, dict] = {}

    def need(name: str) -> dict:
        from bench import generate

        if name not in metas:
            metas[name] = generate.ensure(name, scale, force=force_generate)
        return metas[name]

    steps = []
    if "tables" in chosen:
        from bench import tables

        for name in backends:
            steps.append((f"tables/{name}", lambda name=name: tables.run(need(name), name, runs=runs)))
    if "trace" in chosen:
        from bench import trace

        for name in backends:
            steps.append((f"trace/{name}", lambda name=name: trace.run(need(name), name, runs=runs)))
    if "send" in chosen:
        from bench import send_path

        steps.append(("send", lambda: send_path.run(need("postgresql"), export_cap=export_cap)))
    if "intake" in chosen:
        from bench import intake

        steps.append(("intake", lambda: intake.run(requests_total=max(2, intake_requests))))
    if "batch_now" in chosen:
        from bench import batch_now

        steps.append(("batch_now", lambda: batch_now.run(runs=batch_now_runs)))
    if "herd" in chosen:
        from bench import herd

        steps.append(("herd", lambda: herd.run()))

    for label, step in steps:
        click.echo(f"== {label}", err=True)
        try:
            results.extend(step())
        except Exception as exc:  # one broken benchmark must not hide the others' figures
            traceback.print_exc()
            results.append(Result(f"{label}: ERROR", "-", None, "", bar=str(exc)[:80], passed=False))
    info["seconds"] = round(time.monotonic() - started)
    info["loadavg_end"] = report.machine()["loadavg"]
    report.write(results, info)
    click.echo("")
    click.echo(report.text_table(results))
    click.echo(
        f"\n{info['date']} · {info['cores']} cores · load {info['loadavg']} -> {info['loadavg_end']} · "
        f"scale {scale} · {info['seconds']} s · results in {common.RESULTS}/latest.json"
    )
    if any(r.passed is False for r in results):
        click.echo("Some bars are missed: see the README's Performance section.", err=True)


if __name__ == "__main__":
    main()
