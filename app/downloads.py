"""GET /files/<token>: the stored file behind a signed e-mail download link."""

from __future__ import annotations

import mimetypes

from flask import Blueprint, Flask, Response, request, stream_with_context

from app.errors import NotFound
from app.extensions import db
from app.models import SentBatch
from app.services import audit, download_links

bp = Blueprint("downloads", __name__)
CHUNK = 256 * 1024


def _storage_key(batch: SentBatch) -> str | None:
    if batch.storage_key:
        return batch.storage_key
    # A resend delivers its original's file.
    original = db.session.get(SentBatch, batch.resend_of_id) if batch.resend_of_id else None
    return original.storage_key if original else None


@bp.get("/files/<token>")
def download(token: str) -> Response:
    """Stream the file; the signed token is the only credential needed."""
    from app.services.storage import get_store

    batch = db.session.get(SentBatch, download_links.batch_id_for(token))
    key = _storage_key(batch) if batch else None
    if batch is None or key is None:
        raise NotFound("the file behind this link is no longer stored")
    if batch.sha256 and request.if_none_match.contains(batch.sha256):
        return Response(status=304, headers={"ETag": f'"{batch.sha256}"'})
    store = get_store()
    try:
        size = store.size(key)
        fh = store.open(key)
    except (FileNotFoundError, ValueError):
        raise NotFound("the file behind this link is no longer stored") from None
    audit.record(
        "download",
        "sent_batch",
        batch.id,
        enterprise_id=batch.enterprise_id,
        details={"via": "email_link", "remote_addr": request.remote_addr},
        commit=True,
    )
    file_name = batch.file_name or f"batch-{batch.id}"

    def chunks():
        with fh:
            while data := fh.read(CHUNK):
                yield data

    response = Response(
        stream_with_context(chunks()),
        mimetype=mimetypes.guess_type(file_name)[0] or "application/octet-stream",
        direct_passthrough=True,
    )
    response.headers["Content-Disposition"] = _disposition(file_name)
    response.headers["Content-Length"] = str(size)
    if batch.sha256:
        response.headers["ETag"] = f'"{batch.sha256}"'
    response.headers["Cache-Control"] = "private, no-store"
    return response


def _disposition(file_name: str) -> str:
    from urllib.parse import quote

    ascii_name = file_name.encode("ascii", "replace").decode().replace('"', "").replace("?", "_")
    return f"attachment; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(file_name)}"


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
