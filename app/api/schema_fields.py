"""Request field types whose OpenAPI description is exactly the check they run.

Each constraint is a marshmallow validator that apispec turns into the document
(Length -> minLength/maxLength, OneOf -> enum, Range -> minimum/maximum, Pattern ->
pattern), so the document and the check cannot drift apart. Patterns are written for
both engines: the document's readers use ECMA-262 regexes, the server Python's `re`,
so they avoid `.`, `\\s` and `$` (which differ between the two) and list characters
explicitly; the server matches the whole value (fullmatch), as ECMA's `^...$` does.
"""

from __future__ import annotations

import re
import sys
from datetime import UTC, datetime

from marshmallow import ValidationError, fields, validate

MAX_ID = 2**31 - 1


def _char_class(chars: str) -> str:
    return "".join(f"\\u{ord(c):04x}" for c in chars)


# What str.strip() removes: the server trims these before checking a value is not blank.
_BLANK = "".join(chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace())
BLANK = _char_class(_BLANK)
BLANK_IN_LINE = _char_class(_BLANK.replace("\r", "").replace("\n", ""))
# No column can hold NUL; single-line settings refuse CR and LF too.
NUL = "\\u0000"
EOL = "\\r\\n"

ANY_TEXT = f"[^{NUL}]*"
NON_BLANK_TEXT = f"[^{NUL}]*[^{BLANK}{NUL}][^{NUL}]*"
LINE = f"[^{EOL}{NUL}]*"
NON_BLANK_LINE = f"[^{EOL}{NUL}]*[^{BLANK}{NUL}][^{EOL}{NUL}]*"


class Pattern(validate.Regexp):
    """The whole value must match `body`; documented as `^(?:body)$`."""

    def __init__(self, body: str, error: str) -> None:
        super().__init__(f"^(?:{body})$", error=error)
        self.body = body

    def __call__(self, value):
        if not isinstance(value, str) or self.regex.fullmatch(value) is None:
            raise ValidationError(self._format_error(value))
        return value


def text(
    pattern: str = ANY_TEXT, *, error: str = "must not contain NUL characters", min_length=None, max_length=None, **kw
):
    """A string matching `pattern` (by default: anything but NUL), with length limits if given."""
    checks = [Pattern(pattern, error)]
    if min_length is not None or max_length is not None:
        checks.append(validate.Length(min=min_length, max=max_length))
    return fields.String(validate=checks, **kw)


def name(max_length: int = 200, **kw) -> fields.String:
    """A name: not blank once trimmed, no NUL."""
    checks = [Pattern(NON_BLANK_TEXT, "must not be blank or contain NUL characters"), validate.Length(max=max_length)]
    return fields.String(validate=checks, **kw)


def line(*, required: bool, max_length: int, **kw) -> fields.String:
    """A single-line delivery setting. Optional ones may be null or blank: the default applies."""
    if required:
        checks = [Pattern(NON_BLANK_LINE, "required: a single line, not blank"), validate.Length(max=max_length)]
        return fields.String(required=True, validate=checks, **kw)
    checks = [Pattern(LINE, "must be a single line"), validate.Length(max=max_length)]
    return fields.String(allow_none=True, validate=checks, **kw)


def Id(*, strict: bool = True, **kwargs) -> fields.Integer:
    """An object id. Bodies take JSON numbers only; paths and query strings (strict=False) digits."""
    return fields.Integer(strict=strict, validate=validate.Range(min=1, max=MAX_ID), **kwargs)


def Int(low: int, high: int, **kwargs) -> fields.Integer:
    return fields.Integer(strict=True, validate=validate.Range(min=low, max=high), **kwargs)


def Bool(**kwargs) -> fields.Boolean:
    """true or false, nothing else (marshmallow would also take "yes", 1, "on", ...)."""
    return fields.Boolean(truthy={True}, falsy={False}, **kwargs)


class NullOnly(fields.Field):
    """A key that may be present only as null (credentialId of methods that take no credential)."""

    def __init__(self, **kwargs) -> None:
        super().__init__(allow_none=True, metadata={"enum": [None], **kwargs.pop("metadata", {})}, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        raise ValidationError("this delivery method takes no credential: omit it or send null")


class UtcDateTime(fields.DateTime):
    """ISO 8601 date-time; no offset means UTC; returned aware, in UTC."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("not a date-time")
        text = value.strip().upper().replace(" ", "T")
        # A leap second is valid RFC 3339 but not a Python time; one second early is close enough.
        text = re.sub(r"(T\d\d:\d\d):60", r"\1:59", text)
        text = re.sub(r"(\.\d{6})\d+", r"\1", text)  # Python keeps microseconds at most
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise ValidationError("not an ISO 8601 date-time, e.g. 2026-01-31T00:00:00Z") from None
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
