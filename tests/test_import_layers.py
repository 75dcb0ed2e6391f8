"""The import layers hold: no back arrow into jobs/admin/API from the domain, no circle."""

from __future__ import annotations

import importlib
import subprocess
import sys
import textwrap
from pathlib import Path

from app.services import queueing
from tests.layers_support import problems

ROOT = Path(__file__).resolve().parents[1]


def test_the_project_keeps_its_layers():
    assert problems(ROOT) == []


def _write(root: Path, files: dict[str, str]) -> None:
    for name, source in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))


def test_the_check_finds_back_arrows_and_circles(tmp_path):
    """The checker itself: lazy, relative and TYPE_CHECKING imports all count."""
    _write(
        tmp_path,
        {
            "app/__init__.py": "",
            "app/services/__init__.py": "",
            "app/services/a.py": "def f():\n    from jobs.queues import enqueue\n",
            "app/services/b.py": "from .c import thing\n",
            "app/services/c.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from app.services import b\n",
            "app/services/d.py": "import admin_views.base\nfrom app.api import schemas\n",
            "app/services/files/__init__.py": "",
            "app/services/files/pure.py": "from app.models import Lead\nfrom flask import current_app\n",
            "app/models/__init__.py": "Lead = None\n",
            "app/api/__init__.py": "",
            "app/api/schemas.py": "",
            "app/api/views.py": "from app.services import a\n",  # the right direction: fine
            "jobs/__init__.py": "",
            "jobs/queues.py": "from app.services import a\n",
            "admin_views/__init__.py": "",
            "admin_views/base.py": "",
        },
    )
    found = problems(tmp_path)
    assert found == [
        "circle: app.services.a <-> jobs.queues",
        "circle: app.services.b <-> app.services.c",
        "against the layers: app.services.a imports jobs.queues (domain code must not reach up into the job layer)",
        "against the layers: app.services.d imports admin_views.base (domain code must not know the admin)",
        "against the layers: app.services.d imports app.api.schemas (domain code must not know the HTTP API)",
        "against the layers: app.services.files.pure imports app.models (files/ builds files from plain values)",
        "against the layers: app.services.files.pure imports flask (files/ knows no Flask)",
    ]


def test_every_job_the_domain_enqueues_exists():
    """Services name jobs by dotted path (no import of jobs/): each must resolve to a function."""
    for path in queueing.JOBS:
        module, _, name = path.rpartition(".")
        assert callable(getattr(importlib.import_module(module), name)), path


def test_the_file_builder_loads_without_the_database():
    """app.services.files is pure: importing it (all of it) loads no model, no SQLAlchemy."""
    code = (
        "import sys, app.services.files; "
        "print(sorted(m for m in ('app.models', 'app.extensions', 'sqlalchemy') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_the_worker_loads_what_its_jobs_need_before_it_forks():
    """Importing the worker loads the job modules and the send path once, so each forked work
    horse starts warm; the S3 client stack stays out until an S3 feed needs it."""
    code = "import sys, jobs.worker; print(' '.join(sorted(m for m in sys.modules if m.startswith(('app.', 'jobs.')))))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    loaded = set(out.stdout.split())
    for module in (
        "jobs.send",
        "jobs.tick",
        "app.services.pipeline",
        "app.services.sending",
        "app.services.ticks",
        "app.services.storage",
        "app.services.lead_records",
        "app.services.credentials",
        "app.services.transports.sftp",
        "app.services.transports.ftp",
        "app.services.transports.email",
        "app.services.transports.local",
    ):
        assert module in loaded, module
    assert "app.services.transports.s3" not in loaded
