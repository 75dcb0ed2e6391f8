"""The search keys of a lead: its email and phone, normalised so a trace is an exact index match.

The same rules exist twice, once here (intake, searches) and once as SQL (the data migration
of rows stored before the keys existed); tests/test_lead_trace.py checks that both agree.
They are deliberately simple enough to spell in SQL that SQLite and PostgreSQL both run:
- email: spaces around it dropped, ASCII letters lower-cased (as SQLite's lower() does);
- phone: spaces, dashes, dots and parentheses dropped ("+44 (20) 7946-0958" -> "+442079460958").
A value too long to be an address or a number is not indexed (btree entries have a size limit).
"""

from __future__ import annotations

from typing import Any

EMAIL_FIELD = "email"
PHONE_FIELD = "phone"
MAX_EMAIL = 320
MAX_PHONE = 64
PHONE_NOISE = " -.()"
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")
_PHONE_DROP = str.maketrans("", "", PHONE_NOISE)


def _text(value: Any) -> str | None:
    # Numbers are stored as the JSON text the SQL side reads; booleans and objects are no key.
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, str):
        return value
    if isinstance(value, int):
        return str(value)
    return None


def email_key(value: Any) -> str | None:
    """The email as it is indexed and searched, or None."""
    text = _text(value)
    if text is None:
        return None
    key = text.strip(" ").translate(_ASCII_LOWER)
    return key if 0 < len(key) <= MAX_EMAIL else None


def phone_key(value: Any) -> str | None:
    """The phone number as it is indexed and searched, or None."""
    text = _text(value)
    if text is None:
        return None
    key = text.translate(_PHONE_DROP)
    return key if 0 < len(key) <= MAX_PHONE else None


def keys_of(fields: dict) -> tuple[str | None, str | None]:
    """(email key, phone key) of a lead's field values."""
    return email_key(fields.get(EMAIL_FIELD)), phone_key(fields.get(PHONE_FIELD))


def backfill_sql(dialect: str) -> str:
    """One UPDATE filling both keys of every stored lead, by the rules above."""
    if dialect == "postgresql":
        email = f"fields->>'{EMAIL_FIELD}'"
        phone = f"fields->>'{PHONE_FIELD}'"
        # translate() lower-cases ASCII only, like SQLite's lower() and email_key().
        email_expr = f"translate(btrim({email}, ' '), 'ABCDEFGHIJKLMNOPQRSTUVWXYZ', 'abcdefghijklmnopqrstuvwxyz')"
        typed = "jsonb_typeof(fields->'{name}') IN ('string', 'number')"
        # A JSON number with a fraction or exponent is not a phone number; str(int) matches ->> text.
        number_ok = "(jsonb_typeof(fields->'{name}') = 'string' OR (fields->>'{name}') ~ '^-?[0-9]+$')"
    else:
        email = f"json_extract(fields, '$.{EMAIL_FIELD}')"
        phone = f"json_extract(fields, '$.{PHONE_FIELD}')"
        email_expr = f"lower(trim({email}, ' '))"
        typed = "json_type(fields, '$.{name}') IN ('text', 'integer')"
        number_ok = "1 = 1"
    phone_expr = phone
    for char in PHONE_NOISE:
        phone_expr = f"replace({phone_expr}, '{char}', '')"

    def keyed(expr: str, name: str, limit: int) -> str:
        guard = typed.format(name=name) + " AND " + number_ok.format(name=name)
        return f"CASE WHEN {guard} AND length({expr}) BETWEEN 1 AND {limit} THEN {expr} END"

    # Built from this module's constants only, never from input.
    email_sql, phone_sql = keyed(email_expr, EMAIL_FIELD, MAX_EMAIL), keyed(phone_expr, PHONE_FIELD, MAX_PHONE)
    return f"UPDATE leads SET email_key = {email_sql}, phone_key = {phone_sql}"  # noqa: S608
