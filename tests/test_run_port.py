"""`make run` (scripts/run) serves on PORT and prints that URL; a port in use is refused plainly."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import urllib.request

from tests.engine_support import ROOT
from tests.process_support import wait_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _env(instance, port: int) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DATABASE_URL", "REDIS_URL", "TEST_"))}
    env.update(PORT=str(port), INSTANCE_PATH=str(instance), STORAGE_URL=f"file://{instance}/files")
    env.pop("PUBLIC_BASE_URL", None)
    return env


def _status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 - a loopback URL of the test
            return response.status
    except OSError:
        return 0


def test_make_run_serves_on_port_and_prints_that_url(tmp_path):
    port = _free_port()
    log = tmp_path / "run.log"
    with log.open("wb") as out:
        run = subprocess.Popen(
            ["scripts/run"],
            cwd=ROOT,
            env=_env(tmp_path / "instance", port),
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        url = f"http://127.0.0.1:{port}/login"
        wait_for(lambda: f"starting on {url}" in log.read_text(), 120, "the URL line")
        wait_for(lambda: _status(url) == 200, 60, f"{url} to answer")
        # A second run on the same port says so and stops, instead of printing a URL it cannot serve.
        again = subprocess.run(
            ["scripts/run"],
            cwd=ROOT,
            env=_env(tmp_path / "other", port),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 1
        assert f"Port {port} on 127.0.0.1 is in use" in again.stderr and "starting on" not in again.stdout
    finally:
        run.send_signal(signal.SIGTERM)
        try:
            run.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(run.pid, signal.SIGKILL)
            run.wait()
    assert _status(f"http://127.0.0.1:{port}/login") == 0


def test_the_procfile_web_line_is_gunicorn_on_port():
    """The web is served as production serves it (gunicorn), on loopback at PORT."""
    web = next(line for line in (ROOT / "Procfile").read_text().splitlines() if line.startswith("web:"))
    assert "gunicorn" in web and "--bind 127.0.0.1:${PORT:-5000}" in web and "flask" not in web
