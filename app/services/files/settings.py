"""File settings: how a lead file is laid out, frozen so a batch can snapshot them."""

from __future__ import annotations

import codecs
from dataclasses import asdict, dataclass, fields
from typing import Any

from app.errors import ValidationError
from app.file_options import COMPRESSIONS, DEFAULT_NAME_TEMPLATE, FILE_FORMATS, LINE_ENDINGS, PROTECTIONS, QUOTING
from app.services.files.naming import template_errors

# The delimiter a format implies; csv takes the configured one.
FORMAT_DELIMITERS = {"tsv": "\t", "psv": "|"}
# Characters that cannot separate fields without breaking RFC 4180 parsing.
_BAD_DELIMITERS = {'"', "\r", "\n", "'"}


@dataclass(frozen=True)
class FileSettings:
    """Everything that decides the bytes of a file, apart from the leads and the mapping."""

    format: str = "csv"
    delimiter: str = ","
    header: bool = True
    quoting: str = "minimal"
    line_ending: str = "crlf"
    encoding: str = "utf-8"
    name_template: str = DEFAULT_NAME_TEMPLATE
    compression: str = "none"
    protection: str = "none"
    pgp_armor: bool = True

    def __post_init__(self) -> None:
        # tsv and psv are defined by their delimiter; keep the snapshot honest.
        implied = FORMAT_DELIMITERS.get(self.format)
        if implied is not None and self.delimiter != implied:
            object.__setattr__(self, "delimiter", implied)
        errors = _check(self)
        if errors:
            raise ValidationError("invalid file settings", errors)

    @classmethod
    def from_integration(cls, integration: Any) -> FileSettings:
        """The current settings of a BatchCsvIntegration (or anything with the same columns)."""
        return cls(
            format=integration.file_format,
            delimiter=integration.delimiter,
            header=integration.header,
            quoting=integration.quoting,
            line_ending=integration.line_ending,
            encoding=integration.encoding,
            name_template=integration.name_template,
            compression=integration.compression,
            protection=integration.protection or "none",
            pgp_armor=bool(integration.pgp_armor),
        )

    @classmethod
    def from_snapshot(cls, data: dict | None) -> FileSettings:
        """Settings from a SentBatch.file_settings snapshot; missing keys take the defaults."""
        data = data or {}
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})

    def to_snapshot(self) -> dict:
        """A JSON-safe dict that from_snapshot turns back into equal settings."""
        return asdict(self)

    @property
    def extension(self) -> str:
        """The file name extension, compression and protection included (".csv", ".tsv.gz.asc")."""
        # An AES zip is the compression: the file inside is the plain format.
        compression = "zip" if self.protection == "zip-aes" else self.compression
        extension = "." + self.format + {"none": "", "gzip": ".gz", "zip": ".zip"}[compression]
        if self.protection == "pgp":
            extension += ".asc" if self.pgp_armor else ".pgp"
        return extension

    @property
    def inner_extension(self) -> str:
        """The extension of the uncompressed file (the zip member, the gzip payload)."""
        return "." + self.format


def _check(s: FileSettings) -> dict[str, list[str]]:
    """Errors keyed by setting name; empty when the settings are usable."""
    errors: dict[str, list[str]] = {}
    if s.format not in FILE_FORMATS:
        errors["format"] = [f"must be one of {', '.join(FILE_FORMATS)}"]
    if not isinstance(s.delimiter, str) or len(s.delimiter) != 1 or s.delimiter in _BAD_DELIMITERS:
        errors["delimiter"] = ["must be one character, not a quote or a line break"]
    elif s.delimiter.isalnum():
        errors["delimiter"] = ["must not be a letter or a digit"]
    if not isinstance(s.header, bool):
        errors["header"] = ["must be true or false"]
    if s.quoting not in QUOTING:
        errors["quoting"] = [f"must be one of {', '.join(QUOTING)}"]
    if s.line_ending not in LINE_ENDINGS:
        errors["line_ending"] = [f"must be one of {', '.join(LINE_ENDINGS)}"]
    if not _is_text_encoding(s.encoding):
        errors["encoding"] = ["not a known text encoding (e.g. utf-8, utf-8-sig, latin-1, cp1252)"]
    if s.compression not in COMPRESSIONS:
        errors["compression"] = [f"must be one of {', '.join(COMPRESSIONS)}"]
    errors.update(protection_errors(s.format, s.compression, s.protection))
    if not isinstance(s.pgp_armor, bool):
        errors["pgp_armor"] = ["must be true or false"]
    if not isinstance(s.name_template, str):
        errors["name_template"] = ["must be a string"]
    else:
        problems = template_errors(s.name_template)
        if problems:
            errors["name_template"] = problems
    return errors


def protection_errors(file_format: str, compression: str, protection: str) -> dict[str, list[str]]:
    """Errors of a protection choice against the format and compression, keyed by setting."""
    if protection not in PROTECTIONS:
        return {"protection": [f"must be one of {', '.join(PROTECTIONS)}"]}
    if protection == "xlsx-password" and file_format != "xlsx":
        return {"protection": ["xlsx-password needs the xlsx format (use zip-aes or pgp for text files)"]}
    if protection in ("zip-aes", "xlsx-password") and compression != "none":
        return {"compression": [f"must be none with {protection} (the protected file is already compressed)"]}
    return {}


def _is_text_encoding(name: Any) -> bool:
    if not isinstance(name, str) or not name or len(name) > 20:
        return False
    try:
        info = codecs.lookup(name)
    except LookupError:
        return False
    # rot13, base64 and friends are codecs too, but not text encodings.
    return bool(getattr(info, "_is_text_encoding", True))
