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
# A surrogate escape in the text; the parser flags the other refused values as it meets them.
_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
_MAX_FLOAT = sys.float_info.max
_INF = float("inf")
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
    # Most bodies hold no refused value and skip the walk over every value. Whether one might
    # is learnt from the parser's own number hooks (called only for numbers, never for text in
    # strings) and a plain substring test: a regex over the whole text (NaN|Infinity|an exponent
    # of 3 digits|309 digits) took 140 ms for a 2.6 MB intake body, 5x the parse itself, and any
    # string such as "intake-1733" or "Suite-100" matched it and sent the body through the walk.
    suspect = False

    def flag_constant(name: str) -> float:  # NaN, Infinity, -Infinity
        nonlocal suspect
        suspect = True
        return float(name)

    def flag_float(text: str) -> float:
        nonlocal suspect
        number = float(text)
        if number in (_INF, -_INF):  # 1e400
            suspect = True
        return number

    def flag_int(text: str) -> int:
        nonlocal suspect
        number = int(text)
        if abs(number) > _MAX_FLOAT:
            suspect = True
        return number

    hooks = {"parse_constant": flag_constant, "parse_float": flag_float, "parse_int": flag_int}
    value = json.loads(data, **(hooks | kwargs))
    if suspect or ("\\u" in data and _SURROGATE_ESCAPE.search(data)):
        return check(value)
    return value


class StrictJSONProvider(DefaultJSONProvider):
    """The app's JSON provider: request.get_json() refuses what `check` refuses (a 422)."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return loads(s, **kwargs)
