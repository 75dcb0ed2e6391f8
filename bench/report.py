"""The results table: printed as text, written as JSON and as Markdown for the README."""

from __future__ import annotations

import os
import subprocess
from datetime import UTC, datetime

from bench import common
from bench.common import Result

HEAD = ("benchmark", "db", "ours", "baseline", "ratio", "bar", "result")


def machine() -> dict:
    """What the figures depend on: cores, load, versions, commit."""
    import platform

    import psycopg

    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=common.ROOT, capture_output=True, text=True, check=False
        ).stdout.strip()
    except OSError:
        commit = ""
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cores": os.cpu_count(),
        "loadavg": [round(x, 2) for x in os.getloadavg()],
        "python": platform.python_version(),
        "postgresql": _pg_version(),
        "psycopg": psycopg.__version__,
        "commit": commit,
    }


def _pg_version() -> str:
    try:
        import psycopg

        url = common.PG_BASE.replace("postgresql+psycopg", "postgresql") + "/postgres"
        with psycopg.connect(url) as conn:
            return str(conn.execute("SHOW server_version").fetchone()[0])
    except Exception:  # the table is still worth printing without it
        return "?"


def _ours(r: Result) -> str:
    if r.ours is None:
        return "-"
    text = f"{r.ours:,.1f} {r.unit}" if isinstance(r.ours, float) and r.unit in ("ms", "MB") else f"{r.ours:,} {r.unit}"
    if "p95" in r.details:
        text += f" (p95 {r.details['p95']:,.1f})"
    elif "p95_ms" in r.details:
        text += f" (p95 {r.details['p95_ms']:,.1f})"
    return text


def _baseline(r: Result) -> str:
    if r.baseline is None:
        return "-"
    return f"{r.baseline:,} {r.unit} ({r.baseline_name})"


def _ratio(r: Result) -> str:
    if r.ratio is None:
        return "-"
    return f"{r.ratio:.2f}x"


def _verdict(r: Result) -> str:
    return "-" if r.passed is None else ("PASS" if r.passed else "MISS")


def rows(results: list[Result]) -> list[tuple[str, ...]]:
    return [(r.benchmark, r.backend, _ours(r), _baseline(r), _ratio(r), r.bar or "-", _verdict(r)) for r in results]


def text_table(results: list[Result]) -> str:
    body = rows(results)
    widths = [max(len(h), *(len(row[i]) for row in body)) if body else len(h) for i, h in enumerate(HEAD)]
    line = "  ".join("-" * w for w in widths)
    out = ["  ".join(h.ljust(w) for h, w in zip(HEAD, widths, strict=True)), line]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in body]
    return "\n".join(out)


def markdown_table(results: list[Result]) -> str:
    out = ["| " + " | ".join(HEAD) + " |", "|" + "---|" * len(HEAD)]
    out += ["| " + " | ".join(c.replace("|", "\\|") for c in row) + " |" for row in rows(results)]
    return "\n".join(out)


def write(results: list[Result], info: dict) -> None:
    payload = {"machine": info, "results": [r.to_dict() for r in results]}
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S")
    common.write_json(f"bench-{stamp}.json", payload)
    common.write_json("latest.json", payload)
    md = markdown_table(results)
    (common.RESULTS / "latest.md").write_text(
        f"{md}\n\n{info['date']}, {info['cores']} cores, load {info['loadavg']}, "
        f"PostgreSQL {info['postgresql']}, Python {info['python']}, commit {info['commit']}\n"
    )
