"""File names from the integration's template: tokens, a time zone, and nothing unsafe."""

from __future__ import annotations

import re
import string
import unicodedata
from datetime import UTC, datetime
from typing import Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from app.errors import ValidationError
from app.services.format_specs import spec_problem

ID_TOKENS = ("advertiser_id", "campaign_id", "integration_id", "batch_id")
TOKENS = (*ID_TOKENS, "label", "sent_at")
DEFAULT_SENT_AT_FORMAT = "%Y%m%d_%H%M%S"
MAX_TEMPLATE = 300
# The stem stays well under the 255-byte limit of common file systems and servers.
MAX_STEM = 180
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_SAMPLE = {
    "advertiser_id": 1,
    "campaign_id": 2,
    "integration_id": 3,
    "batch_id": 4,
    "label": "label",
    "sent_at": datetime(2026, 1, 31, 23, 59, 58, tzinfo=UTC),
}


class NameSettings(Protocol):
    """What naming needs of a FileSettings (settings.py imports this module, not the reverse)."""

    @property
    def name_template(self) -> str: ...

    @property
    def extension(self) -> str: ...

    @property
    def inner_extension(self) -> str: ...


def template_errors(template: str) -> list[str]:
    """Problems with a name template, as messages; empty when it is usable."""
    if not isinstance(template, str) or not template.strip():
        return ["must not be empty"]
    if len(template) > MAX_TEMPLATE:
        return [f"at most {MAX_TEMPLATE} characters"]
    try:
        parts = list(string.Formatter().parse(template))
    except ValueError as exc:  # unbalanced braces
        return [f"bad braces: {exc}"]
    problems = []
    for _literal, name, spec, conversion in parts:
        if name is None:
            continue
        # Exact names only: "{sent_at.year}" or "{label[0]}" would reach into objects.
        if name not in TOKENS:
            problems.append(f"unknown token {{{name}}}; use {', '.join('{' + t + '}' for t in TOKENS)}")
            continue
        if conversion:
            problems.append(f"{{{name}}}: conversions like !{conversion} are not supported")
        elif spec and "{" in spec:
            problems.append(f"{{{name}}}: nested fields are not supported")
        elif spec and spec_problem(spec):
            problems.append(f"{{{name}}}: {spec_problem(spec)}")
        elif spec and name != "sent_at":
            try:
                format(_SAMPLE[name], spec)
            except (ValueError, TypeError):
                problems.append(f"{{{name}}}: bad format spec {spec!r}")
    if not problems:
        try:
            _render(template, _SAMPLE)
        except (ValueError, TypeError) as exc:
            problems.append(f"cannot be rendered: {exc}")
    return problems


def validate_name_template(template: str) -> str:
    """Return the template, or raise ValidationError naming what is wrong with it."""
    problems = template_errors(template)
    if problems:
        raise ValidationError("invalid file name template", {"name_template": problems})
    return template


def slugify(text: str) -> str:
    """Lower-case ASCII words joined by dashes ("Spring Sale ä" -> "spring-sale-a")."""
    ascii_text = unicodedata.normalize("NFKD", text or "").encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^a-z0-9]+", "-", ascii_text.lower()).strip("-")


def safe_name(stem: str) -> str:
    """A file name stem with no path separators, no leading dots and a plain charset."""
    cleaned = _UNSAFE.sub("_", stem)
    cleaned = re.sub(r"\.{2,}", ".", cleaned).lstrip("._-")[:MAX_STEM].rstrip("._-")
    return cleaned or "leads"


def render_file_name(
    settings: NameSettings,
    *,
    advertiser_id: int,
    campaign_id: int,
    integration_id: int,
    batch_id: int,
    label: str,
    sent_at: datetime,
    timezone: str = "UTC",
) -> str:
    """The file's name: the template rendered, made safe, with the format's extension."""
    try:
        zone = ZoneInfo(timezone or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        zone = ZoneInfo("UTC")  # a schedule is validated on save; never fail a send over a name
    if sent_at.tzinfo is None:
        raise ValueError("sent_at must be timezone-aware")
    values = {
        "advertiser_id": advertiser_id,
        "campaign_id": campaign_id,
        "integration_id": integration_id,
        "batch_id": batch_id,
        "label": slugify(label),
        "sent_at": sent_at.astimezone(zone),
    }
    stem = _render(settings.name_template, values)
    # A template that already ends in the extension should not get it twice.
    for ext in (settings.extension, settings.inner_extension):
        if stem.lower().endswith(ext):
            stem = stem[: -len(ext)]
            break
    return safe_name(stem) + settings.extension


def inner_file_name(file_name: str) -> str:
    """The name of the uncompressed file inside a .zip (or behind a .gz), PGP suffix removed."""
    for suffix in (".asc", ".pgp"):
        if file_name.endswith(suffix):
            file_name = file_name[: -len(suffix)]
            break
    for suffix in (".zip", ".gz"):
        if file_name.endswith(suffix):
            return file_name[: -len(suffix)]
    return file_name


def _render(template: str, values: dict) -> str:
    out = []
    for literal, name, spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is None:
            continue
        value = values[name]
        if name == "sent_at":
            out.append(value.strftime(spec or DEFAULT_SENT_AT_FORMAT))
        else:
            out.append(format(value, spec or ""))
    return "".join(out)
