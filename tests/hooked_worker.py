"""`python -m tests.hooked_worker rq worker|cron ...`: the real Flask CLI, with test hooks.

The crash and slow-down points of the recovery tests are installed here, by the test
side, before the worker forks its work horses; production code knows nothing of them
(they wrap the record stream and the transport the pipeline module calls).
HOOK_DIR names a folder; HOOK_<STAGE>=<batch id>:<action>[:<seconds>] arms a stage:

  build   after the first lead record (or COPY chunk) of the file is read
  deliver when the transport is handed the stored file, before it reads any of it
  upload  after the first KB of the file has gone to the transport (reads are 1 KB)

When a stage is reached the work horse writes its pid to HOOK_DIR/<stage>-<batch id>
(once per batch: a later attempt finds the file and goes straight on), then:
  pause:<seconds>  sleeps (a slow send; the test may kill -9 the pid meanwhile)
  crash            SIGKILLs itself and its worker, as a machine losing power would
"""

from __future__ import annotations

import dataclasses
import os
import signal
import sys
import time
from pathlib import Path

STAGES = ("build", "deliver", "upload")


def _armed(stage: str, batch_id: int | None) -> list[str] | None:
    spec = os.environ.get(f"HOOK_{stage.upper()}", "")
    if not spec:
        return None
    batch, *action = spec.split(":")
    return action if batch_id is not None and int(batch) == batch_id else None


def reached(stage: str, batch_id: int | None) -> None:
    """Run the hook armed for this stage and batch, once per batch."""
    action = _armed(stage, batch_id)
    if action is None:
        return
    marker = Path(os.environ["HOOK_DIR"]) / f"{stage}-{batch_id}"
    try:
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        return  # fired on an earlier attempt
    os.write(fd, str(os.getpid()).encode())
    os.close(fd)
    if action[0] == "crash":
        os.kill(os.getppid(), signal.SIGKILL)
        os.kill(os.getpid(), signal.SIGKILL)
    elif action[0] == "pause":
        time.sleep(float(action[1]))


class _HookedReader:
    """The stored file, read 1 KB at a time; the upload hook fires after the first read."""

    def __init__(self, raw, batch_id: int | None) -> None:
        self._raw = raw
        self._batch_id = batch_id
        self._reads = 0

    def read(self, size: int = -1) -> bytes:
        self._reads += 1
        if self._reads == 2:
            reached("upload", self._batch_id)
        return self._raw.read(min(size, 1024) if size and size > 0 else 1024)

    def __getattr__(self, name):
        return getattr(self._raw, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self._raw.close()


class _HookedTransport:
    def __init__(self, transport) -> None:
        self._transport = transport

    def deliver(self, source, settings, secret):
        reached("deliver", source.batch_id)
        opener = source.opener
        hooked = dataclasses.replace(source, opener=lambda: _HookedReader(opener(), source.batch_id))
        return self._transport.deliver(hooked, settings, secret)

    def __getattr__(self, name):
        return getattr(self._transport, name)


def install() -> None:
    """Patch the names the pipeline module calls (before the worker forks its work horses)."""
    import app.services.pipeline as pipeline

    build, get_transport = pipeline.copy_csv.build_and_store_batch, pipeline.get_transport

    def hooked_build(batch, *args, guard=iter, **kwargs):
        # The build reads lead records (Python writer) or COPY chunks (PostgreSQL) through the
        # lease's guard; the hook fires once the first of them has been read.
        def hooked_guard(items):
            for index, item in enumerate(guard(items)):
                if index == 0:
                    reached("build", batch.id)
                yield item

        return build(batch, *args, guard=hooked_guard, **kwargs)

    pipeline.copy_csv.build_and_store_batch = hooked_build
    pipeline.get_transport = lambda method: _HookedTransport(get_transport(method))


if __name__ == "__main__":
    from flask.cli import main

    install()
    sys.argv = ["flask", "--app", "wsgi", *sys.argv[1:]]
    main()
