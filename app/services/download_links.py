"""Signed, expiring download links for files too large to attach to an e-mail.

The token is the whole authorisation: it names one batch, is signed with
SECRET_KEY (itsdangerous) and expires after DOWNLOAD_LINK_MAX_AGE seconds.
"""

from __future__ import annotations

from flask import current_app
from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer

from app.errors import DomainError, NotFound

SALT = "batch-manager.download-link.v1"
DEFAULT_MAX_AGE = 7 * 24 * 3600


class LinkExpired(DomainError):
    status = 410
    code = "link_expired"


def max_age() -> int:
    """How long a link stays valid, in seconds."""
    return int(current_app.config.get("DOWNLOAD_LINK_MAX_AGE") or DEFAULT_MAX_AGE)


def _serializer() -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(current_app.config["SECRET_KEY"], salt=SALT)


def make_token(batch_id: int) -> str:
    return _serializer().dumps({"b": int(batch_id)})


def make_link(batch_id: int) -> str:
    """The absolute URL (PUBLIC_BASE_URL + /files/<token>) that downloads one batch's file."""
    base = str(current_app.config.get("PUBLIC_BASE_URL") or "").rstrip("/")
    return f"{base}/files/{make_token(batch_id)}"


def batch_id_for(token: str) -> int:
    """The batch a token names; NotFound if forged or garbled, LinkExpired if too old."""
    try:
        payload = _serializer().loads(token, max_age=max_age())
    except SignatureExpired:
        raise LinkExpired("this download link has expired; ask for the file to be sent again") from None
    except BadSignature:
        raise NotFound("no such download link") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("b"), int):
        raise NotFound("no such download link")
    return payload["b"]
