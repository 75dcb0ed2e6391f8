"""batch_integrations.delivery: local folders become relative to the enterprise's folder

Local deliveries now go to <LOCAL_DELIVERY_ROOT>/<enterprise id>/<folder> and the folder
setting must be relative (app/services/transports/local.py). Settings saved before held an
absolute path under LOCAL_DELIVERY_ROOT (the demo seed: <root>/demo/integration-N) or a path
relative to the shared root. This rewrites each to the same folder relative to the
enterprise's own: `<root>/demo/integration-3` -> `demo/integration-3`; an absolute path that
is not under the root keeps its last part; `..` is resolved. Files delivered earlier stay
where they are; the next delivery goes to the enterprise's folder. Downgrade keeps the
relative folders, which the earlier code also accepts (relative to the shared root).

Revision ID: 20261130_60_local_folders
Revises: 20261130_50_lead_trace
Create Date: 2026-11-30 22:55:00
"""

import json
import os
from pathlib import PurePosixPath

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "20261130_60_local_folders"
down_revision = "20261130_50_lead_trace"
branch_labels = None
depends_on = None


def _root() -> str | None:
    """The configured LOCAL_DELIVERY_ROOT (`flask db upgrade` runs in the app), else the environment's."""
    try:
        from flask import current_app

        return current_app.config.get("LOCAL_DELIVERY_ROOT")
    except RuntimeError:  # no app context: alembic run on its own
        return os.environ.get("LOCAL_DELIVERY_ROOT")


def relative_folder(directory: str, root: str | None) -> str:
    path = PurePosixPath(directory)
    if path.is_absolute():
        roots = {os.path.normpath(root), os.path.realpath(root)} if root else set()
        for candidate in roots:
            normalised = PurePosixPath(os.path.normpath(directory))
            if normalised == PurePosixPath(candidate) or PurePosixPath(candidate) in normalised.parents:
                path = normalised.relative_to(candidate)
                break
        else:
            path = PurePosixPath(PurePosixPath(os.path.normpath(directory)).name)
    parts: list[str] = []
    for part in path.parts:
        if part == "..":
            if parts:
                parts.pop()
        elif part not in (".", "", "/"):
            parts.append(part)
    return "/".join(parts) or "."


def upgrade():
    table = sa.table(
        "batch_integrations",
        sa.column("id", sa.Integer),
        sa.column("delivery_method", sa.String),
        sa.column("delivery", sa.JSON().with_variant(postgresql.JSONB(), "postgresql")),
    )
    bind = op.get_bind()
    root = _root()
    rows = bind.execute(sa.select(table.c.id, table.c.delivery).where(table.c.delivery_method == "local")).all()
    for row_id, raw in rows:
        delivery = json.loads(raw) if isinstance(raw, str) else raw  # a JSON column may hand back text
        directory = delivery.get("directory") if isinstance(delivery, dict) else None
        if not isinstance(directory, str):
            continue
        folder = relative_folder(directory, root)
        if folder != directory:
            bind.execute(
                table.update().where(table.c.id == row_id).values(delivery={**delivery, "directory": folder})
            )


def downgrade():
    pass
