"""Scheduled sends in one process: wall and CPU per file, and the SQL one file sends.

    python -m bench.send_inproc                      # 200 files of the 500 x 200 herd template
    python -m bench.send_inproc --files 100 --statements
    python -m bench.send_inproc --group 20           # send_slots in groups of 20, as the tick queues them

On a fresh copy of the herd template (bench/herd.py builds it), `scheduled_send.send_slot`
for the first N integrations one after another in this process (after one warm-up file),
with no RQ and no other process: what a worker spends per file, without the queue.
`--group N`: `scheduled_send.send_slots` on groups of N instead (the group jobs of a herd,
whose plain slots go set-based through app.services.group_send), after one warm-up group.
`--statements` lists what one file sends (every SQLAlchemy statement and every commit).
"""

from __future__ import annotations

import shutil
import time

import click
from sqlalchemy import event, text

from bench import common, herd

SLOT = "202612010600"


@click.command()
@click.option("--files", default=200, show_default=True, help="scheduled files to send (after one warm-up)")
@click.option("--statements", is_flag=True, help="list the statements of one file (or group), then stop")
@click.option("--group", default=0, show_default=True, help="send_slots in groups of this many (0: send_slot)")
def main(files: int, statements: bool, group: int) -> None:
    template = herd.ensure_template("postgresql", 500, 200)
    url = herd.fresh_copy("postgresql", template)
    root = common.RESULTS / "send_inproc"
    shutil.rmtree(root, ignore_errors=True)
    app = common.make_app(url, STORAGE_URL=f"file://{root / 'files'}", LOCAL_DELIVERY_ROOT=str(root / "outbox"))
    with app.app_context():
        from app.extensions import db
        from app.services import scheduled_send

        warm = max(group, 1)
        ids = list(
            db.session.scalars(text("SELECT id FROM batch_integrations ORDER BY id LIMIT :n"), {"n": files + warm})
        )
        db.session.rollback()
        if group:
            sends = [[(i, SLOT) for i in ids[k : k + group]] for k in range(0, len(ids), group)]
            send = scheduled_send.send_slots
        else:
            sends = [[(i, SLOT)] for i in ids]
            send = lambda slots: scheduled_send.send_slot(*slots[0])  # noqa: E731
        send(sends[0])  # warm-up: connection, compiled SQL, the COPY function
        if statements:
            _list_statements(db.engine, lambda: send(sends[1]))
            return
        wall, cpu = time.perf_counter(), time.process_time()
        for slots in sends[1:]:
            send(slots)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        delivered = db.session.scalar(text("SELECT COUNT(*) FROM sent_batches WHERE status = 'delivered'"))
        n = len(ids) - warm
        click.echo(
            f"[send_inproc] {n} files: {1000 * wall / n:.1f} ms wall, {1000 * cpu / n:.1f} ms CPU per file "
            f"({n / wall:.1f} files/s); {delivered} delivered"
        )


def _list_statements(engine, send) -> None:
    seen: list[str] = []

    def statement(conn, cursor, sql, params, context, executemany):
        seen.append(" ".join(sql.split())[:140])

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", lambda conn: seen.append("COMMIT"))
    send()
    for number, line in enumerate(seen, 1):
        click.echo(f"{number:3} {line}")


if __name__ == "__main__":
    main()
