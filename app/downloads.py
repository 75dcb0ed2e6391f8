"""Stored files over HTTP: one response for the API, the admin and GET /files/<token>.

Every door answers alike: Content-Disposition from one helper, ETag = the file's sha256,
Last-Modified, Range and If-None-Match, no caching by shared caches, and the same
audit event for each 200/206 (app.services.downloads). 404 for an unknown or another
enterprise's batch (the callers' lookups), 409 for a file not stored yet, 410 for one
whose stored bytes are gone.
"""

from __future__ import annotations

from urllib.parse import quote

from flask import Blueprint, Flask, Response, request, send_file

from app.errors import NotFound
from app.extensions import db
from app.models import SentBatch, User
from app.services import download_links
from app.services.downloads import StoredDownload, open_stored, record_download
from app.services.dry_run import PreviewFile

bp = Blueprint("downloads", __name__)

MIME_TYPES = {
    ".csv": "text/csv",
    ".tsv": "text/tab-separated-values",
    ".psv": "text/plain",
    ".xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ".gz": "application/gzip",
    ".zip": "application/zip",
    # Protected files (app.services.protection): OpenPGP messages, armoured or binary.
    ".asc": "application/pgp-encrypted",
    ".pgp": "application/pgp-encrypted",
}


def content_disposition(name: str) -> str:
    """RFC 6266: an ASCII fallback `filename` plus the exact name as UTF-8 `filename*`."""
    fallback = "".join(c if 32 <= ord(c) < 127 and c not in '"\\;' else "_" for c in name) or "download"
    return f"attachment; filename=\"{fallback}\"; filename*=UTF-8''{quote(name, safe='')}"


def send_stored(batch: SentBatch, via: str, user: User | None = None) -> Response:
    """The batch's stored file as an attachment; audited when bytes go out (200 or 206)."""
    stored = open_stored(batch)
    try:
        response = _response(stored)
    except BaseException:  # e.g. 416 for a Range beyond the end: no bytes go out
        stored.stream.close()
        raise
    if response.status_code in (200, 206):
        record_download(batch, via, user=user, byte_range=request.headers.get("Range"), remote_addr=request.remote_addr)
    else:
        stored.stream.close()
    return response


def mimetype_for(file_name: str) -> str:
    """The media type of a lead file from its name's extension."""
    return next((m for ext, m in MIME_TYPES.items() if file_name.lower().endswith(ext)), "application/octet-stream")


def send_preview(preview: PreviewFile) -> Response:
    """A dry-run file (app.services.dry_run) as an attachment under the name a real send would give it."""
    response = send_file(
        preview.stream,
        mimetype=mimetype_for(preview.file_name),
        as_attachment=True,
        download_name=preview.file_name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    response.content_length = preview.size
    response.headers["Content-Disposition"] = content_disposition(preview.file_name)
    # Built for this request from leads that change: nobody should keep or reuse it.
    response.headers["Cache-Control"] = "private, no-store"
    response.headers["X-Lead-Count"] = str(preview.lead_count)
    response.headers["X-Pending-Count"] = str(preview.pending_count)
    return response


def _response(stored: StoredDownload) -> Response:
    mimetype = mimetype_for(stored.file_name)
    response = send_file(
        stored.stream,
        mimetype=mimetype,
        as_attachment=True,
        download_name=stored.file_name,
        conditional=False,
        etag=False,
        max_age=0,
    )
    # werkzeug only knows a file object's size for real paths; the store may be S3, so give
    # it the size and let make_conditional answer Range and If-None-Match.
    response.content_length = stored.size
    response.set_etag(stored.sha256)
    response.last_modified = stored.stored_at
    response = response.make_conditional(request.environ, accept_ranges=True, complete_length=stored.size)
    response.headers["Content-Disposition"] = content_disposition(stored.file_name)
    # Lead data: a browser may keep it, no shared cache may.
    response.headers["Cache-Control"] = "private, no-cache"
    return response


@bp.get("/files/<token>")
def download(token: str) -> Response:
    """The file behind a signed e-mail link; the token is the only credential needed."""
    batch = db.session.get(SentBatch, download_links.batch_id_for(token))
    if batch is None:
        raise NotFound("no such file")
    return send_stored(batch, "email_link")


def init_app(app: Flask) -> None:
    app.register_blueprint(bp)
