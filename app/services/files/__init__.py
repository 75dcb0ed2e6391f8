"""Lead files: settings, field mapping, streaming writers, names, records and previews.

The engine builds a file with `iter_batch_records` + `write_file` (or
`app.services.storage.build_and_store`); the View pages use `preview_*`.
"""

from app.services.files.mapping import (
    METADATA_SOURCES,
    LeadRecord,
    cell,
    cell_text,
    format_datetime,
    headers,
    neutralise,
    row_builder,
    validate_mapping,
)
from app.services.files.naming import inner_file_name, render_file_name, slugify, validate_name_template
from app.services.files.preview import Preview, PreviewRow, preview_pending, preview_sent
from app.services.files.records import iter_batch_records, iter_pending_records
from app.services.files.settings import FileSettings
from app.services.files.writer import write_file

__all__ = [
    "METADATA_SOURCES",
    "FileSettings",
    "LeadRecord",
    "Preview",
    "PreviewRow",
    "cell",
    "cell_text",
    "format_datetime",
    "headers",
    "inner_file_name",
    "iter_batch_records",
    "iter_pending_records",
    "neutralise",
    "preview_pending",
    "preview_sent",
    "render_file_name",
    "row_builder",
    "slugify",
    "validate_mapping",
    "validate_name_template",
    "write_file",
]
