"""JSON in, strictly: no NaN/Infinity, no number beyond a double's range, no lone surrogate.

Python's json module accepts `NaN`, `Infinity` and `-Infinity` (not JSON at all), turns
`1e400` into infinity and keeps `"\\ud800"` as a lone UTF-16 surrogate: none of these can be
stored as JSON by PostgreSQL, encoded as UTF-8 or written to a file, so they are refused at
the door with a 422 naming the field. Used by the app's JSON provider (every request body),
the API's argument parser, the lead intake service and the admin's JSON form fields.
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

from flask.json.provider import DefaultJSONProvider

from app.errors import ValidationError

_SURROGATE = re.compile("[\ud800-\udfff]")
# Text that could hold a refused value: NaN/Infinity, a surrogate escape, a 3-digit exponent,
# a 309-digit number. Most bodies have none of these, and skip the walk over every value.
_SUSPECT = re.compile(r"NaN|Infinity|\\u[dD][89a-fA-F]|[eE][+-]?\d{3}|\d{309}")
_MAX_FLOAT = sys.float_info.max
NOT_FINITE = "must be a finite number (NaN, Infinity and numbers beyond ±1.8e308 are not accepted)"
SURROGATE = "must not contain a lone UTF-16 surrogate (\\ud800-\\udfff)"
MAX_REPORTED = 50  # enough to act on; more would only bloat the reply


def problems(value: Any, path: str = "") -> dict[str, list[str]]:
    """Each field (dotted path, list items by index) holding a value JSON cannot carry safely."""
    found: dict[str, list[str]] = {}
    stack: list[tuple[str, Any]] = [(path, value)]
    while stack and len(found) < MAX_REPORTED:
        where, item = stack.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, float):
            if item != item or item in (float("inf"), float("-inf")):
                found[where or "_schema"] = [NOT_FINITE]
        elif isinstance(item, int):
            if abs(item) > _MAX_FLOAT:
                found[where or "_schema"] = [NOT_FINITE]
        elif isinstance(item, str):
            if _SURROGATE.search(item):
                found[where or "_schema"] = [SURROGATE]
        elif isinstance(item, dict):
            for key, child in reversed(list(item.items())):
                name = _SURROGATE.sub("\ufffd", str(key))
                child_path = f"{where}.{name}" if where else name
                if isinstance(key, str) and _SURROGATE.search(key):
                    found[child_path] = ["the key " + SURROGATE]
                    continue
                stack.append((child_path, child))
        elif isinstance(item, list | tuple):
            stack.extend((f"{where}.{i}" if where else str(i), child) for i, child in reversed(list(enumerate(item))))
    return found


def check(value: Any, path: str = "") -> Any:
    """`value` itself, or ValidationError naming every field that holds a value JSON cannot carry."""
    found = problems(value, path)
    if found:
        raise ValidationError("invalid values in the JSON body", found)
    return value


def loads(data: str | bytes | bytearray, **kwargs: Any) -> Any:
    """json.loads, then `check`: malformed JSON raises ValueError as before, bad values a 422."""
    if isinstance(data, bytes | bytearray):
        try:
            data = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            # A non-empty doc: webargs reads an empty one as "no body", which a PATCH takes as {}.
            text = bytes(data).decode("utf-8", "replace")
            raise json.JSONDecodeError(f"not UTF-8: {exc.reason}", doc=text, pos=exc.start) from exc
    value = json.loads(data, **kwargs)
    return check(value) if _SUSPECT.search(data) else value


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON provider: request.get_json() refuses what `check` refuses (a 422)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)
