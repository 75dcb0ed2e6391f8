"""Configuration is read, never written, at app creation; development's instance is prepared by
an explicit step (`flask --app wsgi dev bootstrap`, or the `flask --app wsgi` entry point on a
fresh checkout), and production refuses to start without its settings."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import psutil
import pytest
import redis
from cryptography.fernet import Fernet

from app import create_app

ROOT = Path(__file__).resolve().parent.parent
SETTINGS = ("SECRET_KEY", "CREDENTIAL_KEYS", "DATABASE_URL", "REDIS_URL", "BATCH_MANAGER_ENV", "INSTANCE_PATH")


def bare_env(instance: Path, **extra: str) -> dict:
    """The environment of a developer's shell: none of the app's settings, the code on PYTHONPATH.

    INSTANCE_PATH points inside the directory under watch, so anything the app would write
    by default lands where the test looks.
    """
    env = {k: v for k, v in os.environ.items() if k not in SETTINGS and not k.startswith(("TEST_", "FLASK_"))}
    return env | {"PYTHONPATH": str(ROOT), "INSTANCE_PATH": str(instance)} | extra


def redis_servers_under(path: Path) -> list[psutil.Process]:
    found = []
    for proc in psutil.process_iter(["name", "cmdline"]):
        cmdline = " ".join(proc.info["cmdline"] or [])
        if "redis-server" in cmdline and str(path) in cmdline:
            found.append(proc)
    return found


def run(args: list[str], cwd: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_create_app_in_an_empty_directory_writes_no_file_and_starts_no_process(tmp_path):
    env = bare_env(tmp_path / "instance", SECRET_KEY="s3cret", CREDENTIAL_KEYS=Fernet.generate_key().decode())
    code = "from app import create_app; app = create_app(); print(app.config['REDIS_URL'])"
    done = run([sys.executable, "-c", code], tmp_path, env)
    assert done.returncode == 0, done.stderr
    # The development default is the embedded server's socket: a URL to connect to, not a server.
    assert done.stdout.strip() == f"unix://{tmp_path / 'instance' / 'redis.sock'}"
    assert list(tmp_path.iterdir()) == []
    assert redis_servers_under(tmp_path) == []


def test_without_secrets_development_refuses_and_says_how_to_get_them(tmp_path):
    done = run([sys.executable, "-c", "from app import create_app; create_app()"], tmp_path, bare_env(tmp_path / "i"))
    assert done.returncode != 0
    assert "flask --app wsgi dev bootstrap" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_production_refuses_to_start_without_its_settings(monkeypatch):
    for name in SETTINGS:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("BATCH_MANAGER_ENV", "production")
    monkeypatch.setenv("SECRET_KEY", "s3cret")
    with pytest.raises(RuntimeError, match="CREDENTIAL_KEYS, DATABASE_URL, REDIS_URL"):
        create_app()


@pytest.mark.slow
def test_fresh_checkout_cli_creates_users_then_bootstrap_starts_and_stops_redis(tmp_path):
    try:
        _fresh_checkout(tmp_path)
    finally:
        for proc in redis_servers_under(tmp_path):  # only a server this test started
            proc.kill()


def _fresh_checkout(tmp_path: Path) -> None:
    instance = tmp_path / "instance"
    env = bare_env(instance)
    flask = [sys.executable, "-m", "flask", "--app", "wsgi"]

    created = run([*flask, "users", "create", "--email", "ops@acme.example", "--role", "admin",
                   "--enterprise", "Acme", "--password", "pw-12345678"], tmp_path, env)  # fmt: skip
    assert created.returncode == 0, created.stderr
    assert "Created admin ops@acme.example" in created.stdout
    secrets_file = instance / "dev-secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert sorted(p.name for p in tmp_path.iterdir()) == ["instance"]
    assert sorted(p.name for p in instance.iterdir()) == ["batch_manager.db", "dev-secrets.json"]
    assert redis_servers_under(tmp_path) == []

    written = (secrets_file.read_text(), secrets_file.stat().st_mtime_ns)
    token = run([*flask, "users", "create-token", "--email", "ops@acme.example", "--name", "cli"], tmp_path, env)
    assert token.returncode == 0, token.stderr
    assert token.stdout.splitlines()[0].startswith("bm_")
    # Later commands read the same secrets; nothing rewrites them.
    assert (secrets_file.read_text(), secrets_file.stat().st_mtime_ns) == written

    socket = instance / "redis.sock"
    boot = run([*flask, "dev", "bootstrap"], tmp_path, env)
    assert boot.returncode == 0, boot.stderr
    assert f"embedded Redis on unix://{socket}" in boot.stdout
    assert redis.Redis(unix_socket_path=str(socket)).ping()
    assert len(redis_servers_under(tmp_path)) == 1
    stop = run([*flask, "dev", "stop"], tmp_path, env)
    assert stop.returncode == 0 and "embedded Redis stopped" in stop.stdout, stop.stderr
    psutil.wait_procs(redis_servers_under(tmp_path), timeout=10)
    assert redis_servers_under(tmp_path) == []
