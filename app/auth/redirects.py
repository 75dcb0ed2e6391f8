"""Where a `next` or `url` parameter may send someone: only back to this site."""

from __future__ import annotations

import unicodedata
from urllib.parse import urlsplit


def is_local_path(target: str | None) -> bool:
    """True for a path on this site: "/x", never "//host", "/\\host", a scheme or a control character.

    Browsers read a backslash as a slash and drop tabs and newlines from URLs, so
    "/\\evil.example" and "/\\t/evil.example" lead to another site.
    """
    if not target or not target.startswith("/") or "\\" in target:
        return False
    if any(unicodedata.category(ch).startswith("C") for ch in target):
        return False
    parts = urlsplit(target)
    return not target.startswith("//") and not parts.scheme and not parts.netloc
