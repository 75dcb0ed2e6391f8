"""The values a lead file's layout can take.

Plain constants with no imports: the models (column defaults), the pure file builder
(app.services.files), the API schemas and the admin form all read them from here, so
files/ needs nothing from the models to check its settings.
"""

FILE_FORMATS = ("csv", "tsv", "psv", "xlsx")
COMPRESSIONS = ("none", "gzip", "zip")
LINE_ENDINGS = ("crlf", "lf")
QUOTING = ("minimal", "all", "nonnumeric")
# How a file is locked for its recipient (README "Protected files").
PROTECTIONS = ("none", "zip-aes", "xlsx-password", "pgp")
# The credential kind each protection reads its password or key from.
PROTECTION_KINDS = {"zip-aes": "file_password", "xlsx-password": "file_password", "pgp": "pgp_public_key"}
DEFAULT_NAME_TEMPLATE = "{label}_{batch_id}_{sent_at:%Y%m%d_%H%M%S}"
