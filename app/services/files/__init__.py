"""Lead files, pure code only: settings, field mapping, streaming writers, names, preview pages.

Nothing here reads the database or knows Flask: records come in as LeadRecords. The
engine builds a file with `app.services.lead_records.iter_batch_records` + `write_file`
(or `app.services.storage.build_and_store`); the View pages use
`app.services.lead_records.preview_*`, which lay out a page with `build_preview`.
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
from app.services.files.preview import Preview, PreviewRow, build_preview, check_paging
from app.services.files.settings import FileSettings
from app.services.files.writer import write_file

__all__ = [
    "METADATA_SOURCES",
    "FileSettings",
    "LeadRecord",
    "Preview",
    "PreviewRow",
    "build_preview",
    "cell",
    "cell_text",
    "check_paging",
    "format_datetime",
    "headers",
    "inner_file_name",
    "neutralise",
    "render_file_name",
    "row_builder",
    "slugify",
    "validate_mapping",
    "validate_name_template",
    "write_file",
]
